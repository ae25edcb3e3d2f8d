"""KL: GA on the forget answers; the retain term is KL(π_ref ‖ π_θ) on the retain
examples, π_ref a frozen copy of the starting model run next to the trained one (as
OpenUnlearning does; a cache of its full-vocabulary log-probabilities would not fit at
LLM scale). ``positions``: "all" positions of the padded batch (OpenUnlearning's, the
default) or the "answer" tokens only. Maini et al. (TOFU), 2024.

Reference settings (OpenUnlearning's TOFU experiment, Llama-class models, GradDiff with
``retain_loss_type: KL``): lr 1e-5, 10 epochs with 1 of warmup, weight decay 0.01,
batch 32 (8 × 4 accumulation), paged AdamW, bf16, weights 1. Ours (lr 5e-4, 5 epochs)
are for tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import ga_loss, kl_to_reference
from obliviate.lm.unlearn import FrozenReferenceMethod, logits_of, mean_nll


@register("kl", track="lm", needs=("forget", "retain"), paper="Maini et al. (TOFU), 2024",
          idea="ascend on the forget answers, stay close to the original on the retain set (KL)")
@dataclass
class KLMinimisation(FrozenReferenceMethod):
    epochs: float = 5.0
    lr: float = 5e-4

    def loss(self, model, inputs):
        r = inputs["retain"]
        kl = kl_to_reference(logits_of(model, r), self.reference_logits(r), r["labels"], self.positions)
        forget = ga_loss(mean_nll(model, inputs["forget"], self.nll_average))
        return self.forget_weight * forget + self.retain_weight * kl
