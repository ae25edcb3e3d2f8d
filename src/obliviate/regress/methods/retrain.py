"""Retrain: a fresh model trained on the retain set only with the task's recipe (the
reference every method is measured against): fine-tuning from re-initialised weights."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.classify.models import reinitialise
from obliviate.core.registry import register
from obliviate.regress.methods.ft import FineTune


@register("retrain", track="regress", needs=("retain", "labels"), paper="(the gold standard)",
          idea="train a fresh model on the retain set only")
@dataclass
class Retrain(FineTune):
    epochs: int = 40

    def setup(self, model, data, generator):
        reinitialise(model)
