"""KL: GA on the forget answers; the retain term is KL(π_ref ‖ π_θ) on the retain
answers, with the reference log-probabilities cached once before training (TOFU)."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import ga_loss, kl_to_reference
from obliviate.lm.unlearn import LMMethod, mean_nll, logits_of


@register("kl", track="lm", needs=("forget", "retain"), paper="Maini et al. (TOFU), 2024",
          idea="ascend on the forget answers, stay close to the original on the retain set (KL)")
@dataclass
class KLMinimisation(LMMethod):
    epochs: float = 5.0
    lr: float = 5e-4

    needs_reference = ("retain_logprobs",)

    def loss(self, model, inputs):
        r = inputs["retain"]
        kl = kl_to_reference(logits_of(model, r), r["labels"], r["retain_logprobs"])
        return self.forget_weight * ga_loss(mean_nll(model, inputs["forget"], self.nll_average)) + self.retain_weight * kl
