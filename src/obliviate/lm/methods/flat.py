"""FLAT: loss adjustment with only the forget data. Wang et al., "LLM Unlearning via
Loss Adjustment with Only Forget Data", ICLR 2025 (reference: UCSC-REAL/FLAT,
``get_contrastive_loss`` with ``ProbLossStable``).

No retain set: each forget question comes with a template answer ("I don't know.")
and its forget answer. With P_e and P_f the mean token probability of the template
and of the forget answer, FLAT maximises the variational form of an f-divergence
between them, minimising  g*(... ) − f*(g(P_f)) as the reference writes it:
loss = activation(P_e) − conjugate(P_f) (see :func:`obliviate.lm.losses.flat_loss`),
raising the template's probability and lowering the forget answer's with weights
set by the divergence. The reference's default divergence is total variation.

Positions, as the reference: P is the sum of answer-token probabilities over the
padded batch divided by B·(T−1) (every position counts, prompt and padding with
probability 0); ``positions="answer"`` averages over the answer tokens only.
Defaults (lr 3e-4, 5 epochs) are for tofu-mini's tiny model; the reference's TOFU
runs use lr 1e-5, 5 epochs, batch 16 × 4, weight decay 0.01. Measured on tofu-mini
forget05 (every answer shares one template, and nothing holds the retain answers):
lr 1e-4 leaves the forget answers' probability at 0.99, 3e-4 brings it to 0.56 with
model utility 0.59 (the retain-only model's: 0.76), 2e-4 for 10 epochs collapses the
model; without a retain term the window between doing nothing and collapse is
narrow on a tiny model, and the flags say which side a run fell on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from obliviate.core.registry import register
from obliviate.lm.losses import flat_loss, token_probability
from obliviate.lm.unlearn import LMMethod, logits_of


@register("flat", track="lm", needs=("forget",), paper="Wang et al., ICLR 2025",
          idea="maximise an f-divergence between a template answer and the forget answer, forget data only")
@dataclass
class FLAT(LMMethod):
    epochs: float = 5.0
    lr: float = 3e-4
    divergence: Literal["tv", "kl", "js", "pearson"] = "tv"
    positions: Literal["all", "answer"] = "all"

    needs_idk = True

    def loss(self, model, inputs):
        f = inputs["forget"]
        forget_p = token_probability(logits_of(model, f), f["labels"], self.positions)
        template_p = token_probability(logits_of(model, f["idk"]), f["idk"]["labels"], self.positions)
        return self.forget_weight * flat_loss(template_p, forget_p, self.divergence)
