"""Language-model method defaults that scale with the model.

Each method's dataclass defaults are tuned for tofu-mini's 443k-parameter model
(lr 5e-4 to 1e-2, no warmup): applied to a 7B model they would wreck it in a few
steps. A model with at least ``REFERENCE_FROM`` parameters gets the reference
settings instead: OpenUnlearning's TOFU unlearning experiment
(``configs/experiment/unlearn/tofu/default.yaml`` over ``configs/trainer/finetune.yaml``):
lr 1e-5, 10 epochs with one of warmup, then linear decay (the Trainer's default),
weight decay 0.01, batch 8 with 4 accumulation steps (32), and each method's own
config (``configs/trainer/<Method>.yaml``) for its loss weights. The user's values
always win; the preset in use is reported (:func:`describe`).
"""

from __future__ import annotations

from typing import Any

REFERENCE_FROM = 100_000_000  # parameters

_TOFU = dict(lr=1e-5, epochs=10.0, warmup_ratio=0.1, weight_decay=0.01, batch_size=8, grad_accumulation=4,
             lr_schedule="linear")
REFERENCE: dict[str, dict[str, Any]] = {
    "ga": _TOFU,
    "grad_diff": _TOFU | dict(forget_weight=1.0, retain_weight=1.0),   # GradDiff.yaml: gamma 1, alpha 1
    "kl": _TOFU | dict(forget_weight=1.0, retain_weight=1.0),          # GradDiff with retain_loss_type KL
    "npo": _TOFU | dict(beta=0.1, forget_weight=1.0, retain_weight=1.0),  # NPO.yaml
    "simnpo": _TOFU | dict(beta=4.5, delta=0.0, forget_weight=0.125, retain_weight=1.0),  # SimNPO.yaml
    "idk_dpo": _TOFU | dict(beta=0.1, forget_weight=1.0, retain_weight=1.0),  # DPO.yaml
    "wga": _TOFU | dict(epochs=5.0, beta=1.0, forget_weight=1.0, retain_weight=1.0),  # WGA.yaml
    "undial": _TOFU | dict(lr=1e-4, beta=10.0, retain_weight=0.0),     # UNDIAL.yaml: no retain term
    "rmu": _TOFU | dict(layer=7, steering=2.0),                        # RMU.yaml
    # not in OpenUnlearning: the shared TOFU trainer settings, and each reference's own where it gives them
    "task_vector": _TOFU,
    "flat": _TOFU | dict(epochs=5.0, batch_size=16, grad_accumulation=4, divergence="tv"),  # FLAT's forget.yaml
    "mudman": dict(steps=300, unlearning_rate=1e-1, adversary_lr=1e-3, retaining_rate=1e-3, retain_momentum=0.9,
                   fork_every=32, batch_size=16),  # the reference's example (Llama-3.2-1B); its own loop, no Trainer
    "guardrail": {},  # no training: nothing scales with the model
    "eco": {},  # no training: the noise strength is searched on the model itself
    "whp": _TOFU | dict(lr=1e-6, epochs=3.0, alpha=5.0, reinforce_epochs=3, reinforce_lr=1e-6),  # the paper's
    "uld": _TOFU | dict(lora=True, lora_rank=16, retain_weight=5.0, weight=-1.0, top_filter=0.1),  # uld.yaml
    # spul.py's README run: lr 1e-4, 10 epochs, batch 32 (8 × 4 here), weight decay 0.001; its cosine decay: linear here
    "soft_prompt": dict(lr=1e-4, epochs=10.0, batch_size=8, grad_accumulation=4, weight_decay=0.001,
                        lr_schedule="linear", retain_weight=0.5, kl_weight=0.5, tokens=30, encoder_hidden=128),
    "wagle": _TOFU | dict(beta=0.1, forget_weight=1.0, retain_weight=1.0, mask_ratio=0.2),  # NPO's, through the mask
}


def method_defaults(method: str, parameters: int, given: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``method``'s hyperparameters for a model of ``parameters`` parameters (the
    reference preset under the user's ``given`` ones) and a line saying which."""
    if parameters < REFERENCE_FROM or method not in REFERENCE:
        return dict(given), describe("", parameters)
    return dict(REFERENCE[method]) | dict(given), describe("reference", parameters, REFERENCE[method])


def describe(preset: str, parameters: int, settings: dict[str, Any] | None = None) -> str:
    size = f"{parameters / 1e9:.2f}B" if parameters >= 1e9 else f"{parameters / 1e6:.1f}M"
    if preset:
        shown = ", ".join(f"{k} {v}" for k, v in (settings or {}).items())
        return (f"defaults: the reference settings for a {size}-parameter model "
                f"(>= {REFERENCE_FROM / 1e6:.0f}M; {shown})")
    return f"defaults: the method's own (tuned for tiny models; this one has {size} parameters)"
