"""FT: fine-tune on the retain set (the forget set fades by catastrophic forgetting)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.regress.loop import RegressionLossMethod


@register("ft", track="regress", needs=("retain", "labels"), paper="Golatkar et al., CVPR 2020",
          idea="fine-tune on the retain set")
@dataclass
class FineTune(RegressionLossMethod):
    epochs: int = 10
    lr: float = 1e-3

    drive = "retain"

    def loss(self, model, forget, retain):
        x, y = retain
        return F.mse_loss(model(x), y)
