"""GA on a language model: minimise −ℓ̄ on the forget answers (TOFU's baseline).
Unbounded; the default budget is short.

Reference settings (OpenUnlearning's TOFU experiment, Llama-class models): lr 1e-5,
10 epochs with 1 of warmup, weight decay 0.01, batch 32 (8 × 4 accumulation), paged
AdamW, bf16. Ours (lr 5e-4, 3 epochs) are for tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import ga_loss
from obliviate.lm.unlearn import LMMethod, mean_nll


@register("ga", track="lm", needs=("forget",), paper="Maini et al. (TOFU), 2024",
          idea="gradient ascent on the forget answers")
@dataclass
class GradientAscent(LMMethod):
    epochs: float = 3.0
    lr: float = 5e-4

    def loss(self, model, inputs):
        return self.forget_weight * ga_loss(mean_nll(model, inputs["forget"], self.nll_average))
