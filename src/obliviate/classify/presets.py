"""Named presets of method defaults, selected by a task: the settings a method's
reference code uses at paper scale, distinct from the small-model defaults in each
method's dataclass (which suit the built-in CPU tasks and a user's small models).

``paper``: CIFAR-10 / ResNet-18 as the l1-sparse (OPTML-Group/Unlearn-Sparse,
README "Unlearning") and SalUn (OPTML-Group/Unlearn-Saliency, Classification/README)
commands run them. Every unlearning run there is SGD (momentum 0.9, weight decay
5e-4, batch 256; the multi-step schedule's milestones 91 and 136 are past the last
epoch, so the rate is constant), and nothing more: no small-data extension
(``min_steps=0``) and, for GA, no early stopping (the run's flags still say when it
collapsed or did not forget). Methods without a published CIFAR-10 command in
those repositories keep their own defaults, and the bench says so.
"""

from __future__ import annotations

from typing import Any

# min_steps=0: no small-data extension (a reference run is its epochs, nothing more)
# retain_budget=None, adapt_lr=False: whole retain passes at the reference's fixed learning rate.
_SGD = dict(optimizer="sgd", momentum=0.9, weight_decay=5e-4, batch_size=256, schedule="constant", min_steps=0,
            retain_budget=None, adapt_lr=False)

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "ft": _SGD | dict(epochs=10, lr=0.01),         # Unlearn-Sparse: --unlearn FT --unlearn_lr 0.01 --unlearn_epochs 10
        "ga": _SGD | dict(epochs=5, lr=1e-4, early_stop=False),  # --unlearn GA --unlearn_lr 0.0001 --unlearn_epochs 5
        "l1_sparse": _SGD | dict(epochs=10, lr=0.01),  # --unlearn FT_prune --unlearn_lr 0.01 --unlearn_epochs 10
        "rl": _SGD | dict(epochs=10, lr=0.013),        # SalUn: --unlearn RL --unlearn_epochs 10 --unlearn_lr 0.013
        "salun": _SGD | dict(epochs=10, lr=0.013),     # the same command with --mask_path (saliency mask)
    },
}

PRESET_TEXT = {"paper": "the l1-sparse / SalUn reference settings for CIFAR-10 / ResNet-18"}


def method_defaults(preset: str, method: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset's settings for ``method`` under the user's own (``given`` wins)."""
    return dict(PRESETS.get(preset, {}).get(method, {})) | dict(given or {})


def describe(preset: str, methods: list[str]) -> str:
    """One line saying which methods take the preset and which keep their own defaults."""
    if not preset:
        return ""
    covered = [m for m in methods if m in PRESETS[preset]]
    own = [m for m in methods if m not in PRESETS[preset] and m not in ("original", "retrain")]
    text = f"preset {preset!r} ({PRESET_TEXT[preset]})"
    text += f": {', '.join(covered)}" if covered else ": no method listed has one"
    if own:
        text += f"; own defaults (no published setting at this scale): {', '.join(own)}"
    return text
