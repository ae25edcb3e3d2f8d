"""A deployable SISA ensemble for deletion requests (:mod:`obliviate.core.deploy`).

Versions share the checkpoint files of the shards a deletion did not touch: each
version is an index file ``v<N>.json`` (the checkpoints it uses and the ensemble's
record) in the model's directory. A deletion builds the next version under
``pending.json`` (new files only; the deployed index is never touched), ``save``
writes it as ``v<N+1>.json``, and ``purge``, once the ledger has promoted it, removes
the older indexes and every checkpoint file only they used: no stored weights were
trained on a deleted id afterwards.

Verification adds what only exact unlearning can show: no checkpoint the new
ensemble depends on lists a deleted id in its manifest, and (when affordable) the
new ensemble equals, weight for weight, SISA trained from scratch without the ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch.utils.data import Subset

from obliviate.classify.deploy import ClassifierDeployment
from obliviate.core.deploy import Stored, Unlearned, id_hash
from obliviate.core.store import file_sha256
from obliviate.exact.checkpoints import DirectoryCheckpoints
from obliviate.exact.sisa import SISAEnsemble

PENDING = "pending.json"


class SISADeployment(ClassifierDeployment):
    kind = "sisa"
    default_method = "sisa"

    def __init__(self, task: str, data_dir: str | None = None, shards: int = 4, slices: int = 1,
                 aggregate: str = "softmax"):
        super().__init__(task, data_dir)
        if shards < 1 or slices < 1:
            raise ValueError(f"a SISA deployment needs shards >= 1 and slices >= 1, got {shards} and {slices}")
        self.shards, self.slices, self.aggregate = shards, slices, aggregate

    def spec(self) -> dict[str, Any]:
        return super().spec() | {"shards": self.shards, "slices": self.slices, "aggregate": self.aggregate}

    def _ensemble(self, seed: int) -> SISAEnsemble:
        return SISAEnsemble(self.the_task.make_model(), self.the_task.num_classes, self.shards, self.slices,
                            self.the_task.recipe, self.aggregate, seed)

    def train(self, seed: int):
        import time

        start = time.perf_counter()
        ensemble = self._ensemble(seed).fit(self.the_task.train)
        return ensemble, time.perf_counter() - start

    def load_given(self, path: str):
        raise ValueError("a SISA deployment is trained by obliviate (its shards and slice checkpoints): register it "
                         "without --model")

    # -- storage ---------------------------------------------------------------------
    def save(self, model: SISAEnsemble, directory: Path, version: int) -> Stored:
        name = f"v{version}.json"
        store = model.checkpoints
        if not (isinstance(store, DirectoryCheckpoints) and store.root == directory):
            target = DirectoryCheckpoints(directory, name)
            for s in range(model.shards):
                for r in range(-1, model.slices):
                    target.put(s, r, store.get(s, r), store.manifest(s, r))
            store = target
        store.save_index(name, extra={"ensemble": model.record()})
        return Stored(name, file_sha256(directory / name))

    def load(self, directory: Path, stored: Stored) -> SISAEnsemble:
        path = directory / stored.file
        if not path.is_file() or file_sha256(path) != stored.sha256:
            raise ValueError(f"model index {path} is missing or damaged: its SHA-256 does not match the ledger")
        record = json.loads(path.read_text())["ensemble"]
        return SISAEnsemble.restore(self.the_task.make_model(), record, DirectoryCheckpoints(directory, stored.file))

    def purge(self, directory: Path, live: list[Stored]) -> list[str]:
        keep = {s.file for s in live}
        removed = []
        for path in directory.glob("*.json"):
            if path.name not in keep and (path.name == PENDING or re.fullmatch(r"v\d+\.json", path.name)):
                path.unlink()
                removed.append(path.name)
        return removed + DirectoryCheckpoints(directory).collect()

    # -- unlearning and evidence ----------------------------------------------------------
    def _remaining(self, deleted: list[str], forget: list[str] = ()) -> list[int]:
        gone = {int(i) for i in deleted} | {int(i) for i in forget}
        return [i for i in range(len(self.the_task.train)) if i not in gone]

    def unlearn(self, model: SISAEnsemble, deleted, forget, method, hparams, seed) -> Unlearned:
        if method != "sisa":
            raise ValueError(f"a SISA deployment unlearns with method 'sisa' only ({method!r} is approximate and "
                             "would break its exactness)")
        if hparams:
            raise ValueError("sisa takes no hyperparameters when deleting: shards, slices and recipe were fixed "
                             "when the model was registered")
        store = model.checkpoints
        if not isinstance(store, DirectoryCheckpoints):
            raise ValueError("this SISA ensemble is not stored in a model directory")
        work = SISAEnsemble.restore(self.the_task.make_model(), model.record(), store.fork(PENDING))
        keep = self._remaining(deleted)
        work.attach(Subset(self.the_task.train, keep), ids=keep)
        report = work.unlearn(forget)
        note = (f"retrained {len(report.retrained)} of {work.shards} shards, {report.slices_retrained} of "
                f"{work.shards * work.slices} slices")
        return Unlearned(work, "sisa", {"shards": work.shards, "slices": work.slices, "aggregate": work.aggregate},
                         report.seconds, [], note)

    def verify(self, before, after: SISAEnsemble, deleted, forget, retrain) -> dict[str, Any]:
        out = super().verify(before, after, deleted, forget, retrain=False)
        gone = {id_hash(i) for i in list(deleted) + list(forget)}
        listed = [(s, r) for (s, r), manifest in after.manifests().items() if gone & set(manifest)]
        out["manifests_clean"] = not listed
        if retrain:  # SISA from scratch without the ids, with the same assignment: must be the same ensemble
            keep = self._remaining(deleted, forget)
            scratch = SISAEnsemble(self.the_task.make_model(), after.num_classes, after.shards, after.slices,
                                   after.recipe, after.aggregate, after.seed)
            scratch.fit(Subset(self.the_task.train, keep), ids=keep, assignment=after.assignment)
            theirs, ours = scratch.state_dict(), after.state_dict()
            out["identical_to_sisa_from_scratch"] = all(theirs[k].equal(ours[k]) for k in ours)
        return out
