"""The one training loop of the classifier track, and the base classes methods build on.

A method is a dataclass of hyperparameters. A *loss method* (FT, GA, RL, ...) only
says what its loss is for one step's :class:`Batch`; this loop does the rest
(optimiser, schedule, batching, seeding, device placement, mixed precision,
progress, divergence checks). A *one-shot* method (SSD, Fisher, ...) overrides
:meth:`Method.apply` instead.

Batches reach ``loss`` on the model's device, floating inputs in its dtype.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal

import torch
from torch import nn

from obliviate.classify import plugins
from obliviate.classify.data import Batch, LoaderOptions, UnlearnData, predict, sample, size
from obliviate.core.devices import Precision, autocast, check_precision, grad_scaler, placement

ProgressFn = Callable[[int, int, float], None]  # (epoch done, epochs, mean loss)


@dataclass
class History:
    """Per-epoch mean losses, whether training hit a non-finite loss, and why it
    stopped before its last epoch (empty if it did not)."""

    losses: list[float] = field(default_factory=list)
    diverged: bool = False
    stop_reason: str = ""
    check_seconds: float = 0.0  # time spent in the early-stopping monitor's checks
    rolled_back_to_start: bool = False  # the monitor undid every step
    extra_steps: int = 0  # steps beyond the planned epochs (the small-data extension)
    backoffs: list[str] = field(default_factory=list)  # small data: why the lr was halved, once per halving
    # a method whose result is another model than the one it was given (SISA: an ensemble), and the time it
    # spent building what it unlearns from (SISA: training the ensemble), which is not unlearning time
    model: nn.Module | None = None
    setup_seconds: float = 0.0


@dataclass
class Method:
    """Base of every classifier method; subclasses add hyperparameter fields."""

    method_name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    class_level_only: ClassVar[bool] = False  # refuses forget sets that are not whole classes

    def apply(
        self, model: nn.Module, data: UnlearnData, generator: torch.Generator,
        progress: ProgressFn | None = None,
    ) -> History:
        """Unlearn in place on ``model`` (already a copy of the caller's)."""
        raise NotImplementedError


@dataclass
class LossMethod(Method):
    """A method defined by its loss on a batch, trained with the shared loop.

    ``drive`` names what one epoch passes over: the forget set or the retain set (the
    other, when the method needs it, is cycled alongside), or their union.

    ``early_stop`` (on by default for the unbounded ascent methods) checks the model
    on the step budget of :func:`check_due` (every step of the first 20, then never
    twice within 5% of the steps taken so far: ~20 ln(T/20) + 20 checks in a run of T
    steps; a quarter pass over 12.8k forget examples is already 50 steps, enough to
    collapse a model), on fixed samples of at most 1024 forget and retain examples: it stops once forget
    accuracy is within ``stop_slack`` points of the level a retrained model would show
    (``UnlearnData.target_forget_acc``, when known; pushing the last few examples over
    costs the most damage), and if retain accuracy has fallen more than
    ``max_retain_drop`` points below its starting value it rolls back to the last
    check that had not, and stops.
    """

    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 64
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["constant", "cosine", "multistep"] = "constant"  # multistep: ×0.1 at 50% and 75% of the epochs
    early_stop: bool = False
    stop_slack: float = 5.0
    max_retain_drop: float = 15.0
    min_steps: int = 1000  # small data: more epochs, under the early-stopping guard, until the target (see train_loop)
    precision: Precision = "fp32"  # autocast bf16 / fp16 (fp16 with a gradient scaler)
    num_workers: int = 0  # DataLoader workers for datasets that are not tensor-backed
    pin_memory: bool | None = None  # None: pin when the model is on CUDA
    # retain examples per retain- or union-driven epoch, as a multiple of the forget set's size
    # (at least RETAIN_FLOOR): the cost grows with what is forgotten, not with the training set.
    # None: whole passes over the retain set (the reference code's epochs).
    retain_budget: float | None = 4.0
    # large data too: halve the lr (from the last good check) when retain accuracy falls more than
    # EXTENSION_RETAIN_DROP points in the planned epochs, as small runs do; False: the reference's fixed lr
    adapt_lr: bool = True
    # plug-ins (obliviate.classify.plugins): LoReUn's loss-based reweighting of the forget examples
    # ("none", "static": from the original model, "dynamic": before every epoch), at temperature τ,
    # and UPCORE's coreset (the share of most typical forget examples the method trains on)
    reweight: Literal["none", "static", "dynamic"] = "none"
    reweight_temperature: float = 1.0
    coreset: float = 1.0

    drive: ClassVar[Literal["forget", "retain", "union"]] = "forget"
    # small data: guard retain accuracy in the planned epochs too (see train_loop); off for
    # methods that damage it on purpose before repairing it (UNSIR's impair stage)
    guard_planned: ClassVar[bool] = True

    def __post_init__(self) -> None:
        name = self.method_name or type(self).__name__
        if self.epochs < 0:
            raise ValueError(f"{name}.epochs must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"{name}.lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"{name}.batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"{name}.momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"{name}.weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.stop_slack <= 100:
            raise ValueError(f"{name}.stop_slack must be in [0, 100] points, got {self.stop_slack}")
        if not 0 <= self.max_retain_drop <= 100:
            raise ValueError(f"{name}.max_retain_drop must be in [0, 100] points, got {self.max_retain_drop}")
        if self.min_steps < 0:
            raise ValueError(f"{name}.min_steps must be >= 0, got {self.min_steps}")
        if self.num_workers < 0:
            raise ValueError(f"{name}.num_workers must be >= 0, got {self.num_workers}")
        if self.retain_budget is not None and not self.retain_budget > 0:
            raise ValueError(f"{name}.retain_budget must be > 0 (times the forget set) or none, "
                             f"got {self.retain_budget}")
        check_precision(self.precision)
        plugins.check(self)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def setup(self, model: nn.Module, data: UnlearnData, generator: torch.Generator) -> UnlearnData | None:
        """Called once before training (e.g. to re-initialise weights or build a mask);
        may return the data to train on instead (e.g. a subset of the retain set)."""

    def phases(self, epoch: int, data: UnlearnData) -> list[Phase]:
        """What epoch ``epoch`` does: by default one pass of ``loss`` over ``drive``.
        Methods that alternate objectives (SCRUB) return several."""
        return [Phase(data, self.drive, self.loss)]

    def extension_phases(self, data: UnlearnData) -> list[Phase]:
        """What an epoch of the small-data extension does (see :func:`train_loop`): by
        default the last planned epoch again."""
        return self.phases(self.epochs - 1, data)

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimiser step (e.g. to re-impose a hard constraint)."""

    def teardown(self, model: nn.Module) -> None:
        """Called once after training (e.g. to undo a temporary change of architecture)."""

    def apply(self, model, data, generator, progress=None) -> History:
        plugins.refuse_loaders(self, data)
        if self.coreset < 1:
            data = plugins.coreset(model, data, self.coreset)
        data = _with_loader(self.setup(model, data, generator) or data, self, model)
        if self.reweight != "none":
            data.forget_weights = plugins.loss_weights(model, data, self.reweight_temperature)
        history = train_loop(model, self, data, generator, progress)
        self.teardown(model)
        return history


@dataclass
class Phase:
    """One pass of ``loss`` over ``data`` driven by ``drive`` (see ``UnlearnData.epoch``),
    at ``lr_scale`` times the method's learning rate."""

    data: UnlearnData
    drive: str
    loss: Callable[[nn.Module, Batch], torch.Tensor]
    lr_scale: float = 1.0
    active: Callable[[], bool] = lambda: True  # checked when the pass starts; False skips it
    done_early: Callable[[], bool] | None = None  # checked every EARLY_END_EVERY steps of the pass; True ends it


@dataclass
class AscentMethod(LossMethod):
    """Base of the methods that push the forget set away without a floor (GA, NegGrad+, DUCK).

    With SGD the step from "nothing forgotten" to "collapsed" is a single epoch, so
    these default to Adam (steps of bounded size, smooth progress) and early
    stopping, with a generous epoch budget that early stopping normally cuts short.
    """

    epochs: int = 100
    optimizer: Literal["sgd", "adam"] = "adam"
    weight_decay: float = 0.0
    early_stop: bool = True


@functools.cache
def warm_up() -> None:
    """Take one optimiser step on a dummy parameter. The first step in a process imports
    torch's compiler machinery (about 2 s); doing it here keeps that out of the time
    measured for whichever method happens to run first."""
    p = nn.Parameter(torch.zeros(1))
    for opt in (torch.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.Adam([p])):
        p.grad = torch.ones(1)
        opt.step()


def make_optimizer(params, method: LossMethod) -> torch.optim.Optimizer:
    if method.optimizer == "adam":
        return torch.optim.Adam(params, lr=method.lr, weight_decay=method.weight_decay)
    return torch.optim.SGD(
        params, lr=method.lr, momentum=method.momentum, weight_decay=method.weight_decay
    )


def train_loop(
    model: nn.Module, method: LossMethod, data: UnlearnData,
    generator: torch.Generator, progress: ProgressFn | None = None,
) -> History:
    """Run ``method``'s phases for ``method.epochs`` epochs; stop at a non-finite loss or
    when the early-stopping monitor says so.

    Small data: when those epochs take fewer than ``method.min_steps`` optimiser steps
    and the forget accuracy a retrained model would show is known, a run that has not
    reached it by the last epoch goes on, repeating the last epoch's phases at the
    method's learning rate, under the early-stopping guard (stop within
    ``stop_slack`` points of the target, roll back to where the extension began once
    retain accuracy is more than ``EXTENSION_RETAIN_DROP`` points, or
    ``max_retain_drop`` if smaller, below its value before unlearning), up to
    ``min_steps`` steps in all. Epoch counts tuned on thousands
    of examples are a handful of steps on a user's few hundred; runs on larger data
    are unchanged.

    On such small data the guard also watches the planned epochs of methods without
    early stopping (retain accuracy only, ``max_retain_drop`` points: a transient dip
    the method repairs is left alone), and a rollback there or in the extension is a
    *backoff*: the learning rate is halved, the optimiser restarted, and training goes
    on from the rolled-back weights, up to ``MAX_BACKOFFS`` times. Planned epochs that
    end more than ``EXTENSION_RETAIN_DROP`` points down are a backoff too: back to
    the last check that was not, and the extension goes on from there. A learning
    rate that suits the built-in models (FT's 0.1) can be ten times too large for a
    user's model trained with Adam to 100% training accuracy; halving it until
    retain accuracy holds adapts the step to the model instead of giving up. Methods
    that damage retain accuracy on purpose and repair it later (``guard_planned =
    False``: UNSIR, SCRUB) are judged only after their planned epochs."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, method)
    where = placement(model)
    scaler = grad_scaler(where.device, method.precision)
    plan = [method.phases(epoch, data) for epoch in range(method.epochs)]
    steps = max(1, sum(_steps(phase, method) for phases in plan for phase in phases))
    extend = bool(plan) and steps < method.min_steps and data.target_forget_acc is not None
    schedule = functools.partial(schedule_factor, method.schedule, steps=steps, epochs=method.epochs)
    history = History()
    # large data: the planned epochs watched for retain damage, with the same backoff as small runs
    adapt = method.adapt_lr and bool(plan) and not extend and not method.early_stop and method.guard_planned
    watched = extend or adapt  # a rollback halves the lr and goes on
    guard = Monitor(model, data, method.stop_slack, method.max_retain_drop) if method.early_stop or watched else None
    monitor = guard if method.early_stop else None
    if watched and not method.early_stop and method.guard_planned:  # retain watched from the first step
        guard.stop_at_target = False
        monitor = guard
    if adapt:
        guard.max_drop = min(guard.max_drop, EXTENSION_RETAIN_DROP / 100)
    step, last_check = 0, 0
    lr_factor = 1.0
    model.train()
    checked = []  # whether the extension's entry check ran (later epochs: the guard's own checks stop it)

    def back_off(reason: str) -> bool:
        """After a rollback: halve the lr and restart the optimiser (False once
        ``MAX_BACKOFFS`` halvings are spent)."""
        nonlocal optimizer, lr_factor
        if len(history.backoffs) >= MAX_BACKOFFS:
            return False
        lr_factor /= 2
        optimizer = make_optimizer(params, method)
        history.backoffs.append(reason)
        return True

    def go_on() -> bool:
        if not extend or step >= method.min_steps:
            return False
        if not checked:
            checked.append(True)
            if guard.retain_drop(model) > EXTENSION_RETAIN_DROP / 100 + 1e-9:
                # the planned epochs ended too far down: back to the last check that was not, at half the lr
                model.load_state_dict(guard.last_close)
                back_off(f"retain accuracy > {EXTENSION_RETAIN_DROP:g} points down after the planned epochs: "
                         f"back to step {guard.last_close_step}")
            return not guard.at_target(model)
        return True

    for epoch, phases in enumerate(_epochs(plan, lambda: method.extension_phases(data), go_on)):
        if method.reweight == "dynamic" and epoch > 0:  # LoReUn-d: weights from the current model
            data.forget_weights = plugins.loss_weights(model, data, method.reweight_temperature)
            model.train()
        if epoch == len(plan):  # the small-data extension: guarded, at the method's own learning rate
            guard.mark_good(model, step)  # roll back to here at worst, not to the start
            guard.max_drop = min(guard.max_drop, EXTENSION_RETAIN_DROP / 100)
            guard.stop_at_target = True
            monitor, schedule = guard, (lambda step: 1.0)  # noqa: E731
            model.train()
        total, count = 0.0, 0
        for phase in phases:
            if not phase.active():
                continue
            per_epoch = _steps(phase, method)
            check_every = max(1, per_epoch // 4)  # about four times per pass
            done = 0
            for batch in phase.data.epoch(
                phase.drive, method.batch_size, generator,
                use_forget="forget" in method.needs, use_retain="retain" in method.needs,
            ):
                for group in optimizer.param_groups:
                    group["lr"] = method.lr * lr_factor * phase.lr_scale * schedule(step)
                with autocast(where.device, method.precision):
                    loss = phase.loss(model, batch.to(where))
                if not torch.isfinite(loss):
                    history.diverged = True
                    break
                optimizer.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:  # fp16: scaled loss, steps with inf/nan gradients are skipped
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                method.after_step(model)
                total += loss.item()
                count += 1
                done += 1
                step += 1
                if phase.done_early is not None and done % EARLY_END_EVERY == 0 and phase.done_early():
                    model.train()
                    break
                # ascent methods (early_stop) check on the step budget alone: a large forget set's first quarter
                # pass (50 steps at 12.8k examples) is long enough to collapse the model before a check
                on_cadence = method.early_stop or done % check_every == 0 or done == per_epoch
                if monitor is not None and on_cadence and check_due(step, last_check):
                    last_check = step
                    history.stop_reason = monitor.check(model, step)
                    backs_off = watched and monitor.just_rolled_back and (epoch >= len(plan) or not method.early_stop)
                    if backs_off and back_off(history.stop_reason):  # a smaller step, from the rolled-back weights
                        history.stop_reason = ""
                    if history.stop_reason:
                        history.rolled_back_to_start = monitor.rolled_back and monitor.last_good_step == 0
                        break
                    model.train()
            if history.diverged or history.stop_reason:
                break
        if count:
            history.losses.append(total / count)
        if history.diverged or history.stop_reason:
            break
        if progress is not None and epoch < len(plan):
            progress(epoch + 1, method.epochs, history.losses[-1])
    model.eval()
    history.check_seconds = guard.seconds if guard is not None else 0.0
    history.extra_steps = max(0, step - steps) if extend else 0
    if history.backoffs:
        note = (f"learning rate halved {len(history.backoffs)}× after retain accuracy fell "
                f"({history.backoffs[0]}, lr halved)")
        history.stop_reason = f"{history.stop_reason}; {note}" if history.stop_reason else note
    if history.extra_steps:
        note = f"small data: {history.extra_steps} steps past the {method.epochs} planned epochs (min_steps {method.min_steps})"
        history.stop_reason = f"{history.stop_reason}; {note}" if history.stop_reason else note
    return history


def schedule_factor(schedule: str, step: int, steps: int, epochs: int) -> float:
    """The learning rate's factor at optimiser step ``step`` of ``steps`` (``epochs``
    epochs): 1 (``constant``); half a cosine from 1 to 0 (``cosine``); ×0.1 from epoch
    ⌊E/2⌋ and again from ⌊3E/4⌋ (``multistep``: the l1-sparse / SalUn recipe's
    milestones 91 and 136 of 182 epochs, torch's ``MultiStepLR`` stepped per epoch)."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    if schedule == "multistep":
        epoch = step * epochs // steps
        return 0.1 ** sum(epoch >= m for m in (epochs // 2, 3 * epochs // 4))
    return 1.0


def _epochs(plan: list[list[Phase]], extension: Callable[[], list[Phase]], go_on: Callable[[], bool]):
    """The planned epochs, then extension epochs for as long as ``go_on()``."""
    yield from plan
    while plan and go_on():
        yield extension()


def _with_loader(data: UnlearnData, method: LossMethod, model: nn.Module) -> UnlearnData:
    """``data`` streamed with the method's DataLoader settings (pinned memory by default
    on CUDA) and its retain budget per epoch."""
    import dataclasses

    pin = method.pin_memory if method.pin_memory is not None else placement(model).device.type == "cuda"
    budget = None
    if method.retain_budget is not None:
        budget = max(RETAIN_FLOOR, math.ceil(method.retain_budget * size(data.forget)))
    return dataclasses.replace(data, loader=LoaderOptions(method.num_workers, pin), retain_per_epoch=budget)


# Retain examples per epoch below which the budget never sub-samples: every built-in task
# and most users' small sets are passed over whole.
RETAIN_FLOOR = 8192


EARLY_END_EVERY = 4  # steps between a phase's own end checks (an unbounded ascent can collapse a model in ~10)
EXTENSION_RETAIN_DROP = 5.0  # points of retain accuracy the small-data extension may cost in all
MAX_BACKOFFS = 4  # small data: halvings of the learning rate after retain damage (down to 1/16)

CHECK_GROWTH = 0.05  # a check at most this share of the run late: the checks' budget


def check_due(step: int, last_check: int) -> bool:
    """Whether a due early-stopping check runs: at least ``CHECK_GROWTH`` · ``step``
    steps after the last one. Short runs (<= 20 steps, where ascent methods usually
    stop) check as often as they are due; a long one ~20 ln(T/20) + 20 times in T steps
    (a 600-step run: 78 checks instead of 600), and stops at most 5% of its steps late."""
    return step - last_check >= math.ceil(CHECK_GROWTH * step)


def _steps(phase: Phase, method: LossMethod) -> int:
    return phase.data.steps_per_epoch(phase.drive, method.batch_size)


class Monitor:
    """Early stopping for ascent methods (see :class:`LossMethod`)."""

    SAMPLE = 1024  # retain and forget examples per check (fixed samples: the same ones every time)

    def __init__(self, model: nn.Module, data: UnlearnData, slack: float, max_retain_drop: float):
        self.data = data
        self.slack = slack / 100
        self.max_drop = max_retain_drop / 100
        start = time.perf_counter()
        self.retain = sample(data.retain, self.SAMPLE) if data.retain is not None else None
        self.forget = sample(data.forget, self.SAMPLE)
        self.start_retain = self._retain_acc(model)
        self.last_good, self.last_good_step = _snapshot(model), 0
        self.last_close, self.last_close_step = self.last_good, 0  # the last check within EXTENSION_RETAIN_DROP
        self.rolled_back = False
        self.just_rolled_back = False  # the last check rolled back
        self.stop_at_target = True  # False: guard retain accuracy only
        self.seconds = time.perf_counter() - start

    def check(self, model: nn.Module, step: int) -> str:
        """An empty string to go on, or why training stops (after rolling back if needed)."""
        start = time.perf_counter()
        try:
            return self._check(model, step)
        finally:
            self.seconds += time.perf_counter() - start

    def retain_drop(self, model: nn.Module) -> float:
        """How far retain accuracy is below its value before unlearning (0 without a retain set)."""
        start = time.perf_counter()
        try:
            return self._drop(model)
        finally:
            self.seconds += time.perf_counter() - start

    def _drop(self, model: nn.Module) -> float:
        return self.start_retain - self._retain_acc(model) if self.retain is not None else 0.0

    def _check(self, model: nn.Module, step: int) -> str:
        self.just_rolled_back = False
        drop = self._drop(model)
        if drop > self.max_drop:
            model.load_state_dict(self.last_good)
            self.rolled_back = self.just_rolled_back = True
            return (f"retain accuracy fell > {100 * self.max_drop:g} points at step {step}: "
                    f"rolled back to step {self.last_good_step}")
        self.last_good, self.last_good_step = _snapshot(model), step
        if drop <= EXTENSION_RETAIN_DROP / 100 + 1e-9:
            self.last_close, self.last_close_step = self.last_good, step
        target = self.data.target_forget_acc
        if self.stop_at_target and target is not None and self._accuracy(model, self.forget) <= target + self.slack + 1e-9:
            return (f"forget accuracy came within {100 * self.slack:g} points of the retrained-model "
                    f"target ({100 * target:.1f}%) at step {step}")
        return ""

    def mark_good(self, model: nn.Module, step: int) -> None:
        self.last_good, self.last_good_step = _snapshot(model), step

    def at_target(self, model: nn.Module) -> bool:
        """Whether forget accuracy is within the slack of the target (False when unknown)."""
        start = time.perf_counter()
        target = self.data.target_forget_acc
        try:
            return target is not None and self._accuracy(model, self.forget) <= target + self.slack + 1e-9
        finally:
            self.seconds += time.perf_counter() - start

    def _retain_acc(self, model: nn.Module) -> float:
        return self._accuracy(model, self.retain) if self.retain is not None else 0.0

    def _accuracy(self, model: nn.Module, data) -> float:
        return task_accuracy(model, data, self.data.num_classes)


def task_accuracy(model: nn.Module, data, num_classes: int) -> float:
    # Only the task's classes count: a method may add outputs while it trains
    # (Boundary Expanding's shadow class) that are gone from the final model.
    logits, y = predict(model, data)
    return (logits[:, :num_classes].argmax(1) == y).float().mean().item()


def search_strength(model: nn.Module, data: UnlearnData, set_strength: Callable[[float], None], start: float,
                    max_retain_drop: float, slack: float = 5.0, growth: float = 2.0, tries: int = 12) -> tuple[float, str]:
    """The dial and guard of the one-shot methods (IU, Fisher, SSD): how strong their
    single update is, adapted to the user's model instead of fixed by a default.

    ``set_strength(s)`` puts the model at strength ``s`` (0: unchanged). From ``start``:
    while retain accuracy (fixed samples of at most 1024 examples, as for early
    stopping) falls more than ``max_retain_drop`` points, divide by ``growth`` (up to
    ``tries`` times, then 0); otherwise, while forget accuracy is not yet within ``slack`` points of
    the retrained-model target (``data.target_forget_acc``, when known), multiply by
    ``growth`` (up to ``tries`` times), keeping the strongest setting whose retain
    accuracy held. Returns the strength left on the model and what happened."""
    retain = sample(data.retain, Monitor.SAMPLE) if data.retain is not None else None
    forget = sample(data.forget, Monitor.SAMPLE)

    accuracy = lambda part: task_accuracy(model, part, data.num_classes)  # noqa: E731
    before = accuracy(retain) if retain is not None else 0.0
    retain_holds = lambda: retain is None or before - accuracy(retain) <= max_retain_drop / 100 + 1e-9  # noqa: E731
    target = data.target_forget_acc
    reached = lambda: target is not None and accuracy(forget) <= target + slack / 100 + 1e-9  # noqa: E731
    strength = start
    set_strength(strength)
    if not retain_holds():
        for _ in range(tries):
            strength /= growth
            set_strength(strength)
            if retain_holds():
                if target is None or reached():
                    return strength, f"strength {strength:.3g}: lowered until retain accuracy held"
                return _refine(set_strength, strength, strength * growth, retain_holds, reached)
        set_strength(0.0)
        return 0.0, f"no strength down to {strength:.3g} kept retain accuracy: model left unchanged"
    if target is None or reached():
        return strength, ""
    for _ in range(tries):
        stronger = strength * growth
        set_strength(stronger)
        if not retain_holds():
            return _refine(set_strength, strength, stronger, retain_holds, reached)
        strength = stronger
        if reached():
            return strength, f"strength {strength:.3g}: raised until forget accuracy reached its target"
    return strength, f"strength {strength:.3g}: the largest tried, forget accuracy still above its target"


def along(model: nn.Module, direction: dict[str, torch.Tensor],
          factor: Callable[[float], float] = lambda s: s) -> Callable[[float], None]:
    """A ``set_strength`` for :func:`search_strength`: the model's current parameters
    plus ``factor(s)`` times ``direction`` (a tensor per parameter name)."""
    start = {n: p.detach().clone() for n, p in model.named_parameters() if n in direction}

    @torch.no_grad()
    def set_strength(s: float) -> None:
        for name, p in model.named_parameters():
            if name in direction:
                p.copy_(start[name] + factor(s) * direction[name])

    return set_strength


def _refine(set_strength, held: float, broke: float, retain_holds, reached, steps: int = 4) -> tuple[float, str]:
    """Bisect (geometrically) between a strength whose retain accuracy held and a
    stronger one whose did not; leave the model at the strongest that held."""
    for _ in range(steps):
        middle = (held * broke) ** 0.5
        set_strength(middle)
        if retain_holds():
            held = middle
            if reached():
                return held, f"strength {held:.3g}: raised until forget accuracy reached its target"
        else:
            broke = middle
    set_strength(held)
    return held, f"strength {held:.3g}: stronger settings cost retain accuracy"


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}

