"""SISA: sharded, isolated, sliced, aggregated training. Bourtoule et al., "Machine
Unlearning", IEEE S&P 2021 (reference: cleverhans-lab/machine-unlearning).

The training data is cut into S shards, each shard into R slices. Shard s's model is
trained incrementally: on slice 0, then on slices 0–1, ..., then on all R slices,
with a checkpoint after each (``slice_epochs`` spreads the recipe's epochs over the
slices as the reference does, so that a shard model sees as many examples in all as
one run of ``epochs`` over its shard). Predictions aggregate the shard models: the
mean of their softmax outputs, or a majority vote (ties to the lowest class, as the
reference's argmax).

Deleting ids retrains only the shards that held them, each from the last checkpoint
whose slices never contained them; nothing else changes. That is *exact*: the
result is, weight for weight, the ensemble SISA trains from scratch on the data
without those ids, with the same seed and shard assignment, because

- the assignment is fixed once (a seeded permutation of the ids, cut into equal
  shards and slices, as the reference's ``sharded.py``) and a deletion moves no id;
- every slice trains with a fresh optimizer from the previous checkpoint (the
  reference's plain SGD keeps no optimizer state between slices either), with a
  generator seeded by (seed, shard, slice), on the slice's examples in assignment
  order: the same inputs give the same weights;
- each shard's initial weights are a checkpoint too (seeded by (seed, shard)).

A shard whose examples were all deleted no longer votes. Checkpoints superseded by a
deletion are removed, so no stored weights were trained on a deleted id; each
checkpoint keeps its manifest (the SHA-256 of every id it was trained on).
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Literal, Sequence

import torch
from torch import nn
from torch.utils.data import Subset

from obliviate.classify.data import Data, UnlearnData, gathered, size
from obliviate.classify.methods.retrain import Retrain
from obliviate.classify.models import reinitialise
from obliviate.core.deploy import id_hash
from obliviate.core.registry import build
from obliviate.core.seeding import seed_everything
from obliviate.exact.checkpoints import Checkpoints, MemoryCheckpoints

Aggregate = Literal["softmax", "vote"]


def derived_seed(*parts: int) -> int:
    """A 31-bit seed derived from integers (seed, shard, slice), stable across platforms."""
    digest = hashlib.sha256(":".join(map(str, ("sisa",) + parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def slice_epochs(epochs: int, slices: int) -> list[int]:
    """Epochs of each slice, as the reference's sisa.py: an average of 2R/(R+1) · E/R
    per slice (slice r trains on r+1 of the R slices, so the shard model sees E passes'
    worth of examples in all), cut at whole epochs."""
    average = 2 * slices / (slices + 1) * epochs / slices
    return [int((r + 1) * average) - int(r * average) for r in range(slices)]


@dataclass(frozen=True)
class Assignment:
    """Which shard and slice each id belongs to: the ids in a seeded random order, cut
    into ``shards`` nearly equal shards and each shard into ``slices`` nearly equal
    slices. ``order`` lists the ids' keys (their SHA-256, :func:`id_hash`: no raw id is
    kept) in that order, the training order."""

    shards: int
    slices: int
    order: tuple[str, ...]

    @staticmethod
    def draw(keys: Sequence[str], shards: int, slices: int, seed: int) -> "Assignment":
        if len(set(keys)) != len(keys):
            raise ValueError("SISA needs one id per training example: the ids repeat")
        if shards < 1 or slices < 1:
            raise ValueError(f"SISA needs shards >= 1 and slices >= 1, got {shards} and {slices}")
        if len(keys) < shards * slices:
            raise ValueError(f"{len(keys)} examples cannot fill {shards} shards x {slices} slices")
        canonical = sorted(keys)
        perm = torch.randperm(len(canonical), generator=torch.Generator().manual_seed(derived_seed(seed)))
        return Assignment(shards, slices, tuple(canonical[i] for i in perm.tolist()))

    def deletable(self, ids: Sequence[Any], deleted: set[str], data: str = "training data") -> list[str]:
        """The keys of ``ids``, refused in one line when one is unknown or already in ``deleted``."""
        keys = [id_hash(i) for i in ids]
        unknown = [k for k in keys if k not in self.place]
        if unknown:
            raise ValueError(f"{len(unknown)} of the {len(keys)} id(s) are not in the {data}")
        again = [k for k in keys if k in deleted]
        if again:
            raise ValueError(f"{len(again)} of the {len(keys)} id(s) were already deleted")
        return keys

    @cached_property
    def place(self) -> dict[str, tuple[int, int]]:
        """id key -> (shard, slice)."""
        n, out = len(self.order), {}
        for s in range(self.shards):
            shard = self.order[s * n // self.shards:(s + 1) * n // self.shards]
            m = len(shard)
            for r in range(self.slices):
                for key in shard[r * m // self.slices:(r + 1) * m // self.slices]:
                    out[key] = (s, r)
        return out


@dataclass
class DeletionReport:
    """What one deletion did: the shards retrained, each from which slice, and the time."""

    deleted: int
    slices: int
    retrained: dict[int, int] = field(default_factory=dict)  # shard -> first slice retrained
    seconds: float = 0.0

    @property
    def slices_retrained(self) -> int:
        return sum(self.slices - r for r in self.retrained.values())


@dataclass
class _SliceTraining(Retrain):
    """One slice of a shard model: the recipe's training, continued from the
    checkpoint (no re-initialisation), with a fresh optimizer."""

    def setup(self, model, data, generator) -> None:
        self.generator = generator


class SISAEnsemble(nn.Module):
    """S shard models trained with SISA; ``forward`` aggregates them.

    ``template``: the model to copy (re-initialised per shard: any classifier
    ``nn.Module`` whose layers can reset their parameters); ``recipe``: the
    ``retrain`` hyperparameters every slice trains with (epochs are spread over the
    slices); ``checkpoints``: where slice checkpoints live (in memory by default; a
    :class:`~obliviate.exact.checkpoints.DirectoryCheckpoints` keeps them on disk)."""

    def __init__(self, template: nn.Module, num_classes: int, shards: int = 4, slices: int = 1,
                 recipe: dict[str, Any] | None = None, aggregate: Aggregate = "softmax", seed: int = 0,
                 checkpoints: Checkpoints | None = None):
        super().__init__()
        if aggregate not in ("softmax", "vote"):
            raise ValueError(f"unknown SISA aggregate {aggregate!r}: use 'softmax' or 'vote'")
        self.num_classes, self.shards, self.slices = num_classes, shards, slices
        self.aggregate, self.seed = aggregate, seed
        self.recipe = dict(recipe or {})
        self.stage = build("retrain", self.recipe, "classifier")  # validates the recipe now
        self.epochs_per_slice = slice_epochs(self.stage.epochs, slices)
        self.members = nn.ModuleList(copy.deepcopy(template) for _ in range(shards))
        self.checkpoints = checkpoints if checkpoints is not None else MemoryCheckpoints()
        self.assignment: Assignment | None = None
        self.deleted: set[str] = set()
        self._data: Data | None = None
        self._index: dict[str, int] = {}

    # -- training -------------------------------------------------------------
    def fit(self, data: Data, ids: Sequence[Any] | None = None, assignment: Assignment | None = None,
            progress: Callable[[str], None] | None = None, executor: Any = None) -> "SISAEnsemble":
        """Train every shard on ``data`` (example i has id ``ids[i]``, default i), slice
        by slice, checkpointing each slice. ``assignment``: reuse an earlier one (to
        train from scratch on a subset with the same shards); else one is drawn.
        ``executor`` (:mod:`obliviate.core.executor`): the shards train as independent
        jobs, with the same result as one after the other."""
        keys = [id_hash(i) for i in (range(size(data)) if ids is None else ids)]
        if len(keys) != size(data):
            raise ValueError(f"{len(keys)} ids for {size(data)} examples")
        self._data, self._index = gathered(data), {k: i for i, k in enumerate(keys)}
        if assignment is None:
            assignment = Assignment.draw(keys, self.shards, self.slices, self.seed)
        elif (assignment.shards, assignment.slices) != (self.shards, self.slices):
            raise ValueError("the assignment has another number of shards or slices than this ensemble")
        self.assignment = assignment
        self.deleted = set(assignment.order) - set(keys)  # ids of the assignment absent here count as deleted
        if executor is None:
            for s in range(self.shards):
                self._init_shard(s, self.checkpoints)
                self._train_shard(s, 0, progress, self.checkpoints)
        else:
            for s, (entries, state) in enumerate(executor.map(self._fit_shard, range(self.shards))):
                for r, weights, manifest in entries:
                    self.checkpoints.put(s, r, weights, manifest)
                self.members[s].load_state_dict(state)
                self.members[s].eval()
        self.checkpoints.flush()
        return self

    def _fit_shard(self, s: int) -> tuple[list[tuple[int, dict, list[str]]], dict]:
        """Shard ``s`` from scratch, in whichever process runs it: its checkpoints (the
        initial weights first) and its final weights."""
        sink = MemoryCheckpoints()
        self._init_shard(s, sink)
        self._train_shard(s, 0, None, sink)
        return [(r, sink.get(s, r), sink.manifest(s, r)) for r in range(-1, self.slices)], sink.get(s, self.slices - 1)

    def attach(self, data: Data, ids: Sequence[Any] | None = None) -> "SISAEnsemble":
        """Bind the training data again (a restored ensemble): example i has id ``ids[i]``
        (default i); every id not yet deleted must be there, since a deletion retrains on them."""
        keys = [id_hash(i) for i in (range(size(data)) if ids is None else ids)]
        if len(keys) != size(data):
            raise ValueError(f"{len(keys)} ids for {size(data)} examples")
        missing = set(self.assignment.order) - self.deleted - set(keys)
        if missing:
            raise ValueError(f"{len(missing)} training example(s) of this ensemble are not in the data given")
        self._data, self._index = gathered(data), {k: i for i, k in enumerate(keys)}
        return self

    def record(self) -> dict[str, Any]:
        """What rebuilds this ensemble from its checkpoints (JSON-ready; ids as hashes only)."""
        return {"num_classes": self.num_classes, "shards": self.shards, "slices": self.slices, "recipe": self.recipe,
                "aggregate": self.aggregate, "seed": self.seed, "order": list(self.assignment.order),
                "deleted": sorted(self.deleted)}

    @classmethod
    def restore(cls, template: nn.Module, record: dict[str, Any], checkpoints: Checkpoints) -> "SISAEnsemble":
        """The ensemble of ``record`` (:meth:`record`), its shard models loaded from the
        last slice's checkpoints (checksums checked). :meth:`attach` the data before a deletion."""
        ensemble = cls(template, record["num_classes"], record["shards"], record["slices"], record["recipe"],
                       record["aggregate"], record["seed"], checkpoints)
        ensemble.assignment = Assignment(record["shards"], record["slices"], tuple(record["order"]))
        ensemble.deleted = set(record["deleted"])
        for s in range(ensemble.shards):
            ensemble.members[s].load_state_dict(checkpoints.get(s, ensemble.slices - 1))
        return ensemble.eval()

    def _init_shard(self, s: int, sink: Checkpoints) -> None:
        torch.manual_seed(derived_seed(self.seed, s))
        reinitialise(self.members[s])
        sink.put(s, -1, self.members[s].state_dict(), [])

    def _slice_keys(self, s: int, upto: int) -> list[str]:
        """The ids shard ``s`` trains on through slice ``upto``, in assignment order, deleted ids left out."""
        placed = self.assignment.place
        return [k for k in self.assignment.order if k not in self.deleted and placed[k][0] == s
                and placed[k][1] <= upto]

    def _train_shard(self, s: int, start: int, progress, sink: Checkpoints) -> None:
        """Slices ``start``..R−1 of shard ``s``, from the checkpoint before ``start`` (in ``sink``)."""
        model = self.members[s]
        model.load_state_dict(sink.get(s, start - 1))
        for r in range(start, self.slices):
            keys = self._slice_keys(s, r)
            epochs = self.epochs_per_slice[r]
            if keys and epochs:
                subset = Subset(self._data, [self._index[k] for k in keys])
                stage = _SliceTraining(**(self.recipe | {"epochs": epochs}))
                generator = seed_everything(derived_seed(self.seed, s, r + 1))
                stage.apply(model, UnlearnData(subset, subset, self.num_classes), generator)
            model.eval()
            sink.put(s, r, model.state_dict(), keys)
            if progress:
                progress(f"shard {s + 1}/{self.shards}, slice {r + 1}/{self.slices}: {len(keys)} examples")

    # -- unlearning ------------------------------------------------------------
    def unlearn(self, ids: Sequence[Any], progress: Callable[[str], None] | None = None) -> DeletionReport:
        """Delete ``ids``: retrain each shard that held one from the last checkpoint
        before its first slice holding one. Unknown or already deleted ids are refused."""
        if self.assignment is None:
            raise ValueError("this SISA ensemble was never trained (call fit first)")
        keys = self.assignment.deletable(ids, self.deleted)
        placed = self.assignment.place
        start = time.perf_counter()
        first: dict[int, int] = {}
        for k in keys:
            s, r = placed[k]
            first[s] = min(first.get(s, self.slices), r)
        if self._data is None:
            raise ValueError("a restored SISA ensemble needs its training data to retrain: call attach(data, ids)")
        self.deleted |= set(keys)
        for s, r in sorted(first.items()):
            self._train_shard(s, r, progress, self.checkpoints)
        self.checkpoints.flush()
        return DeletionReport(len(keys), self.slices, first, time.perf_counter() - start)

    # -- prediction ---------------------------------------------------------------
    def active(self) -> list[int]:
        """The shards that still hold an example (an emptied shard no longer votes)."""
        placed = self.assignment.place if self.assignment else {}
        held = {placed[k][0] for k in placed if k not in self.deleted}
        return sorted(held)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the aggregated class probabilities: the mean of the shard models'
        softmax ("softmax"), or the share of their votes ("vote"; a class no shard
        votes for gets log 1e-12)."""
        shards = self.active() or list(range(self.shards))
        outputs = torch.stack([self.members[s](x) for s in shards])
        if self.aggregate == "softmax":
            return outputs.softmax(-1).mean(0).log()
        votes = nn.functional.one_hot(outputs.argmax(-1), outputs.shape[-1]).to(outputs.dtype).mean(0)
        return votes.clamp_min(1e-12).log()

    def manifests(self) -> dict[tuple[int, int], list[str]]:
        """(shard, slice) -> the id hashes the checkpoint the ensemble depends on was trained on."""
        return {(s, r): self.checkpoints.manifest(s, r) for s in range(self.shards) for r in range(self.slices)}
