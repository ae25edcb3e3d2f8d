"""WGA: gradient ascent with per-token weights p(y_t)^β (tokens the model is sure of
weigh most), plus NLL on the retain set. Wang et al., "Rethinking LLM Unlearning
Objectives", ICLR 2025.

Reference settings (OpenUnlearning's WGA config, Llama-class models): lr 1e-5, 5
epochs, β 1, forget and retain weights 1; otherwise its TOFU experiment's (warmup 1
epoch, weight decay 0.01, batch 32, paged AdamW, bf16). Ours (lr 1e-3, 5 epochs) are
for tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import wga_loss
from obliviate.lm.unlearn import LMMethod, logits_of, retain_nll


@register("wga", track="lm", needs=("forget", "retain"), paper="Wang et al., ICLR 2025",
          idea="gradient ascent weighted toward the tokens the model is confident about")
@dataclass
class WGA(LMMethod):
    epochs: float = 5.0
    lr: float = 1e-3
    beta: float = 1.0

    def loss(self, model, inputs):
        f = inputs["forget"]
        forget = wga_loss(logits_of(model, f), f["labels"], self.beta)
        return self.forget_weight * forget + self.retain_weight * retain_nll(model, inputs, self.nll_average)
