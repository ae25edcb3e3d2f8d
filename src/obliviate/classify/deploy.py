"""A deployable classifier (one model) for deletion requests (:mod:`obliviate.core.deploy`).

The model is a task's architecture trained on the task's training split (or the
user's own weights of it, ``--model FILE``); example i of the training split has id
``i``. A deletion unlearns the requested examples with any classifier method, the
retain set being the training split without every id deleted so far; verification
scores both models on forget / retain / test data, runs membership attacks on the
deleted examples and, when it is affordable, compares with a model retrained
without them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file
from torch.utils.data import Subset

from obliviate.classify.evaluate import evaluate
from obliviate.classify.metrics import true_class_confidence
from obliviate.classify.tasks import get_task
from obliviate.classify.training import load_weights, train_from_scratch
from obliviate.classify.unlearn import unlearn_classifier
from obliviate.core.deploy import Deployment, Stored, Unlearned
from obliviate.core.metrics import member_rate_at_fpr
from obliviate.core.store import commit_file, file_sha256, temp_file


class ClassifierDeployment(Deployment):
    kind = "model"
    default_method = "salun"

    def __init__(self, task: str, data_dir: str | None = None):
        self.task = task
        self.data_dir = data_dir
        self.the_task = get_task(task, data_dir)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": self.task, "data_dir": self.data_dir}

    def training_ids(self) -> list[str]:
        return [str(i) for i in range(len(self.the_task.train))]

    def train(self, seed: int):
        return train_from_scratch(self.the_task, self.the_task.train, seed)

    def load_given(self, path: str):
        return load_weights(self.the_task, path)

    # -- storage ---------------------------------------------------------------------
    def save(self, model, directory: Path, version: int) -> Stored:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(directory)
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
            digest = file_sha256(tmp)
            name = f"v{version}-{digest[:16]}.safetensors"
            commit_file(tmp, directory / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(name, digest)

    def load(self, directory: Path, stored: Stored):
        path = directory / stored.file
        if not path.is_file() or file_sha256(path) != stored.sha256:
            raise ValueError(f"model file {path} is missing or damaged: its SHA-256 does not match the ledger")
        model = self.the_task.make_model()
        model.load_state_dict(load_file(str(path)))
        return model.eval()

    def purge(self, directory: Path, live: list[Stored]) -> list[str]:
        keep = {s.file for s in live}
        removed = []
        for path in directory.glob("v*.safetensors"):
            if path.name not in keep and re.fullmatch(r"v\d+-[0-9a-f]{16}\.safetensors", path.name):
                path.unlink()
                removed.append(path.name)
        return removed

    # -- unlearning and evidence ----------------------------------------------------------
    def _parts(self, deleted: list[str], forget: list[str]) -> tuple[Subset, Subset]:
        train = self.the_task.train
        gone = {int(i) for i in deleted} | {int(i) for i in forget}
        return (Subset(train, [int(i) for i in forget]),
                Subset(train, [i for i in range(len(train)) if i not in gone]))

    def unlearn(self, model, deleted, forget, method, hparams, seed) -> Unlearned:
        forget_set, retain_set = self._parts(deleted, forget)
        result = unlearn_classifier(model, forget_set, retain_set, method, seed,
                                    self.the_task.method_hparams(method, hparams), holdout=self.the_task.val)
        return Unlearned(result.model, method, result.hparams, result.seconds, list(result.flags), result.stop_reason)

    def verify(self, before, after, deleted, forget, retrain) -> dict[str, Any]:
        forget_set, retain_set = self._parts(deleted, forget)
        test = self.the_task.test
        out: dict[str, Any] = {"before": evaluate(before, forget_set, retain_set, test),
                               "after": evaluate(after, forget_set, retain_set, test)}
        for name, model in (("before", before), ("after", after)):
            # the deleted examples flagged "member" by a confidence threshold at 5% FPR on the test set
            out[name]["member_rate_at_5pct_fpr"] = 100 * member_rate_at_fpr(
                true_class_confidence(model, forget_set), true_class_confidence(model, test), 0.05)
        if retrain:
            retrained, seconds = train_from_scratch(self.the_task, retain_set, seed=0)
            reference = evaluate(retrained, forget_set, retain_set, test)
            out["retrained"] = reference | {"seconds": seconds}
            out["gaps"] = {k: v for k, v in evaluate(after, forget_set, retain_set, test, reference=reference).items()
                           if k.endswith("_gap")}
            gap = np.abs(true_class_confidence(after, forget_set) - true_class_confidence(retrained, forget_set))
            out["per_example_confidence_gap"] = {"mean": float(gap.mean()), "max": float(gap.max())}
        return out
