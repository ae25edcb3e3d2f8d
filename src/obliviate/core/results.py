"""Result types shared by every track."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# A run "did not forget" when forget accuracy moved less than this many points.
NO_FORGET_POINTS = 1.0
# A run "collapsed" when retain accuracy fell by more than this many points.
COLLAPSE_POINTS = 20.0
# A run "over-forgot" / "under-forgot" when forget accuracy ended this many points below / above the
# retrained-model target.
OVER_FORGET_POINTS = 10.0
# A run "lost test accuracy" when test accuracy ended this many points below the retrained model's.
TEST_LOSS_POINTS = 5.0
# A language-model run "lost utility" when model utility (0-1) ended this much below the retain-only model's.
UTILITY_LOSS = 0.05

FLAG_TEXT = {
    "did_not_forget": "did not forget: forget accuracy within 1 point of the original's, away from the "
                      "retrained-model target",
    "over_forgot": "over-forgot: forget accuracy more than 10 points below the retrained-model target "
                   "(itself a membership signal)",
    "under_forgot": "under-forgot: forget accuracy moved, but ended more than 10 points above the "
                    "retrained-model target (part of what was to be forgotten is still recognised)",
    "lost_test_accuracy": "lost test accuracy: more than 5 points below the retrained model's",
    "forget_error_unmoved": "did not forget: the forget set's error moved less than 5% of the way to the retrained "
                            "model's",
    "lost_test_fit": "lost test fit: test error more than 10% above the retrained model's",
    "lost_utility": "lost model utility: more than 0.05 below the retain-only model's",
    "collapsed": "collapsed: retain accuracy fell by more than 20 points",
    "diverged": "diverged: non-finite loss or weights",
    "refused": "refused: the method's documented limitation applies to this model or data (the reason is in "
               "the row's stop_reason); the model is unchanged",
    "rolled_back": "rolled back to the start: every step cost more retain accuracy than allowed "
                   "(learning rate too high?); the model is unchanged",
}


class MethodRefused(ValueError):
    """A method that cannot work on this model or data, refused with the documented
    limitation that says why (the model is left unchanged): ``bench`` records the row
    as "refused" instead of stopping."""


class RunFailed(Exception):
    """A run whose result must not pass as success (it diverged): the CLI exits 1."""


def refuse_diverged(result: "UnlearnResult", keep: bool) -> None:
    """Raise :class:`RunFailed` before anything is written when ``result`` diverged,
    unless the user asked to keep such a model (``--keep-diverged``)."""
    if "diverged" in result.flags and not keep:
        raise RunFailed(f"{result.method} diverged (non-finite loss or weights): nothing written. Lower the "
                        "learning rate, or pass --keep-diverged to write the model anyway")


class UnlearningWarning(UserWarning):
    """A run that did not forget, collapsed or diverged (every track)."""


@dataclass
class UnlearnResult:
    """What :func:`obliviate.unlearn` returns.

    ``before``/``after`` hold forget and retain accuracy (percent) of the original and
    the unlearned model; ``flags`` names what went wrong (see ``FLAG_TEXT``), empty
    when the run looks healthy; ``stop_reason`` says why training ended before its
    last epoch (early stopping), empty if it did not. ``seconds`` is the method's own
    wall time; ``check_seconds`` (where the track measures it) the health checks
    around it and the early-stopping checks during it: the user waits for both.
    ``defaults`` says which defaults the method took where a track scales them with
    the model (language models: the method's own, or the reference preset).
    """

    model: Any
    method: str
    hparams: dict
    seed: int
    seconds: float
    history: list[float]
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    stop_reason: str = ""
    check_seconds: float | None = None  # health checks (and early-stopping checks), not in ``seconds``
    defaults: str = ""

    @property
    def ok(self) -> bool:
        return not self.flags

    def warnings(self) -> list[str]:
        return [f"{self.method}: {FLAG_TEXT[f]}" for f in self.flags]


def health_flags(before: dict[str, float], after: dict[str, float], diverged: bool,
                 target: float | None = None) -> list[str]:
    """Flags for a run from forget/retain accuracy (percent) before and after it, and
    the forget accuracy a retrained model shows (``target``, percent; None if unknown).

    With a target, "did_not_forget" is judged against it: a run that stays where the
    original already was is fine when the original is at the target (nothing to
    change: e.g. a random forget set the model generalises to), and a run that ends
    more than ``OVER_FORGET_POINTS`` below it "over_forgot"."""
    flags = []
    # finite but huge weights show as NaN scores; a score that was never defined (no retain set) is not divergence
    if diverged or any(not math.isfinite(after[k]) and math.isfinite(before.get(k, math.nan)) for k in after):
        flags.append("diverged")
        return flags
    stayed = abs(after["forget_acc"] - before["forget_acc"]) < NO_FORGET_POINTS
    if stayed and not no_change_needed(before, target):
        flags.append("did_not_forget")
    if target is not None and target - after["forget_acc"] > OVER_FORGET_POINTS:
        flags.append("over_forgot")
    if target is not None and not stayed and after["forget_acc"] - target > OVER_FORGET_POINTS:
        flags.append("under_forgot")
    if before["retain_acc"] - after["retain_acc"] > COLLAPSE_POINTS:
        flags.append("collapsed")
    return flags


def judged_flags(flags: list[str], before: dict[str, float], after: dict[str, float], target: float,
                 losses: list[str] = ()) -> list[str]:
    """A run's flags judged by a benchmark that knows the retrained model: forgetting
    against its forget accuracy ``target`` (see :func:`health_flags`), plus the
    benchmark's own ``losses`` (e.g. "lost_test_accuracy"). Kept from the run itself:
    diverged, rolled_back."""
    kept = [f for f in flags if f in ("diverged", "rolled_back")]
    return kept + [f for f in health_flags(before, after, False, target=target) if f not in kept] + list(losses)


def no_change_needed(before: dict[str, float], target: float | None) -> bool:
    """Whether the original model already shows the retrained model's forget accuracy."""
    return target is not None and abs(before["forget_acc"] - target) < NO_FORGET_POINTS
