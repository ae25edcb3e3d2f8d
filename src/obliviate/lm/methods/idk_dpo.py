"""IdkDPO: DPO with an "I don't know" answer preferred over the forget answer, against
the starting model (log-probabilities cached once), plus NLL on the retain set.
Maini et al. (TOFU), 2024; Rafailov et al., NeurIPS 2023.

Reference settings (OpenUnlearning's TOFU experiment, Llama-class models): lr 1e-5,
10 epochs with 1 of warmup, weight decay 0.01, batch 32 (8 × 4 accumulation), paged
AdamW, bf16, β 0.1, forget and retain weights 1. Ours (lr 1e-3, 10 epochs) are for
tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import dpo_loss
from obliviate.lm.unlearn import LMMethod, retain_nll, sequence_logp


@register("idk_dpo", track="lm", needs=("forget", "retain"), paper="Maini et al. (TOFU), 2024",
          idea="prefer 'I don't know' over the forget answer (DPO)")
@dataclass
class IdkDPO(LMMethod):
    epochs: float = 10.0
    lr: float = 1e-3
    beta: float = 0.1

    needs_reference = ("forget_logp", "idk_logp")

    def loss(self, model, inputs):
        f = inputs["forget"]
        preference = dpo_loss(sequence_logp(model, f["idk"]), sequence_logp(model, f), f["idk_logp"],
                              f["forget_logp"], self.beta)
        return self.forget_weight * preference + self.retain_weight * retain_nll(model, inputs, self.nll_average)
