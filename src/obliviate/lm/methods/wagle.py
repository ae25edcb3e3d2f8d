"""WAGLE: weight attribution for LLM unlearning. Jia et al., "WAGLE: Strategic Weight
Attribution for Effective and Modular Unlearning in Large Language Models", NeurIPS
2024 (reference: OPTML-Group/WAGLE, ``GenerateMask.snip_advanced``).

Which weights, if changed by the unlearning step, would cost the retain loss? The
paper's bi-level derivation gives each weight the score |(θ − ∇ℓ_r/μ) ⊙ ∇ℓ_f|, with
∇ℓ_f and ∇ℓ_r the gradients of the forget and retain answer NLL (each the sum over
mini-batches of the batch mean, as the reference accumulates them; the retain one on
as many retain examples as there are forget examples, as the reference's paired
loader) and μ its
diagonal-Hessian constant. The ``mask_ratio`` fraction of weights with the largest
score, ranked over the whole model, is the mask; every other weight keeps its
starting value.

It is an option of every LM method (``mask=wagle``, ``mask_ratio``, ``mask_mu``),
the LM counterpart of SalUn's saliency mask; ``wagle`` itself is NPO trained through
the mask, the paper's strongest pairing. Choice: the default ratio 0.2 lets 20% of
the weights move (the reference writes masks at ratios 0.1 to 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from obliviate.core.registry import register
from obliviate.lm.methods.npo import NPO


@register("wagle", track="lm", needs=("forget", "retain"), paper="Jia et al., NeurIPS 2024",
          idea="NPO through a weight-attribution mask (any LM method takes it: mask=wagle)")
@dataclass
class WAGLE(NPO):
    mask: Literal["none", "wagle"] = "wagle"
