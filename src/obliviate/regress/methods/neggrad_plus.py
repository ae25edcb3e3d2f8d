"""NegGrad+: β·MSE(D_r) − (1 − β)·MSE(D_f) (Kurmanji et al., NeurIPS 2023), with the
regression loop's early stopping at the held-out error."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.regress.loop import RegressionLossMethod


@register("neggrad_plus", track="regress", needs=("forget", "retain", "labels"), paper="Kurmanji et al., NeurIPS 2023",
          idea="descend on the retain error while ascending on the forget error")
@dataclass
class NegGradPlus(RegressionLossMethod):
    epochs: int = 100
    lr: float = 1e-3
    beta: float = 0.9
    early_stop: bool = True

    drive = "forget"

    def loss(self, model, forget, retain):
        (xf, yf), (xr, yr) = forget, retain
        return self.beta * F.mse_loss(model(xr), yr) - (1 - self.beta) * F.mse_loss(model(xf), yf)
