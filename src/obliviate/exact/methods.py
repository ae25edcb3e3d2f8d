"""``sisa`` as a classifier method, so that SISA sits in ``obliviate bench`` and ``eval``
tables next to the approximate methods.

Given the original model and the forget / retain sets, it trains a SISA ensemble of
copies of the model (re-initialised) on forget ∪ retain with the task's training
recipe (``uses_recipe``: the bench passes the recipe the original was trained
with), then deletes the forget set. The result is the ensemble after the deletion;
the run's time is the deletion's alone (the ensemble's own training is its
"original", reported in the stop reason), as the SISA paper times unlearning.

Shards are SISA's price: each shard model sees 1/S of the data, so the ensemble is
less accurate than one model, the more so on small data (digits, 1.3k images: test
96.9 / 96.7 / 95.3 / 91.7% at S = 1 / 2 / 4 / 8; mnist1d, 3.6k: 65.9 / 60.6 / 55.6 /
50.8%). By default (``shards=None``) the shard count adapts to the data: the most of
8, 4, 2, 1 whose ensemble, before the deletion, keeps retain accuracy within
``shard_retain_drop`` points of the given model's (digits: 4; mnist1d: 2; a 150-example
tabular set: 1, which is retraining). A fixed ``shards`` that costs more is trained
as asked and said so in the stop reason.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from obliviate.classify.data import sample, size, union
from obliviate.classify.loop import History, Monitor, task_accuracy
from obliviate.classify.methods.retrain import Retrain
from obliviate.core.registry import register
from obliviate.exact.sisa import SISAEnsemble

AUTO_SHARDS = (8, 4, 2, 1)


@register(
    "sisa", track="classifier", needs=("forget", "retain", "labels"),
    paper="Bourtoule et al., IEEE S&P 2021",
    idea="shard models trained slice by slice; deleting ids retrains only their shards, from the last "
         "checkpoint before them (exact)",
)
@dataclass
class SISA(Retrain):
    uses_recipe: ClassVar[bool] = True  # the bench passes the task's training recipe

    shards: int | None = None  # None: the most of 8, 4, 2, 1 within shard_retain_drop of the model's retain accuracy
    slices: int = 1
    aggregate: Literal["softmax", "vote"] = "softmax"
    shard_retain_drop: float = 5.0

    def __post_init__(self) -> None:
        if (self.shards is not None and self.shards < 1) or self.slices < 1:
            raise ValueError(f"sisa.shards and sisa.slices must be >= 1, got {self.shards} and {self.slices}")

    def apply(self, model, data, generator, progress=None) -> History:
        recipe = {f.name: getattr(self, f.name) for f in dataclasses.fields(Retrain)}
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        full = union(data.forget, data.retain)  # ids 0.. : the forget set first
        retain = sample(data.retain, Monitor.SAMPLE)
        baseline = task_accuracy(model, retain, data.num_classes)
        counts = [self.shards] if self.shards else [s for s in AUTO_SHARDS if s * self.slices <= size(full)]
        start = time.perf_counter()
        for shards in counts:
            ensemble = SISAEnsemble(model, data.num_classes, shards, self.slices, recipe, self.aggregate, seed)
            ensemble.fit(full)
            drop = 100 * (baseline - task_accuracy(ensemble, retain, data.num_classes))
            if drop <= self.shard_retain_drop:
                break
        trained = time.perf_counter() - start
        report = ensemble.unlearn(range(size(data.forget)))
        note = (f"SISA {shards} shards x {self.slices} slices (trained in {trained:.1f} s"
                f"{', shards chosen from ' + '/'.join(map(str, counts)) if len(counts) > 1 else ''}): the deletion "
                f"retrained {len(report.retrained)} of {shards} shards, {report.slices_retrained} of "
                f"{shards * self.slices} slices")
        if drop > self.shard_retain_drop:
            note += (f"; the ensemble's retain accuracy is {drop:.1f} points below the model's (each shard model "
                     "sees 1/S of the data): fewer shards or more epochs")
        return History(model=ensemble, setup_seconds=trained, stop_reason=note)
