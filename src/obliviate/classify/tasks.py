"""Built-in classifier tasks (no downloads) and forget specs.

A task is its data (train / validation / test, fixed splits), a model factory and
the training recipe of its original model. A forget spec picks the forget set out
of the training split:

- ``class:K``      every training example of class K (class-wise forgetting);
- ``random:FRAC``  a random FRAC of the training examples (same set for every seed);
- ``ids:PATH``     the training-split indices listed in PATH, one per line;
- ``worst:FRAC``   the FRAC most memorised training examples, a proxy for the
                   worst-case forget set (see ``classify/worstcase.py``).

For class forgetting the test and validation sets are split in two: the other
classes (``test``/``val``, where TA is measured) and the forgotten class
(``forget_test``/``forget_val``), as the SalUn and l1-sparse papers report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.classify.models import MLP, SmallCNN

RECIPE_VERSION = 1  # bump when task data or training code changes what a recipe produces


@dataclass(frozen=True)
class ForgetSpec:
    kind: str  # "class", "random", "ids" or "worst"
    value: Any
    text: str

    @staticmethod
    def parse(text: str) -> "ForgetSpec":
        kind, sep, value = text.partition(":")
        if not sep or not value:
            raise ValueError(f"bad forget spec {text!r}; use class:K, random:FRAC, worst:FRAC or ids:PATH")
        if kind == "class":
            try:
                return ForgetSpec("class", int(value), text)
            except ValueError:
                raise ValueError(f"bad forget spec {text!r}: class must be an integer") from None
        if kind in ("random", "worst"):
            try:
                frac = float(value)
            except ValueError:
                raise ValueError(f"bad forget spec {text!r}: FRAC must be a number") from None
            if not 0 < frac < (0.5 if kind == "worst" else 1):
                raise ValueError(f"bad forget spec {text!r}: FRAC must be in (0, {0.5 if kind == 'worst' else 1})")
            return ForgetSpec(kind, frac, text)
        if kind == "ids":
            return ForgetSpec("ids", value, text)
        raise ValueError(f"unknown forget spec kind {kind!r} in {text!r}; use class:K, random:FRAC, worst:FRAC "
                         "or ids:PATH")


@dataclass
class Split:
    """The data of one forgetting request on a task."""

    spec: ForgetSpec
    forget_ids: torch.Tensor
    forget: TensorDataset
    retain: TensorDataset
    val: TensorDataset
    test: TensorDataset
    forget_val: TensorDataset | None = None
    forget_test: TensorDataset | None = None

    @property
    def forget_class(self) -> int | None:
        return self.spec.value if self.spec.kind == "class" else None


@dataclass(frozen=True)
class ClassifierTask:
    name: str
    description: str
    num_classes: int
    make_model: Callable[[], nn.Module]
    load: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    recipe: dict = field(default_factory=dict)  # hyperparameters of ``retrain``
    val_fraction: float = 0.1
    split_seed: int = 0

    @cached_property
    def _data(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        from sklearn.model_selection import train_test_split

        x, y, x_test, y_test = self.load()
        x_tr, x_val, y_tr, y_val = train_test_split(
            x, y, test_size=self.val_fraction, stratify=y, random_state=self.split_seed
        )

        def ds(a, b):
            return TensorDataset(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.long))

        return ds(x_tr, y_tr), ds(x_val, y_val), ds(x_test, y_test)

    @property
    def train(self) -> TensorDataset:
        """The training split; ``ids:`` forget specs index into it."""
        return self._data[0]

    @property
    def val(self) -> TensorDataset:
        return self._data[1]

    @property
    def test(self) -> TensorDataset:
        return self._data[2]

    def recipe_digest(self) -> str:
        """Identifies what training produces: recipe, data sizes and code version."""
        text = json.dumps(
            {"recipe": self.recipe, "version": RECIPE_VERSION, "n": len(self.train),
             "val": self.val_fraction, "split_seed": self.split_seed}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def split(self, spec: str | ForgetSpec) -> Split:
        """Resolve a forget spec into forget / retain / val / test sets (validated)."""
        spec = ForgetSpec.parse(spec) if isinstance(spec, str) else spec
        x, y = self.train.tensors
        n = len(y)
        if spec.kind == "class":
            if not 0 <= spec.value < self.num_classes:
                raise ValueError(
                    f"forget class {spec.value} out of range for task {self.name!r} "
                    f"(classes 0..{self.num_classes - 1})")
            ids = torch.nonzero(y == spec.value).flatten()
        elif spec.kind == "random":
            g = torch.Generator().manual_seed(self.split_seed)
            k = max(1, round(spec.value * n))
            ids = torch.randperm(n, generator=g)[:k].sort().values
        elif spec.kind == "worst":
            from obliviate.classify.worstcase import worst_case_ids

            ids = worst_case_ids(self, spec.value)
        else:
            ids = read_ids(spec.value, n)
        if len(ids) == 0:
            raise ValueError(f"forget spec {spec.text!r} selects no training example: the forget set is empty")
        if len(ids) == n:
            raise ValueError(
                f"forget spec {spec.text!r} selects the whole training set: nothing would be retained")
        keep = torch.ones(n, dtype=torch.bool)
        keep[ids] = False
        split = Split(spec, ids, TensorDataset(x[ids], y[ids]), TensorDataset(x[keep], y[keep]),
                      self.val, self.test)
        if spec.kind == "class":
            split.val, split.forget_val = _by_class(self.val, spec.value)
            split.test, split.forget_test = _by_class(self.test, spec.value)
        return split


def _by_class(data: TensorDataset, k: int) -> tuple[TensorDataset, TensorDataset]:
    x, y = data.tensors
    return TensorDataset(x[y != k], y[y != k]), TensorDataset(x[y == k], y[y == k])


def read_ids(path: str | Path, n: int) -> torch.Tensor:
    """Read forget indices (one per line, ``#`` comments allowed) and validate them."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"forget ids file {str(path)!r} does not exist")
    ids: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            ids.append(int(line))
        except ValueError:
            raise ValueError(f"{path}:{lineno}: {line!r} is not an integer index") from None
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise ValueError(f"forget ids out of range in {path}: {bad[:5]} (the training split has {n} examples, ids 0..{n - 1})")
    seen: set[int] = set()
    dups = sorted({i for i in ids if i in seen or seen.add(i)})
    if dups:
        raise ValueError(f"duplicated forget ids in {path}: {dups[:5]}")
    return torch.tensor(sorted(ids), dtype=torch.long)


# -- the built-in tasks ------------------------------------------------------------

def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    return _unpack(train_test_split(x, d.target, test_size=0.2, stratify=d.target, random_state=0))


def _unpack(parts):
    x_tr, x_te, y_tr, y_te = parts
    return x_tr, y_tr, x_te, y_te


def _load_mnist1d(num_samples: int = 5000, seed: int = 42):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    state = np.random.get_state()  # the generator seeds NumPy's global RNG; leave it as it was
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int64),
            d["x_test"].astype(np.float32), d["y_test"].astype(np.int64))


TASKS: dict[str, ClassifierTask] = {
    "digits": ClassifierTask(
        name="digits",
        description="scikit-learn 8x8 digits (1797 images), small CNN",
        num_classes=10,
        make_model=lambda: SmallCNN(num_classes=10),
        load=_load_digits,
        recipe=dict(epochs=30, lr=0.05, batch_size=64, optimizer="sgd", momentum=0.9,
                    weight_decay=5e-4, schedule="cosine"),
    ),
    "mnist1d": ClassifierTask(
        name="mnist1d",
        description="MNIST-1D generator (4000 train / 1000 test, length 40), MLP",
        num_classes=10,
        make_model=lambda: MLP(40, num_classes=10, hidden=256, depth=2),
        load=_load_mnist1d,
        recipe=dict(epochs=60, lr=0.05, batch_size=64, optimizer="sgd", momentum=0.9,
                    weight_decay=0.0, schedule="cosine"),
    ),
}


def get_task(name: str) -> ClassifierTask:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]
