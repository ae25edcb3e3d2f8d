"""DUCK: distance-based unlearning via centroid kinematics. Cotogni et al., 2023.

Class centroids of the original model's penultimate features are computed on the
retain set. Each step pulls the features of forget examples toward their nearest
centroid of another class (Euclidean distance) while keeping cross-entropy on the
retain set: λ_f·mean‖e_f − c_nearest‖ + λ_r·CE(D_r). Like the reference, it stops
once forget accuracy reaches its target (the shared early stopping).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.data import batches
from obliviate.classify.loop import AscentMethod
from obliviate.classify.models import features_and_logits
from obliviate.core.devices import to_model
from obliviate.core.registry import register


@register(
    "duck", track="classifier", needs=("forget", "retain", "labels"),
    paper="Cotogni et al., 2023",
    idea="pull forget features to the nearest other-class centroid while fitting the retain set",
)
@dataclass
class DUCK(AscentMethod):
    epochs: int = 30
    lr: float = 3e-3
    lambda_forget: float = 1.0
    lambda_retain: float = 1.0

    drive = "forget"

    @torch.no_grad()
    def setup(self, model, data, generator):
        model.eval()
        sums, counts = None, None
        for x, y in batches(data.retain, 512, shuffle=False):
            x, y = to_model(model, x, y)
            feats, _ = features_and_logits(model, x)
            if sums is None:
                sums = feats.new_zeros(data.num_classes, feats.shape[1])
                counts = torch.zeros(data.num_classes, dtype=torch.long, device=feats.device)
            sums.index_add_(0, y, feats)
            counts += torch.bincount(y, minlength=data.num_classes)
        self.centroids = sums / counts.clamp_min(1)[:, None]
        self.present = counts > 0

    def loss(self, model, batch):
        (xf, yf), (xr, yr) = batch.forget, batch.retain
        feats, _ = features_and_logits(model, xf)
        dist = torch.cdist(feats, self.centroids)
        blocked = ~self.present[None, :] | F.one_hot(yf, len(self.centroids)).bool()
        nearest = dist.masked_fill(blocked, float("inf")).min(1).values
        _, logits = features_and_logits(model, xr)
        return self.lambda_forget * nearest.mean() + self.lambda_retain * F.cross_entropy(logits, yr)
