"""Named presets of method defaults, selected by a task: the settings a method's
reference code uses at paper scale, distinct from the small-model defaults in each
method's dataclass (which suit the built-in CPU tasks and a user's small models).

``paper``: CIFAR-10 / ResNet-18 as the reference code runs each method.

- FT, GA, RL, SalUn, l1-sparse: the l1-sparse (OPTML-Group/Unlearn-Sparse, README
  "Unlearning") and SalUn (OPTML-Group/Unlearn-Saliency, Classification/README)
  commands. Every unlearning run there is SGD (momentum 0.9, weight decay 5e-4,
  batch 256; the multi-step schedule's milestones 91 and 136 are past the last
  epoch, so the rate is constant).
- SSD, Bad Teacher, UNSIR: the SSD authors' CIFAR / ResNet-18 full-class
  experiments (if-loops/selective-synaptic-dampening, src/forget_full_class_main.py
  and forget_full_class_strategies.py), which run SSD with its own settings and the
  other two as their authors' code does: SSD α = 10, λ = 1 on squared mini-batch
  gradients (batch 64), one update; Bad Teacher Adam lr 1e-4, 1 epoch, 30% of the
  retain set, T = 1, batch 256; UNSIR Adam lr 1e-4 for the impair and the repair
  epoch, 25 noise steps on 32 noise inputs, batch 32 (the reference repairs at batch
  128 on 500 retain images per class; obliviate repairs on the retain set at the one
  batch size).
- SCRUB: SGD lr 5e-4 (momentum 0.9, weight decay 5e-4), 3 epochs, 2 max-step epochs,
  T = 4, γ = 0.99, α = 0.001, batch 64: the SCRUB settings the SSD authors' later
  full-class baselines use for ResNet-18 (a ``scrub()`` with the signature of the
  strategies above, in forks of that repository), which agree with
  the SCRUB reference settings the field quotes (lr 5e-4, 2 max-steps, 3 epochs).

And nothing more: no small-data extension (``min_steps=0``), whole retain passes at
a fixed learning rate, for GA no early stopping and for SSD no strength search (the
run's flags still say when it collapsed, under-forgot or did not forget). Methods
without a published CIFAR-10 command in those repositories keep their own
defaults, and the bench says so.
"""

from __future__ import annotations

from typing import Any

# min_steps=0: no small-data extension (a reference run is its epochs, nothing more)
# retain_budget=None, adapt_lr=False: whole retain passes at the reference's fixed learning rate.
_ONE_PASS = dict(schedule="constant", min_steps=0, retain_budget=None, adapt_lr=False)
_SGD = _ONE_PASS | dict(optimizer="sgd", momentum=0.9, weight_decay=5e-4, batch_size=256)

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "ft": _SGD | dict(epochs=10, lr=0.01),         # Unlearn-Sparse: --unlearn FT --unlearn_lr 0.01 --unlearn_epochs 10
        "ga": _SGD | dict(epochs=5, lr=1e-4, early_stop=False),  # --unlearn GA --unlearn_lr 0.0001 --unlearn_epochs 5
        "l1_sparse": _SGD | dict(epochs=10, lr=0.01),  # --unlearn FT_prune --unlearn_lr 0.01 --unlearn_epochs 10
        "rl": _SGD | dict(epochs=10, lr=0.013),        # SalUn: --unlearn RL --unlearn_epochs 10 --unlearn_lr 0.013
        "salun": _SGD | dict(epochs=10, lr=0.013),     # the same command with --mask_path (saliency mask)
        # if-loops/selective-synaptic-dampening, forget_full_class_main.py: -b 64, alpha 10, lambda 1
        "ssd": dict(alpha=10.0, lam=1.0, importance_batch_size=64, adapt_strength=False),
        # sgda: SGD lr 5e-4, momentum 0.9, wd 5e-4, 3 epochs, msteps 2, kd_T 4 (see the docstring)
        "scrub": _SGD | dict(epochs=3, lr=5e-4, max_steps=2, temperature=4.0, gamma=0.99, alpha=0.001,
                             batch_size=64),
        # blindspot(): Adam lr 1e-4, 1 epoch, 30% of the retain set, KL temperature 1, batch 256
        "bad_teacher": _ONE_PASS | dict(optimizer="adam", epochs=1, lr=1e-4, weight_decay=0.0, batch_size=256,
                                        retain_fraction=0.3, temperature=1.0),
        # UNSIR(): noise 25 steps at batch 32, impair and repair one epoch each with Adam lr 1e-4
        "unsir": _ONE_PASS | dict(optimizer="adam", epochs=2, lr=1e-4, impair_lr=1e-4, weight_decay=0.0,
                                  batch_size=32, noise_samples=32, noise_steps=25),
    },
}

PRESET_TEXT = {"paper": "the reference settings for CIFAR-10 / ResNet-18 (l1-sparse, SalUn and SSD repositories)"}


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
