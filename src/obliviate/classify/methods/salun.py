"""SalUn: saliency unlearning. Fan et al., "SalUn: Empowering Machine Unlearning via
Gradient-based Weight Saliency", ICLR 2024.

A mask keeps the ``sparsity`` share of weights with the largest |∂ CE(D_f)/∂θ|
(gradients summed over the forget set, one global top-k across all parameters);
random-label unlearning (RL) then updates only those: θ = m⊙θ_RL + (1−m)⊙θ0.

The mask is a hard constraint. After every optimiser step the unmasked weights are
copied back from θ0, so neither weight decay nor momentum can move them (the
reference code masked gradients only, and both leaked through).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.grads import summed_batch_grads
from obliviate.classify.methods.rl import RandomLabels
from obliviate.core.registry import register


def saliency_mask(saliency: dict[str, torch.Tensor], keep: float) -> dict[str, torch.Tensor]:
    """Boolean masks selecting exactly the top ``keep`` share of all entries by value."""
    flat = torch.cat([s.reshape(-1) for s in saliency.values()])
    k = round(keep * flat.numel())
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k).indices] = True
    masks, start = {}, 0
    for name, s in saliency.items():
        masks[name] = chosen[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
    return masks


@register(
    "salun", track="classifier", needs=("forget", "retain", "labels"),
    paper="Fan et al., ICLR 2024",
    idea="random-label unlearning on only the weights most salient for the forget set",
)
@dataclass
class SalUn(RandomLabels):
    lr: float = 0.013
    sparsity: float = 0.5  # share of weights that may change

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.sparsity <= 1:
            raise ValueError(f"salun.sparsity must be in (0, 1], got {self.sparsity}")

    def setup(self, model, data, generator):
        super().setup(model, data, generator)
        grads, _ = summed_batch_grads(model, data.forget, self.batch_size, F.cross_entropy)
        self.mask = saliency_mask({n: g.abs() for n, g in grads.items()}, self.sparsity)
        self._frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n in self.mask}

    def after_step(self, model):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.mask:
                    p.copy_(torch.where(self.mask[name], p, self._frozen[name]))
