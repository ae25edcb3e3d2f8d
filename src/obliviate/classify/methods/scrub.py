"""SCRUB. Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023.

The student starts as the original model, which is also the frozen teacher. Each
epoch first makes max-steps on the forget set (maximise KL(teacher ‖ student) at
temperature T, for the first ``max_steps`` epochs only), then min-steps on the
retain set (γ·CE + α·KL(teacher ‖ student)), as in the authors' code.

The max-steps ascend an unbounded KL. Choice: a max-step pass is skipped once
forget accuracy is within ``stop_slack`` points of the retrained-model target
(``UnlearnData.target_forget_acc``; the paper's SCRUB+R uses the same held-out
signal to rewind), so the remaining epochs only repair on the retain set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from obliviate.classify.data import sample
from obliviate.classify.loop import LossMethod, Phase
from obliviate.core.registry import register
from obliviate.classify.metrics import accuracy


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) on temperature-softened distributions, times T² (Hinton et al.)."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_student, teacher, reduction="batchmean") * temperature ** 2


CHECK_SAMPLE = 512  # forget examples the max-step passes check (a fixed sample: the same ones every time)


@register(
    "scrub", track="classifier", needs=("forget", "retain", "labels"),
    paper="Kurmanji et al., NeurIPS 2023",
    idea="student moves away from the teacher on the forget set and stays close on the retain set",
)
@dataclass
class SCRUB(LossMethod):
    epochs: int = 8
    lr: float = 3e-3
    max_steps: int = 5       # at most this many epochs include a max-step pass over the forget set
    temperature: float = 4.0
    gamma: float = 0.99      # weight of the retain cross-entropy
    alpha: float = 0.001     # weight of the retain distillation term

    guard_planned: ClassVar[bool] = False  # max-steps damage retain accuracy on purpose, min-steps repair it

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_steps < 0 or self.temperature <= 0:
            raise ValueError("scrub.max_steps must be >= 0 and scrub.temperature > 0")

    def setup(self, model, data, generator):
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False)
        self._model = model
        self._forget = sample(data.forget, CHECK_SAMPLE)

    def still_remembers(self, data) -> bool:
        target = data.target_forget_acc
        return target is None or accuracy(self._model, self._forget) > target + self.stop_slack / 100

    def max_loss(self, model, batch):
        x, _ = batch.forget
        with torch.no_grad():
            teacher = self.teacher(x)
        return -distill_kl(model(x), teacher, self.temperature)

    def min_loss(self, model, batch):
        x, y = batch.retain
        with torch.no_grad():
            teacher = self.teacher(x)
        logits = model(x)
        return self.gamma * F.cross_entropy(logits, y) + self.alpha * distill_kl(logits, teacher, self.temperature)

    def extension_phases(self, data):
        return self.phases(0, data)  # small data: keep alternating max- and min-steps

    def phases(self, epoch, data):
        passes = [Phase(data, "retain", self.min_loss)]
        if epoch < self.max_steps:
            remembers = lambda: self.still_remembers(data)  # noqa: E731
            passes.insert(0, Phase(data, "forget", self.max_loss, active=remembers,
                                   done_early=lambda: not remembers()))
        return passes
