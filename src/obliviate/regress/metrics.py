"""Regression scores of one model: RMSE and R² on the forget, retain and test sets, and
a loss-based membership attack (Tarun et al., "Deep Regression Unlearning", adapt the
classification metrics this way)."""

from __future__ import annotations

import torch
from torch import nn

from obliviate.core.metrics import svc_mia_efficacy


@torch.no_grad()
def predictions(model: nn.Module, data) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.tensors
    model.eval()
    return model(x).float(), y.float()


def rmse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error, in the units of ``y``. Lower fits better (on a forget set,
    the target is the retrained model's value, not 0)."""
    return float((pred - y).pow(2).mean().sqrt())


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot (scikit-learn's ``r2_score``).
    Higher fits better; 0 is the mean's prediction."""
    total = (y - y.mean()).pow(2).sum()
    return float(1 - (pred - y).pow(2).sum() / total) if total > 0 else float("nan")


def loss_mia_efficacy(model: nn.Module, forget, retain, test) -> float:
    """Share of the forget set a loss-based attack calls non-member: an SVC on the
    per-example squared error, trained with |test| retain examples as members and the
    test set as non-members (the classifier track's MIA-efficacy with the loss as the
    attack's feature). In [0, 1]; the target is the retrained model's value."""
    errors = [(lambda p, y: (p - y).pow(2).flatten().numpy())(*predictions(model, d)) for d in (retain, test, forget)]
    member, nonmember, target = errors
    return svc_mia_efficacy(member[:len(nonmember)], nonmember, target)


def evaluate(model: nn.Module, split, scale: float) -> dict[str, float]:
    """RMSE (target units) and R² on forget, retain and test, and MIA-efficacy (percent)."""
    out = {}
    for part in ("forget", "retain", "test"):
        pred, y = predictions(model, getattr(split, part))
        out[f"{part}_rmse"] = scale * rmse(pred, y)
        out[f"{part}_r2"] = r2(pred, y)
    out["mia_efficacy"] = 100 * loss_mia_efficacy(model, split.forget, split.retain, split.test)
    return out
