"""UNSIR: unlearning by selective impair and repair. Tarun et al., "Fast Yet Effective
Machine Unlearning", IEEE TNNLS 2023.

For each forgotten class, inputs ("error-maximising noise") are optimised against
the frozen model to maximise its loss for that class, with an l2 penalty. Epoch 0
*impairs*: train on that noise, labelled as the class, together with the retain set,
at a high learning rate; the following epochs *repair* on the retain set alone.
Class-level only: the forget set must consist of whole classes (no retain example
of any forget class), otherwise it raises ``ValueError``.

Known limitation, refused: the impair works only where training on the noise, labelled
as the class, disturbs the model's response to the class's real inputs (digits'
CNN, mnist1d's MLP: forget accuracy 100 → 32% after the impair epoch). On an MLP a
user trained with Adam to 100% on a small tabular set (iris, wine, breast_cancer,
6-D blobs; tests/helpers/own_models.py) the noise lies far from the class's inputs:
the impair teaches "noise → class" and leaves the class 97–100% recognised at
every impair lr from 2e-3 to 2e-2 and 16 to 256 noise samples (past 5e-3 it
predicts the class everywhere, retain accuracy down to 0–40%), and the repair on
the retain set then has nothing to repair from (forgetting there would be plain
fine-tuning). So after the impair epoch UNSIR checks the forget set: when its
accuracy has not moved at least ``MIN_IMPAIR`` (a quarter) of the way to the
retrained-model target, it raises ``MethodRefused`` (a ``ValueError``) naming the
limitation, and the caller's model is unchanged. Use ``rl`` or ``salun`` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from obliviate.classify.data import UnlearnData, batches, labels, sample
from obliviate.classify.loop import LossMethod, Monitor, Phase, task_accuracy
from obliviate.classify.methods.fisher import forgotten_classes
from obliviate.core.devices import placement
from obliviate.core.registry import register
from obliviate.core.results import MethodRefused

MIN_IMPAIR = 0.25  # share of the way to the forget target the impair epoch must cover


@register(
    "unsir", track="classifier", needs=("forget", "retain", "labels"),
    paper="Tarun et al., TNNLS 2023",
    idea="impair with error-maximising noise for the forgotten class, then repair on the retain set",
)
@dataclass
class UNSIR(LossMethod):
    epochs: int = 3              # one impair epoch, then repair epochs
    lr: float = 1e-3             # repair learning rate
    optimizer: Literal["sgd", "adam"] = "adam"
    weight_decay: float = 0.0
    impair_lr: float = 2e-3
    noise_samples: int = 256     # noise inputs per forgotten class
    noise_steps: int = 50
    noise_lr: float = 0.1
    noise_penalty: float = 0.1

    class_level_only: ClassVar[bool] = True
    guard_planned: ClassVar[bool] = False  # the impair epoch damages retain accuracy by design

    def setup(self, model, data, generator):
        forget_classes = labels(data.forget).unique()
        if len(forgotten_classes(data)) < len(forget_classes):
            raise MethodRefused("unsir is class-level only: the retain set still holds examples of a forget class")
        x, _ = next(iter(batches(data.forget, 1, shuffle=False)))
        noise = torch.cat([self.error_maximising_noise(model, int(c), x.shape[1:], generator) for c in forget_classes])
        noise_labels = forget_classes.repeat_interleave(self.noise_samples)
        self.impair = UnlearnData(TensorDataset(noise, noise_labels), data.retain, data.num_classes)
        self.forget_sample = sample(data.forget, Monitor.SAMPLE)
        self.forget_before = task_accuracy(model, self.forget_sample, data.num_classes)

    def check_impaired(self, model, data: UnlearnData) -> None:
        """Refuse (see the module docstring) when the impair left the forgotten class recognised."""
        after = task_accuracy(model, self.forget_sample, data.num_classes)
        target = data.target_forget_acc if data.target_forget_acc is not None else 0.0
        if self.forget_before - after < MIN_IMPAIR * (self.forget_before - target):
            raise MethodRefused(
                f"unsir's impair left the forgotten class {after:.0%} recognised (from {self.forget_before:.0%}): "
                "its noise is unlike the class's inputs on this model (documented limitation); use rl or salun")

    def error_maximising_noise(self, model, cls: int, shape, generator) -> torch.Tensor:
        where = placement(model)  # noise drawn on the CPU (same on every device), then moved
        noise = where.put(torch.randn((self.noise_samples, *shape), generator=generator)).requires_grad_(True)
        target = torch.full((self.noise_samples,), cls, dtype=torch.long, device=where.device)
        opt = torch.optim.Adam([noise], lr=self.noise_lr)
        model.eval()
        for _ in range(self.noise_steps):
            penalty = noise.pow(2).flatten(1).sum(1).mean()
            loss = -F.cross_entropy(model(noise), target) + self.noise_penalty * penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.zero_grad(set_to_none=True)
        return noise.detach().cpu()  # the impair set is data: it lives where the data does

    def impair_loss(self, model, batch):
        x, y, _ = batch.joined()
        return F.cross_entropy(model(x), y)

    def repair_loss(self, model, batch):
        x, y = batch.retain
        return F.cross_entropy(model(x), y)

    def phases(self, epoch, data):
        if epoch == 0:
            return [Phase(self.impair, "union", self.impair_loss, lr_scale=self.impair_lr / self.lr,
                          after=lambda model: self.check_impaired(model, data))]
        return [Phase(data, "retain", self.repair_loss)]
