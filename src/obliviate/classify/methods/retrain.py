"""Retrain: the gold standard. Re-initialise the model and train it on the retain set only
(fine-tuning from scratch, as it were).

Its hyperparameters are the training recipe; the built-in tasks pass their own
original recipe, so the retrained model is trained exactly as the original was.
``augment="crop_flip"`` is the CIFAR recipe's random crop (padding 4) and horizontal
flip (:mod:`obliviate.classify.augment`), drawn from the run's generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F

from obliviate.classify.augment import AUGMENTATIONS
from obliviate.classify.methods.ft import FineTune
from obliviate.classify.models import reinitialise
from obliviate.core.registry import register


@register(
    "retrain", track="classifier", needs=("retain", "labels"),
    paper="the gold standard (exact unlearning)",
    idea="re-initialise, then train on the retain set with the original recipe",
)
@dataclass
class Retrain(FineTune):
    epochs: int = 30
    lr: float = 0.05
    weight_decay: float = 5e-4
    schedule: Literal["constant", "cosine", "multistep"] = "cosine"
    augment: Literal["none", "crop_flip"] = "none"
    retain_budget: float | None = None  # exact retraining passes over all of the retain set
    adapt_lr: bool = False  # and trains at the recipe's own learning rate, unwatched

    def setup(self, model, data, generator) -> None:
        reinitialise(model)
        self.generator = generator

    def loss(self, model, batch):
        x, y = batch.retain
        if AUGMENTATIONS[self.augment] is not None:
            x = AUGMENTATIONS[self.augment](x, self.generator)
        return F.cross_entropy(model(x), y)

