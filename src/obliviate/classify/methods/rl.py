"""RL (random labels): CE on the forget set with random *wrong* labels, plus CE on the
retain set, over batches of forget ∪ retain shuffled together (as the reference code
does, so each set weighs in proportion to its size). Golatkar et al., CVPR 2020; the
base update of SalUn (Fan et al., ICLR 2024).

Choice: a fresh wrong label is drawn for every forget example at every step (the
reference code fixes one per example); in expectation this pushes the forget
examples toward a uniform guess over the other classes, which is steadier."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.loop import LossMethod
from obliviate.core.registry import register


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A label drawn uniformly from the classes other than ``y``, for each element."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)  # drawn on the CPU
    return (y + shift) % num_classes


@register(
    "rl", track="classifier", needs=("forget", "retain", "labels"),
    paper="Golatkar et al., CVPR 2020",
    idea="train the forget set toward random wrong labels while fitting the retain set",
)
@dataclass
class RandomLabels(LossMethod):
    epochs: int = 10
    lr: float = 0.01

    drive = "union"

    def setup(self, model, data, generator) -> None:
        self._num_classes = data.num_classes
        self._generator = generator

    def loss(self, model, batch):
        x, y, is_forget = batch.joined()
        wrong = random_wrong_labels(y, self._num_classes, self._generator)
        return F.cross_entropy(model(x), torch.where(is_forget, wrong, y))
