"""UNDIAL: self-distillation toward the starting model's logits with the true answer
token pushed down by β, plus NLL on the retain set. π_ref is a frozen copy of the
starting model run next to the trained one (as OpenUnlearning does). ``positions``:
"all" positions of the padded batch (OpenUnlearning's, the default) or the "answer"
tokens only. Dong et al., "UNDIAL: Self-Distillation with Adjusted Logits for Robust
Unlearning", 2024.

Reference settings (OpenUnlearning's config, Llama-class models): β 10, lr 1e-4, 10
epochs, no retain term (α 0). Ours keep the retain NLL (α 1), lr 1e-3 and 5 epochs for
tofu-mini's tiny model."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.lm.losses import undial_loss
from obliviate.lm.unlearn import FrozenReferenceMethod, logits_of, retain_nll


@register("undial", track="lm", needs=("forget", "retain"), paper="Dong et al., 2024",
          idea="distil toward the original's logits with the true token suppressed")
@dataclass
class UNDIAL(FrozenReferenceMethod):
    epochs: float = 5.0
    lr: float = 1e-3
    beta: float = 10.0

    def loss(self, model, inputs):
        f = inputs["forget"]
        forget = undial_loss(logits_of(model, f), self.reference_logits(f), f["labels"], self.beta, self.positions)
        return self.forget_weight * forget + self.retain_weight * retain_nll(model, inputs, self.nll_average)
