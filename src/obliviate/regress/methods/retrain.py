"""Retrain: a fresh model trained on the retain set only (the reference every method is measured against)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from obliviate.classify.models import reinitialise
from obliviate.core.registry import register
from obliviate.regress.loop import RegressionLossMethod


@register("retrain", track="regress", needs=("retain", "labels"), paper="(the gold standard)",
          idea="train a fresh model on the retain set only")
@dataclass
class Retrain(RegressionLossMethod):
    epochs: int = 40
    lr: float = 1e-3

    drive = "retain"

    def setup(self, model, data, generator):
        reinitialise(model)

    def loss(self, model, forget, retain):
        x, y = retain
        return F.mse_loss(model(x), y)
