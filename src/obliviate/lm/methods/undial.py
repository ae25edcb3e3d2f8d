"""UNDIAL: self-distillation on the forget answers toward the starting model's logits
with the true token pushed down by β (cached once), plus NLL on the retain set.
Dong et al., "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning", 2024."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import undial_loss
from obliviate.lm.unlearn import LMMethod, logits_of, retain_nll


@register("undial", track="lm", needs=("forget", "retain"), paper="Dong et al., 2024",
          idea="distil toward the original's logits with the true token suppressed")
@dataclass
class UNDIAL(LMMethod):
    epochs: float = 5.0
    lr: float = 1e-3
    beta: float = 10.0

    needs_reference = ("forget_logits",)

    def loss(self, model, inputs):
        f = inputs["forget"]
        return (self.forget_weight * undial_loss(logits_of(model, f), f["labels"], f["forget_logits"], self.beta)
                + self.retain_weight * retain_nll(model, inputs, self.nll_average))
