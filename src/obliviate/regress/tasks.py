"""Regression tasks (no downloads) and their forget specs.

``diabetes``: scikit-learn's diabetes data (442 patients, 10 standardised features,
the disease progression one year later; bundled with scikit-learn, so nothing is
downloaded; California housing is not bundled, it is fetched from the network).
A fixed 25% test split, 10% of the rest for validation. Targets are standardised
for training; RMSE is reported in the target's own units.

Forget specs: ``random:FRAC`` (a random FRAC of the training set), ``range:LO:HI``
(every training example whose target is in [LO, HI): the paper's "forget an age
range" on AgeDB), ``ids:PATH`` (training-split indices, one per line).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.classify.tasks import read_ids
from obliviate.regress.models import RegressionMLP


@dataclass(frozen=True)
class RegressionSplit:
    spec: str
    forget_ids: torch.Tensor
    forget: TensorDataset
    retain: TensorDataset
    val: TensorDataset
    test: TensorDataset


@dataclass(frozen=True)
class RegressionTask:
    name: str
    description: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    make_model: Callable[[], nn.Module]
    recipe: dict
    test_fraction: float = 0.25
    val_fraction: float = 0.1
    split_seed: int = 0

    @cached_property
    def _data(self) -> dict[str, Any]:
        from sklearn.model_selection import train_test_split

        x, y = self.load()
        x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=self.test_fraction, random_state=self.split_seed)
        x_tr, x_val, y_tr, y_val = train_test_split(x_rest, y_rest, test_size=self.val_fraction,
                                                    random_state=self.split_seed)
        mean, std = float(y_tr.mean()), float(y_tr.std())

        def ds(a, b):
            return TensorDataset(torch.as_tensor(a, dtype=torch.float32),
                                 torch.as_tensor((b - mean) / std, dtype=torch.float32)[:, None])

        return {"train": ds(x_tr, y_tr), "val": ds(x_val, y_val), "test": ds(x_test, y_test),
                "targets": torch.as_tensor(y_tr, dtype=torch.float32), "scale": std}

    @property
    def train(self) -> TensorDataset:
        return self._data["train"]

    @property
    def target_scale(self) -> float:
        """The training targets' standard deviation: RMSE in the target's units is this × standardised RMSE."""
        return self._data["scale"]

    def split(self, spec: str) -> RegressionSplit:
        """Resolve a forget spec (one-line ``ValueError`` for anything that does not fit)."""
        kind, _, value = spec.partition(":")
        x, y = self.train.tensors
        n = len(y)
        try:
            if kind == "random":
                frac = float(value)
                if not 0 < frac < 1:
                    raise ValueError
                order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed))
                ids = order[:max(1, round(frac * n))].sort().values
            elif kind == "range":
                low, high = (float(v) for v in value.split(":"))
                targets = self._data["targets"]
                ids = torch.nonzero((targets >= low) & (targets < high)).flatten()
            elif kind == "ids":
                ids = read_ids(value, n)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"bad forget spec {spec!r} for {self.name}; use random:FRAC (0 < FRAC < 1), "
                             "range:LO:HI (targets in [LO, HI)) or ids:PATH") from None
        if len(ids) == 0 or len(ids) == n:
            raise ValueError(f"forget spec {spec!r} selects {'no' if len(ids) == 0 else 'every'} training example")
        keep = torch.ones(n, dtype=torch.bool)
        keep[ids] = False
        return RegressionSplit(spec, ids, TensorDataset(x[ids], y[ids]), TensorDataset(x[keep], y[keep]),
                               self._data["val"], self._data["test"])


def _load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return data.data.astype(np.float32) / data.data.std(0).astype(np.float32), data.target.astype(np.float32)


TASKS = {
    "diabetes": RegressionTask(
        "diabetes", "scikit-learn diabetes (442 patients, 10 features; bundled), MLP 64-64",
        _load_diabetes, lambda: RegressionMLP(10), {"epochs": 40, "lr": 1e-3, "batch_size": 32}),
}


def get_task(name: str) -> RegressionTask:
    if name not in TASKS:
        raise ValueError(f"unknown regression task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]
