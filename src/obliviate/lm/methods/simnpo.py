"""SimNPO: length-normalised, reference-free NPO, plus NLL on the retain set.
Fan et al., "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning", 2024. Reference defaults: β = 4.5, γ = 0, forget weight 0.125. Choice:
forget weight 1 (0.125 barely moved tofu-mini's tiny model), lr 1e-3, 10 epochs.
Reference settings (OpenUnlearning's TOFU experiment, Llama-class models): lr 1e-5,
10 epochs with 1 of warmup, weight decay 0.01, batch 32 (8 × 4 accumulation), paged
AdamW, bf16, β 4.5, δ 0, forget weight 0.125, retain weight 1."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import simnpo_loss
from obliviate.lm.unlearn import LMMethod, avg_nll, retain_nll


@register("simnpo", track="lm", needs=("forget", "retain"), paper="Fan et al., 2024",
          idea="NPO without a reference model, on length-normalised likelihood")
@dataclass
class SimNPO(LMMethod):
    epochs: float = 10.0
    lr: float = 1e-3
    forget_weight: float = 1.0
    beta: float = 4.5
    delta: float = 0.0  # margin inside the sigmoid, σ(β(ℓ̄ − δ)): the reference code's
    gamma: float = 0.0  # margin outside, σ(βℓ̄ − γ): the paper's formula (γ = βδ)

    def loss(self, model, inputs):
        forget = simnpo_loss(avg_nll(model, inputs["forget"]), self.beta, self.delta, self.gamma)
        return self.forget_weight * forget + self.retain_weight * retain_nll(model, inputs, self.nll_average)
