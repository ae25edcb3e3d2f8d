"""Result types shared by every track."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A run "did not forget" when forget accuracy moved less than this many points.
NO_FORGET_POINTS = 1.0
# A run "collapsed" when retain accuracy fell by more than this many points.
COLLAPSE_POINTS = 20.0

FLAG_TEXT = {
    "did_not_forget": "did not forget: forget accuracy within 1 point of the original's",
    "collapsed": "collapsed: retain accuracy fell by more than 20 points",
    "diverged": "diverged: non-finite loss or weights",
}


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

    @property
    def ok(self) -> bool:
        return not self.flags

    def warnings(self) -> list[str]:
        return [f"{self.method}: {FLAG_TEXT[f]}" for f in self.flags]


def health_flags(before: dict[str, float], after: dict[str, float], diverged: bool) -> list[str]:
    """Flags for a run from forget/retain accuracy (percent) before and after it."""
    flags = []
    if diverged:
        flags.append("diverged")
    if abs(after["forget_acc"] - before["forget_acc"]) < NO_FORGET_POINTS:
        flags.append("did_not_forget")
    if before["retain_acc"] - after["retain_acc"] > COLLAPSE_POINTS:
        flags.append("collapsed")
    return flags
