"""GradDiff: GA on the forget answers plus NLL on the retain answers (TOFU).

Reference settings (OpenUnlearning's TOFU experiment, Llama-class models): lr 1e-5,
10 epochs with 1 of warmup, weight decay 0.01, batch 32 (8 × 4 accumulation), paged
AdamW, bf16, forget and retain weights 1. Ours (lr 5e-4, 5 epochs) are for
tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import ga_loss
from obliviate.lm.unlearn import LMMethod, mean_nll, retain_nll


@register("grad_diff", track="lm", needs=("forget", "retain"), paper="Maini et al. (TOFU), 2024",
          idea="ascend on the forget answers, descend on the retain answers")
@dataclass
class GradDiff(LMMethod):
    epochs: float = 5.0
    lr: float = 5e-4

    def loss(self, model, inputs):
        return self.forget_weight * ga_loss(mean_nll(model, inputs["forget"], self.nll_average)) + self.retain_weight * retain_nll(model, inputs, self.nll_average)
