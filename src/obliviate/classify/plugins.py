"""Plug-ins that any loss-based classifier method accepts: they change which forget
examples the method trains on, never its loss.

- ``reweight`` — LoReUn (Li, Shen, Wang and Kawaguchi, "LoReUn: Data Itself Implicitly
  Provides Cues to Improve Machine Unlearning", 2025): forget examples the model still
  fits well (small loss) are the hard ones to forget and get more weight,
  w_i ∝ exp(−ℓ_i / τ) with ℓ_i the cross-entropy at the true label; ``static``
  computes the weights once from the original model, ``dynamic`` from the current
  model before every epoch. The paper multiplies each example's forget loss by its
  weight; obliviate draws each epoch's forget examples with replacement in proportion
  to the weights, the same expected gradient for every method without touching its
  loss (the weighted loss itself needs per-example losses that not every method has).
- ``coreset`` — UPCORE (Patil, Sung, Hase, Peng, Chen and Bansal, "UPCORE:
  Utility-Preserving Coreset Selection for Balanced Unlearning", 2025): an Isolation
  Forest on the model's penultimate features of the forget set scores outliers,
  whose unlearning costs the most collateral damage; the method unlearns only the
  ``coreset`` share of most typical forget examples, and forgetting carries over to
  the pruned ones (measured on the whole forget set).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from obliviate.classify.data import UnlearnData, predict, size


def loss_weights(model: nn.Module, data: UnlearnData, temperature: float) -> torch.Tensor:
    """LoReUn's weights of the forget examples, w_i = n · softmax(−ℓ / τ)_i (mean 1)."""
    logits, y = predict(model, data.forget)
    losses = F.cross_entropy(logits[:, :data.num_classes], y, reduction="none")
    return len(losses) * torch.softmax(-losses.double() / temperature, dim=0)


def coreset(model: nn.Module, data: UnlearnData, keep: float, seed: int = 0) -> UnlearnData:
    """The data with its forget set reduced to the ``keep`` share of examples an
    Isolation Forest on the penultimate features finds most typical (UPCORE)."""
    from sklearn.ensemble import IsolationForest

    from obliviate.classify.residual import penultimate_features

    n = size(data.forget)
    k = max(1, round(keep * n))
    if k >= n:
        return data
    features, _ = penultimate_features(model, data.forget)
    typical = IsolationForest(random_state=seed).fit(features).score_samples(features)  # higher: more typical
    chosen = np.sort(np.argsort(-typical, kind="stable")[:k])
    return dataclasses.replace(data, forget=Subset(data.forget, chosen.tolist()))


def check(method) -> None:
    """One-line errors for bad plug-in options of a loss-based method."""
    name = method.method_name or type(method).__name__
    if method.reweight not in ("none", "static", "dynamic"):
        raise ValueError(f"{name}.reweight must be none, static or dynamic, got {method.reweight!r}")
    if not method.reweight_temperature > 0:
        raise ValueError(f"{name}.reweight_temperature must be > 0, got {method.reweight_temperature}")
    if not 0 < method.coreset <= 1:
        raise ValueError(f"{name}.coreset must be in (0, 1] (the share of forget examples kept), got {method.coreset}")


def refuse_loaders(method, data: UnlearnData) -> None:
    if (method.reweight != "none" or method.coreset < 1) and isinstance(data.forget, DataLoader):
        raise ValueError("reweight and coreset draw forget examples themselves: pass the forget set as a Dataset, "
                         "not a DataLoader")
