"""Small datasets of a user's own, not built-in tasks, each with an MLP trained by the
user (Adam) to 100% training accuracy, and the model retrained without one class: the
setting of issue 12's "defaults that forget on the user's model"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset


@dataclass
class OwnSetting:
    name: str
    original: nn.Module
    retrained: nn.Module
    forget: Subset
    retain: Subset
    test: Subset  # test examples of the other classes


def _arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "iris":
        return datasets.load_iris(return_X_y=True)
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "wine":
        return datasets.load_wine(return_X_y=True)
    if name == "blobs":
        return datasets.make_blobs(n_samples=600, centers=4, n_features=6, cluster_std=2.5, random_state=0)
    raise ValueError(name)


def _fit(x: torch.Tensor, y: torch.Tensor, classes: int, seed: int) -> nn.Module:
    """The user's recipe: a 2-hidden-layer MLP, Adam (lr 1e-2, batch 32) until every
    training example is right (at most 300 epochs)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, classes))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(300):
        for idx in torch.randperm(len(x), generator=g).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            if (model(x).argmax(1) == y).all():
                break
    return model.eval()


def own_setting(name: str, forget_class: int = 0, seed: int = 0) -> OwnSetting:
    features, labels = _arrays(name)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    features = (features - features.mean(0)) / (features.std(0) + 1e-12)
    x = torch.tensor(features[order], dtype=torch.float32)
    y = torch.tensor(labels[order], dtype=torch.long)
    n_train = int(0.8 * len(y))
    train, test = TensorDataset(x[:n_train], y[:n_train]), TensorDataset(x[n_train:], y[n_train:])
    classes = int(y.max()) + 1
    forget_ids = [i for i in range(n_train) if y[i] == forget_class]
    retain_ids = [i for i in range(n_train) if y[i] != forget_class]
    original = _fit(x[:n_train], y[:n_train], classes, seed)
    retrained = _fit(x[retain_ids], y[retain_ids], classes, seed)
    test_other = Subset(test, [i for i in range(len(test)) if y[n_train + i] != forget_class])
    return OwnSetting(name, original, retrained, Subset(train, forget_ids), Subset(train, retain_ids), test_other)
