"""Task-vector negation. Ilharco et al., "Editing Models with Task Arithmetic",
ICLR 2023 (the forgetting-by-negation baseline of MUSE and of NegMerge).

Fine-tune a copy of the model on the forget set alone (cross-entropy, true labels):
τ = θ_ft − θ0 is what learning the forget set "more" looks like. The unlearned model
is θ0 − λ·τ. As in the reference code, λ is chosen on held-out signals: the
largest λ whose retain accuracy stays within ``max_retain_drop`` points (the
reference keeps the control task at 95% of its accuracy) and that brings forget
accuracy to the retrained-model target when that is known
(:func:`~obliviate.classify.loop.search_strength`, from ``scale``).

Choice: only parameters move; normalisation statistics (buffers) stay the original
model's, since a fine-tuning on a few hundred forget examples would overwrite them.
A model that already fits its forget set perfectly gives a small τ (little loss
left to descend); λ is searched relative to it, so the direction matters, not its
length.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.classify.data import UnlearnData
from obliviate.classify.loop import History, LossMethod, Method, along, search_strength, train_loop
from obliviate.core.registry import register


@dataclass
class _ForgetFineTune(LossMethod):
    """Plain fine-tuning on the forget set (the τ of task arithmetic): no small-data
    extension, no learning-rate backoff (both aim at the retrained target, the
    opposite of what this fine-tuning is for)."""

    min_steps: int = 0
    adapt_lr: bool = False
    drive = "forget"

    def loss(self, model, batch):
        x, y = batch.forget
        return F.cross_entropy(model(x), y)


def forget_task_vector(model: nn.Module, data: UnlearnData, generator: torch.Generator, *,
                       epochs: int, lr: float, batch_size: int) -> dict[str, torch.Tensor]:
    """τ = θ_ft − θ0 for each trainable parameter, θ_ft a copy of ``model``
    fine-tuned on ``data.forget`` (SGD, momentum 0.9, no weight decay)."""
    tuned = copy.deepcopy(model)
    forget_only = UnlearnData(data.forget, None, data.num_classes)
    train_loop(tuned, _ForgetFineTune(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=0.0),
               forget_only, generator)
    start = dict(model.named_parameters())
    return {n: (p.detach() - start[n].detach()) for n, p in tuned.named_parameters() if p.requires_grad}


def negate(model: nn.Module, data: UnlearnData, task_vector: dict[str, torch.Tensor], scale: float,
           max_retain_drop: float) -> tuple[float, str]:
    """θ0 − λ·τ with λ searched from ``scale`` (see the module docstring)."""
    minus = {n: -t for n, t in task_vector.items()}
    return search_strength(model, data, along(model, minus), scale, max_retain_drop)


@register(
    "task_vector", track="classifier", needs=("forget", "retain", "labels"),
    paper="Ilharco et al., ICLR 2023",
    idea="fine-tune on the forget set, then subtract that weight difference from the model",
)
@dataclass
class TaskVector(Method):
    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 32
    scale: float = 1.0  # λ to start the search from
    max_retain_drop: float = 5.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or not self.lr > 0 or self.batch_size < 1 or not self.scale > 0:
            raise ValueError("task_vector.epochs and batch_size must be >= 1, lr and scale > 0")

    def apply(self, model, data, generator, progress=None) -> History:
        tau = forget_task_vector(model, data, generator, epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)
        self.strength, note = negate(model, data, tau, self.scale, self.max_retain_drop)
        return History(stop_reason=note)
