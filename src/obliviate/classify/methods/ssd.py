"""SSD: selective synaptic dampening. Foster et al., "Fast Machine Unlearning Without
Retraining Through Selective Synaptic Dampening", AAAI 2024.

No training. Importances I_D (whole training set, forget ∪ retain) and I_f (forget
set) are diagonal Fisher informations, E[(∂ CE/∂θ)²]; every parameter with
I_f > α·I_D is dampened, θ ← θ·min(λ·I_D / I_f, 1), which only ever shrinks it.

Choice: squared gradients are per example (the paper's definition; computed
vectorised), where the reference code squares mini-batch gradients. Mini-batch
squares add a batch-size-dependent term for coherent forget gradients, so the
reference's α = 10 assumed its batch size; per example, α is batch-free but
bounded: since D contains D_f, I_f / I_D ≤ n / n_f, so α must stay below that
(about 10 for one class of ten). Default α = 3 (tuned on the built-in tasks).
``importance_batch_size=N`` computes the reference's importances instead: the mean
over batches of N (in the data's order, D as retain then forget) of the squared
batch-mean gradient; the ``paper`` preset uses it with the reference's α = 10, λ = 1,
N = 64 (if-loops/selective-synaptic-dampening, ResNet-18 on CIFAR).
Strength: α and λ are the start of :func:`~obliviate.classify.loop.search_strength`
at strength s = 1, selecting with α/s and dampening with λ/s: s doubles while forget
accuracy is above the retrained-model target (when known) and halves while retain
accuracy falls more than ``max_retain_drop`` points, so the selection adapts to the
spread of the user's importance ratios. ``adapt_strength=False`` is the reference's
single update at α and λ.

Known limitations, measured (bench/ssd_at_scale.py): dampening only shrinks weights
toward zero, so it cannot push a class's logit below the others where the model
recognises the class by making the *other* logits negative. On 32k synthetic
examples with an MLP, zeroing the forgotten class's whole output row and bias still
leaves 30% of the class recognised, and SSD at its defaults ends at 49% (reference
importances: 15%) against the retrained model's 0%: flagged "under_forgot". A random
forget set shares its important parameters with the retain set, so SSD barely forgets
it; and on an over-confident model whose gradients vanish it selects nothing
("did_not_forget").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

import torch.nn.functional as F

from obliviate.classify.data import Data, union
from obliviate.classify.grads import Grads, LossFn, per_sample_mean, summed_batch_grads
from obliviate.classify.loop import History, Method, search_strength
from obliviate.core.registry import register


def dampen(model: torch.nn.Module, importance_all: Grads, importance_forget: Grads,
           alpha: float, lam: float) -> dict[str, torch.Tensor]:
    """The SSD update, in place; returns the boolean masks of the parameters selected."""
    selected = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in importance_forget:
                continue
            i_all, i_f = importance_all[name], importance_forget[name]
            chosen = i_f > alpha * i_all
            # chosen implies i_f > alpha * i_all >= 0, so the division is safe where it is used
            factor = torch.where(chosen, lam * i_all / i_f, torch.ones_like(p)).clamp(max=1.0)
            p.mul_(factor)
            selected[name] = chosen
    return selected


@register(
    "ssd", track="classifier", needs=("forget", "retain", "labels"),
    paper="Foster et al., AAAI 2024",
    idea="shrink the weights far more important to the forget set than to all data (no training)",
)
@dataclass
class SSD(Method):
    tune_params = ("alpha", "lam")  # searched by `obliviate tune`

    alpha: float = 3.0  # selection: forget importance must exceed alpha x overall importance
    lam: float = 1.0    # dampening constant
    max_retain_drop: float = 3.0
    importance_batch_size: int | None = None  # None: per-example squares; N: the reference's batch squares
    adapt_strength: bool = True  # False: one update at alpha, lam (the reference), no strength search

    # the importance: mean of transform(gradient of loss) (SSD: squared cross-entropy gradients)
    importance_loss: ClassVar[LossFn] = staticmethod(F.cross_entropy)
    importance_transform: ClassVar = staticmethod(torch.square)

    def __post_init__(self) -> None:
        name = self.method_name
        if not self.alpha > 0 or not self.lam > 0:
            raise ValueError(f"{name}.alpha and {name}.lam must be > 0, got {self.alpha}, {self.lam}")
        if self.importance_batch_size is not None and self.importance_batch_size < 1:
            raise ValueError(f"{name}.importance_batch_size must be >= 1 (or none), got {self.importance_batch_size}")

    def importance(self, model: torch.nn.Module, data: Data) -> Grads:
        if self.importance_batch_size is None:
            return per_sample_mean(model, data, self.importance_loss, self.importance_transform)
        summed, batches = summed_batch_grads(model, data, self.importance_batch_size, self.importance_loss,
                                             self.importance_transform)
        return {name: total / batches for name, total in summed.items()}

    def apply(self, model, data, generator, progress=None) -> History:
        # the reference batches D as retain then forget; per example the order does not matter
        everything = union(data.forget, data.retain) if self.importance_batch_size is None else \
            union(data.retain, data.forget)
        importance_all = self.importance(model, everything)
        importance_forget = self.importance(model, data.forget)
        start = {n: p.detach().clone() for n, p in model.named_parameters()}

        def set_strength(s: float) -> None:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(start[name])
            if s > 0:
                self.selected = dampen(model, importance_all, importance_forget, self.alpha / s, self.lam / s)

        if not self.adapt_strength:
            set_strength(1.0)
            self.strength = 1.0
            return History()
        self.strength, note = search_strength(model, data, set_strength, 1.0, self.max_retain_drop)
        return History(stop_reason=note)
