"""Boundary Shrink. Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep
Networks via Shifting the Decision Space", CVPR 2023.

Each forget example is relabelled to its nearest wrong class: the frozen original
model's prediction on an FGSM step x + ε·sign(∇ₓ CE(f(x), y)), or its runner-up
when that prediction is still y; the model is then fine-tuned on the forget set
with those labels, shrinking the forgotten region into its neighbours.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.loop import LossMethod
from obliviate.core.registry import register


def nearest_wrong_labels(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """argmax over classes other than y of f(x + ε·sign(∇ₓ CE(f(x), y)))."""
    x = x.detach().clone().requires_grad_(True)
    (grad_x,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    with torch.no_grad():
        logits = model(x + epsilon * grad_x.sign())
        logits[torch.arange(len(y), device=y.device), y] = float("-inf")
        return logits.argmax(1)


@register(
    "boundary_shrink", track="classifier", needs=("forget", "labels"),
    paper="Chen et al., CVPR 2023",
    idea="relabel forget examples to their nearest wrong class (FGSM probe) and fine-tune",
)
@dataclass
class BoundaryShrink(LossMethod):
    epochs: int = 10
    lr: float = 1e-3
    early_stop: bool = True
    epsilon: float = 0.1

    drive = "forget"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epsilon <= 0:
            raise ValueError(f"boundary_shrink.epsilon must be > 0, got {self.epsilon}")

    def setup(self, model, data, generator):
        self.original = copy.deepcopy(model).eval().requires_grad_(False)

    def loss(self, model, batch):
        x, y = batch.forget
        return F.cross_entropy(model(x), nearest_wrong_labels(self.original, x, y, self.epsilon))
