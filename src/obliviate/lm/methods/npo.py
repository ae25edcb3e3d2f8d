"""NPO: negative preference optimisation on the forget answers, against the starting
model's log-probabilities (cached once), plus NLL on the retain set.
Zhang et al., "Negative Preference Optimization", COLM 2024.

Defaults (lr 1e-3, 10 epochs, retain weight 10) are tuned on tofu-mini's tiny model,
trained at lr 5e-3. Reference settings (OpenUnlearning's TOFU experiment,
Llama-class models): lr 1e-5, 10 epochs with 1 of warmup, weight decay 0.01, batch 32
(8 × 4 accumulation), paged AdamW, bf16, β 0.1, forget and retain weights 1."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import npo_loss
from obliviate.lm.unlearn import LMMethod, retain_nll, sequence_logp


@register("npo", track="lm", needs=("forget", "retain"), paper="Zhang et al., COLM 2024",
          idea="a bounded, reference-relative version of gradient ascent")
@dataclass
class NPO(LMMethod):
    epochs: float = 10.0
    lr: float = 1e-3
    retain_weight: float = 10.0
    beta: float = 0.1

    needs_reference = ("forget_logp",)

    def loss(self, model, inputs):
        f = inputs["forget"]
        return (self.forget_weight * npo_loss(sequence_logp(model, f), f["forget_logp"], self.beta)
                + self.retain_weight * retain_nll(model, inputs, self.nll_average))
