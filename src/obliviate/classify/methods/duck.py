"""DUCK: distance-based unlearning via centroid kinematics. Cotogni et al., 2023.

Class centroids of the original model's penultimate features are computed on the
retain set. Each forget example is pulled toward one centroid of another class, the
nearest by cosine distance, chosen once from the original model's features and kept
for the whole run, while cross-entropy on the retain set holds the rest:
λ_f·mean(1 − cos(e_f, c_target)) + λ_r·CE(D_r), as in the reference code (OcraM17/DUCK,
``Unlearning_methods.DUCK``). The reference fixes each target in its first pass over
an unshuffled forget loader; obliviate takes it from a frozen copy of the original
model, the same choice without depending on batch order. Like the reference, it stops
once forget accuracy reaches its target (the shared early stopping).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.data import batches
from obliviate.classify.loop import AscentMethod
from obliviate.classify.models import features_and_logits
from obliviate.core.devices import to_model
from obliviate.core.registry import register


def cosine_distances(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """1 − cos between every row of ``features`` and every centroid."""
    return 1 - F.normalize(features, dim=1) @ F.normalize(centroids, dim=1).T


@register(
    "duck", track="classifier", needs=("forget", "retain", "labels"),
    paper="Cotogni et al., 2023",
    idea="pull forget features to the nearest other-class centroid (cosine) while fitting the retain set",
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
        self.original = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each forget example's centroid: the nearest (cosine) other present class in
        the original model's features."""
        feats, _ = features_and_logits(self.original, x)
        blocked = ~self.present[None, :] | F.one_hot(y, len(self.centroids)).bool()
        return cosine_distances(feats, self.centroids).masked_fill(blocked, float("inf")).argmin(1)

    def loss(self, model, batch):
        (xf, yf), (xr, yr) = batch.forget, batch.retain
        target = self.targets(xf, yf)
        feats, _ = features_and_logits(model, xf)
        pull = cosine_distances(feats, self.centroids).gather(1, target[:, None]).mean()
        _, logits = features_and_logits(model, xr)
        return self.lambda_forget * pull + self.lambda_retain * F.cross_entropy(logits, yr)

    def teardown(self, model):
        del self.original
