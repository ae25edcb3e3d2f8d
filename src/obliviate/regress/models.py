"""The regression track's model: an MLP whose hidden activations Blindspot unlearning reads."""

from __future__ import annotations

import torch
from torch import nn


class RegressionMLP(nn.Module):
    """inputs → 64 → 64 → 1 with ReLUs."""

    def __init__(self, in_features: int, hidden: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def forward_with_activations(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model's output and the output of each of its ReLU modules, in order."""
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda module, inputs, output: seen.append(output))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return out, seen
