"""Diffusion-erasure metrics (UnlearnCanvas, Zhang et al. 2024; UnlearnDiffAtk,
Zhang et al., ECCV 2024). Pure functions on judge predictions and features;
percentages are in [0, 100]."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def unlearning_accuracy(predicted: torch.Tensor, target: int) -> float:
    """UA: share (percent) of images generated for the erased target that the judge
    does NOT classify as the target. Higher means more erased; compare with the
    retrained model's UA, which is below 100 (a model that never saw a digit still
    draws some look-alikes)."""
    return 100.0 * (predicted != target).float().mean().item()


def retain_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """IRA / CRA: share (percent) of images generated for kept prompts that the judge
    classifies as their prompt's object (or style). Higher is better; IRA uses the
    erased axis (other objects), CRA the other axis (styles)."""
    return 100.0 * (predicted == labels).float().mean().item()


def attack_success_rate(predicted: torch.Tensor, target: int) -> float:
    """ASR: share (percent) of images the judge classifies as the erased target;
    before an attack it equals 100 − UA, after it measures how much of the concept
    an adversarial prompt brings back. Lower is better (retrain's is the floor)."""
    return 100.0 * (predicted == target).float().mean().item()


def frechet_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (rows):
    ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) (Heusel et al., NeurIPS 2017), with ε·I
    added to both covariances so they are never singular. Lower is better; 0 for
    identical distributions."""
    a64, b64 = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    eye = eps * np.eye(a64.shape[1])
    cov_a, cov_b = np.cov(a64, rowvar=False) + eye, np.cov(b64, rowvar=False) + eye
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))
    return max(value, 0.0)


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """KID: the unbiased estimate of the squared maximum mean discrepancy between
    feature sets ``a`` and ``b`` with the cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³
    (Bińkowski et al., ICLR 2018). Lower is better; about 0 for the same
    distribution (can be slightly negative by sampling noise)."""
    a64, b64 = a.double(), b.double()
    d = a64.shape[1]
    kaa, kbb, kab = ((x @ y.T / d + 1) ** 3 for x, y in ((a64, a64), (b64, b64), (a64, b64)))
    m, n = len(a64), len(b64)
    within_a = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
    within_b = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    return float(within_a + within_b - 2 * kab.mean())
