"""GA: gradient ascent on the forget set's squared error, stopped once it reaches the
held-out error (what a model that never saw the forget set shows)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.regress.loop import RegressionLossMethod


@register("ga", track="regress", needs=("forget", "labels"), paper="Thudi et al., 2022",
          idea="ascend the forget set's squared error until it reaches the held-out error")
@dataclass
class GradientAscent(RegressionLossMethod):
    epochs: int = 100
    lr: float = 1e-3
    early_stop: bool = True

    drive = "forget"

    def loss(self, model, forget, retain):
        x, y = forget
        return -F.mse_loss(model(x), y)
