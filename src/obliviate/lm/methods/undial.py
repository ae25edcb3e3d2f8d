"""UNDIAL: self-distillation toward the starting model's logits with the true answer
token pushed down by β, plus NLL on the retain set. π_ref is a frozen copy of the
starting model run next to the trained one (as OpenUnlearning does). ``positions``:
"all" positions of the padded batch (OpenUnlearning's, the default) or the "answer"
tokens only. Reference settings (OpenUnlearning's config, Llama-class models): β 10, lr 1e-4,
10 epochs, no retain term (α 0); ours keeps the retain NLL (α 1) and the tiny model's lr 1e-3, 5 epochs. Dong et al., "UNDIAL:
Self-Distillation with Adjusted Logits for Robust Unlearning", 2024."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from obliviate.core.registry import register
from obliviate.lm.losses import undial_loss
from obliviate.lm.unlearn import LMMethod, frozen_reference, logits_of, retain_nll


@register("undial", track="lm", needs=("forget", "retain"), paper="Dong et al., 2024",
          idea="distil toward the original's logits with the true token suppressed")
@dataclass
class UNDIAL(LMMethod):
    epochs: float = 5.0
    lr: float = 1e-3
    beta: float = 10.0
    positions: Literal["all", "answer"] = "all"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.positions not in ("all", "answer"):
            raise ValueError(f"undial.positions must be 'all' or 'answer', got {self.positions!r}")

    def setup(self, model, tokenizer, forget, generator):
        self.reference = frozen_reference(model)

    def loss(self, model, inputs):
        f = inputs["forget"]
        with torch.no_grad():
            ref_logits = logits_of(self.reference.to(f["input_ids"].device), f)
        return (self.forget_weight * undial_loss(logits_of(model, f), ref_logits, f["labels"], self.beta, self.positions)
                + self.retain_weight * retain_nll(model, inputs, self.nll_average))
