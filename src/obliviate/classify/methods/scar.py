"""SCAR: selective distillation for class- and architecture-agnostic unlearning.
Bonato, Cotogni and Sabetta, "Is Retain Set All You Need in Machine Unlearning?
Restoring Performance of Unlearned Models with Out-Of-Distribution Images", ECCV 2024.

DUCK's successor, with no training on the retain set:

- *forget*: each forget example's penultimate features are pulled toward the nearest
  wrong class distribution under a modified Mahalanobis distance (Tukey transform
  f^β of the features, L2-normalised, minus the L2-normalised class mean, through
  the inverse of the class covariance shrunk twice by γ₁·mean(diag)·I +
  γ₂·mean(off-diag)·(1−I) and normalised to a correlation matrix), the target class
  chosen from the original model's features and kept;
- *retain*: the original model is distilled into the unlearned one on
  out-of-distribution images, KL(original ‖ unlearned) on their logits. When whole
  classes are forgotten, images the original puts in a forgotten class are left out
  and the original's logits of the forgotten classes are set to the batch minimum
  (the "distillation trick").

As in the reference code (jbonato's ``Mahalanobis`` method), class statistics come from the
original model's features on the retain set (a sample of ``stats_samples``); the
retain set is never trained on. Adam, λ_forget = 1, λ_retain = 5, β = 0.5, γ₁ = γ₂ =
3; training stops at the retrained-model forget accuracy (shared early stopping).

``self_forget=True`` is the paper's self-forget variant: the forget set is not used
at all (only its class identifiers, so it is class-level only); OOD images the
original model puts in a forgotten class stand in for it.

Choices: the OOD images are the user's when ``surrogate`` names a ``.npy`` file of
inputs (shape (N, *input shape), e.g. CIFAR-100 images for a CIFAR-10 model, as in
the paper); by default (``"shuffled"``) ``surrogate_size`` images built by shuffling
each input feature (pixel) independently across a retain sample: every value is a
real one, every image is out of distribution (the built-in tasks have no second
dataset). With self-forget the forget accuracy of the stand-ins says nothing about
the real forget set, so training runs its epochs without stopping at the target. Features that
can be negative (not after a ReLU) get the signed transform sign(f)·|f|^β, where the
reference's f^β would be NaN.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from obliviate.classify.data import UnlearnData, batches, labels, predict, sample, size, tensors
from obliviate.classify.loop import AscentMethod
from obliviate.classify.models import features_and_logits
from obliviate.core.devices import to_model
from obliviate.core.registry import register


def tukey(features: torch.Tensor, beta: float) -> torch.Tensor:
    """f^β elementwise (signed for negative entries)."""
    return features.sign() * features.abs().pow(beta)


def shrink(cov: torch.Tensor, gamma1: float, gamma2: float) -> torch.Tensor:
    """cov + γ₁·mean(diag)·I + γ₂·mean(nonzero off-diagonal)·(1 − I) (the reference's shrinkage)."""
    eye = torch.eye(len(cov), dtype=cov.dtype, device=cov.device)
    off = cov * (1 - eye)
    nonzero = off != 0
    off_mean = off.sum() / nonzero.sum() if nonzero.any() else off.new_zeros(())
    return cov + gamma1 * eye * cov.diagonal().mean() + gamma2 * (1 - eye) * off_mean


def correlation(cov: torch.Tensor) -> torch.Tensor:
    sigma = cov.diagonal().sqrt()
    return cov / (sigma[:, None] * sigma[None, :])


def class_statistics(features: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, beta: float,
                     gamma1: float, gamma2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class of ``classes``: the mean of the Tukey-transformed features and the
    pseudo-inverse of their covariance, shrunk twice and normalised (the reference
    applies the shrinkage twice)."""
    means, inverses = [], []
    for c in classes.tolist():
        t = tukey(features[y == c], beta)
        means.append(t.mean(0))
        cov = torch.cov(t.T) if len(t) > 1 else torch.zeros(t.shape[1], t.shape[1], dtype=t.dtype, device=t.device)
        cov = correlation(shrink(shrink(cov, gamma1, gamma2), gamma1, gamma2))
        inverses.append(torch.linalg.pinv(cov))
    return torch.stack(means), torch.stack(inverses)


def mahalanobis(features: torch.Tensor, means: torch.Tensor, inverses: torch.Tensor, beta: float) -> torch.Tensor:
    """(n, classes) distances: d = (û − m̂_c)ᵀ S_c⁻¹ (û − m̂_c), û and m̂_c the L2-normalised
    Tukey-transformed features and class means."""
    diff = F.normalize(tukey(features, beta), dim=-1)[:, None, :] - F.normalize(means, dim=-1)[None]
    return torch.einsum("nci,cij,ncj->nc", diff, inverses, diff)


def shuffled_features(data, n: int, generator: torch.Generator) -> TensorDataset:
    """``n`` out-of-distribution inputs: each input feature drawn from another example
    of ``data`` (an independent permutation per feature)."""
    x = torch.cat([xb for xb, _ in batches(sample(data, n), 512, shuffle=False)])
    if len(x) < n:
        x = x[torch.randint(len(x), (n,), generator=generator)]
    flat = x.reshape(len(x), -1)
    order = torch.argsort(torch.rand(flat.shape, generator=generator), dim=0)
    return TensorDataset(torch.gather(flat, 0, order).reshape(x.shape), torch.zeros(len(x), dtype=torch.long))


def surrogate_inputs(surrogate: str, retain, n: int, generator: torch.Generator) -> TensorDataset:
    """The out-of-distribution images: a user's ``.npy`` file, or shuffled retain features."""
    if surrogate == "shuffled":
        return shuffled_features(retain, n, generator)
    path = Path(surrogate)
    if path.suffix != ".npy" or not path.is_file():
        raise ValueError(f"scar.surrogate must be 'shuffled' or an existing .npy file of inputs, got {surrogate!r}")
    x = torch.from_numpy(np.load(path, allow_pickle=False)).float()
    return TensorDataset(x, torch.zeros(len(x), dtype=torch.long))


@register(
    "scar", track="classifier", needs=("forget", "retain", "labels"),
    paper="Bonato et al., ECCV 2024",
    idea="pull forget features to the nearest wrong class (Mahalanobis), keep the rest by distilling on OOD images",
)
@dataclass
class SCAR(AscentMethod):
    epochs: int = 30
    lr: float = 1e-3
    lambda_forget: float = 1.0
    lambda_retain: float = 5.0
    beta: float = 0.5
    gamma1: float = 3.0
    gamma2: float = 3.0
    surrogate_size: int = 2048
    stats_samples: int = 4096
    self_forget: bool = False
    surrogate: str = "shuffled"  # or a .npy file of out-of-distribution inputs

    tune_params = ("lambda_retain",)  # searched by `obliviate tune`

    drive = "forget"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.beta <= 1 or self.gamma1 < 0 or self.gamma2 < 0:
            raise ValueError("scar.beta must be in (0, 1], gamma1 and gamma2 >= 0")
        if self.surrogate_size < 1 or self.stats_samples < 2:
            raise ValueError("scar.surrogate_size must be >= 1 and stats_samples >= 2")

    @torch.no_grad()
    def setup(self, model, data, generator) -> UnlearnData:
        model.eval()
        self.original = copy.deepcopy(model).requires_grad_(False)
        feats, ys = [], []
        for x, y in batches(sample(data.retain, self.stats_samples), 512, shuffle=False):
            x, y = to_model(model, x, y)
            feats.append(features_and_logits(model, x)[0].float())
            ys.append(y)
        feats, ys = torch.cat(feats), torch.cat(ys)
        self.classes = ys.unique()
        self.means, self.inverses = class_statistics(feats, ys, self.classes, self.beta, self.gamma1, self.gamma2)
        forgotten = labels(data.forget).unique()
        self.forgotten = forgotten[~torch.isin(forgotten, labels(data.retain))].to(ys.device)
        if self.self_forget and not len(self.forgotten):
            raise ValueError("scar.self_forget is class-level only: the forget set must hold whole classes")

        ood = surrogate_inputs(self.surrogate, data.retain, self.surrogate_size, generator)
        try:
            logits, _ = predict(model, ood)
        except RuntimeError as err:
            raise ValueError(f"scar.surrogate: the model cannot run on the surrogate inputs of shape "
                             f"{tuple(tensors(ood)[0].shape)}: {str(err).splitlines()[0]}") from None
        guess = logits.argmax(1)
        in_forgotten = torch.isin(guess, self.forgotten.cpu())
        xy = tensors(ood) or (torch.cat([x for x, _ in batches(ood, 512, shuffle=False)]), guess)
        keep = ~in_forgotten
        if not keep.any():
            raise ValueError("scar: the original model puts every out-of-distribution image in a forgotten class; "
                             "pass another surrogate dataset")
        distill_set = TensorDataset(xy[0][keep], guess[keep])  # labels unused: the original's logits are the target
        forget = data.forget
        if self.self_forget:
            if not in_forgotten.any():
                raise ValueError("scar.self_forget: the original model puts no out-of-distribution image in a "
                                 "forgotten class; pass a larger surrogate_size or another surrogate dataset")
            forget = TensorDataset(xy[0][in_forgotten], guess[in_forgotten])
        self.surrogate_used = size(distill_set)
        # the loop cycles the "retain" set alongside the forget set: here, the OOD images (never the retain set)
        target = None if self.self_forget else data.target_forget_acc
        return UnlearnData(forget, distill_set, data.num_classes, target)

    @torch.no_grad()
    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Index (into ``self.classes``) of each forget example's nearest wrong class in
        the original model's features."""
        feats, _ = features_and_logits(self.original, x)
        d = mahalanobis(feats.float(), self.means, self.inverses, self.beta)
        d = d.masked_fill(self.classes[None, :] == y[:, None], float("inf"))
        return d.argmin(1)

    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = self.original(x)
            if len(self.forgotten):
                out[:, self.forgotten] = out.min()
        return out

    def loss(self, model, batch):
        (xf, yf), (xs, _) = batch.forget, batch.retain
        feats, _ = features_and_logits(model, xf)
        pull = mahalanobis(feats.float(), self.means, self.inverses, self.beta).gather(1, self.targets(xf, yf)[:, None])
        student = F.log_softmax(model(xs), dim=1)
        teacher = F.log_softmax(self.teacher_logits(xs), dim=1)
        keep = F.kl_div(student, teacher, reduction="batchmean", log_target=True)
        return self.lambda_forget * pull.mean() + self.lambda_retain * keep

    def teardown(self, model):
        del self.original
