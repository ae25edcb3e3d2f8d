"""OPC: one-point contraction. Jung, Jung, Bae and Lee, "OPC: One-Point-Contraction
Unlearning Toward Deep Feature Forgetting", 2025.

Methods that only move the decision boundary leave the forget set's features intact,
so a probe on them recovers the forgotten data ("shallow forgetting"; our residual
suite measures it). OPC contracts the forget set's penultimate features to a single
point, the origin, so nothing about them survives for a probe to read, while
cross-entropy on the retain set keeps the rest:

    L = CE(D_r) + λ · mean_{x ∈ D_f} ‖z(x)‖² / s₀

Choice: s₀, the original model's mean ‖z‖² on the forget set, makes the contraction
term start at λ on any model (feature norms differ by orders of magnitude between
architectures); the paper's λ is on its ResNet-18's scale. z is the input of the
last ``nn.Linear`` (:func:`~obliviate.classify.models.features_and_logits`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.data import batches, sample
from obliviate.classify.loop import LossMethod
from obliviate.classify.models import features_and_logits
from obliviate.core.devices import to_model
from obliviate.core.registry import register


def contraction(features: torch.Tensor) -> torch.Tensor:
    """mean over the batch of ‖z‖² (squared L2 norm of each example's features)."""
    return features.pow(2).sum(1).mean()


@register(
    "opc", track="classifier", needs=("forget", "retain", "labels"),
    paper="Jung et al., 2025",
    idea="contract the forget set's features to one point (the origin) while fitting the retain set",
)
@dataclass
class OnePointContraction(LossMethod):
    epochs: int = 10
    lr: float = 0.01
    contraction_weight: float = 1.0  # λ

    tune_params = ("contraction_weight",)  # searched by `obliviate tune`

    drive = "forget"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.contraction_weight > 0:
            raise ValueError(f"opc.contraction_weight must be > 0, got {self.contraction_weight}")

    @torch.no_grad()
    def setup(self, model, data, generator):
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for x, _ in batches(sample(data.forget, 1024), 512, shuffle=False):
            (x,) = to_model(model, x)
            z, _ = features_and_logits(model, x)
            total += z.float().pow(2).sum().item()
            count += len(x)
        model.train(was_training)
        self.scale = max(total / max(count, 1), 1e-12)

    def loss(self, model, batch):
        (xf, _), (xr, yr) = batch.forget, batch.retain
        zf, _ = features_and_logits(model, xf)
        return F.cross_entropy(model(xr), yr) + self.contraction_weight * contraction(zf) / self.scale
