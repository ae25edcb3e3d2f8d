"""Bad Teacher (blindspot unlearning). Chundawat et al., "Can Bad Teaching Induce
Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023.

The student (the original model) distils, over forget ∪ a ``retain_fraction`` of
the retain set shuffled together, from the competent teacher (a frozen copy of the
original) on retain examples and from an incompetent teacher (a randomly
initialised copy) on forget examples: KL(teacher ‖ student) at temperature T.
Choices: KL is averaged per example ("batchmean"); the reference's elementwise mean
divides it by the number of classes as well, which only rescales the learning rate.
The reference's single epoch at lr 1e-4 changes nothing on the small built-in
models; the defaults here are 10 epochs at 1e-3.

Choice: the incompetent teacher must be incompetent on the forget set. A random
initialisation maps a compact class to nearly one output, so by chance it can
predict the forgotten class for most of it (iris' class 0: 88% at one seed, 0% at
the next; breast_cancer: 98%), and the student, which copies it, then forgets
nothing. Up to ``teacher_draws`` initialisations are drawn; the first whose forget
accuracy is at most chance (1/classes) is kept, else the least accurate one. The
reference draws one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch

from obliviate.classify.data import UnlearnData, sample, size
from obliviate.classify.loop import LossMethod, Monitor, task_accuracy
from obliviate.classify.methods.scrub import distill_kl
from obliviate.classify.models import reinitialise
from obliviate.core.registry import register


@register(
    "bad_teacher", track="classifier", needs=("forget", "retain"),
    paper="Chundawat et al., AAAI 2023",
    idea="distil from a random teacher on the forget set and the original on the retain set",
)
@dataclass
class BadTeacher(LossMethod):
    epochs: int = 10
    lr: float = 1e-3
    optimizer: Literal["sgd", "adam"] = "adam"
    weight_decay: float = 0.0
    batch_size: int = 256
    temperature: float = 1.0
    retain_fraction: float = 0.3
    teacher_draws: int = 8

    drive = "union"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.retain_fraction <= 1 or self.temperature <= 0:
            raise ValueError("bad_teacher.retain_fraction must be in (0, 1] and temperature > 0")
        if self.teacher_draws < 1:
            raise ValueError(f"bad_teacher.teacher_draws must be >= 1, got {self.teacher_draws}")

    def setup(self, model, data, generator):
        self.good = copy.deepcopy(model).eval().requires_grad_(False)
        self.bad = self.incompetent_teacher(model, data)
        n = round(self.retain_fraction * size(data.retain))
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        return UnlearnData(data.forget, sample(data.retain, n, seed), data.num_classes, data.target_forget_acc)

    def incompetent_teacher(self, model, data: UnlearnData) -> torch.nn.Module:
        """A randomly initialised copy of ``model`` no better than chance on the forget set
        (see the module docstring)."""
        forget = sample(data.forget, Monitor.SAMPLE)
        best, best_accuracy = None, float("inf")
        for _ in range(self.teacher_draws):
            teacher = copy.deepcopy(model)
            reinitialise(teacher)
            teacher.eval().requires_grad_(False)
            accuracy = task_accuracy(teacher, forget, data.num_classes)
            if accuracy < best_accuracy:
                best, best_accuracy = teacher, accuracy
            if accuracy <= 1 / data.num_classes:
                break
        return best

    def loss(self, model, batch):
        x, _, is_forget = batch.joined()
        with torch.no_grad():
            teacher = torch.where(is_forget[:, None], self.bad(x), self.good(x))
        return distill_kl(model(x), teacher, self.temperature)
