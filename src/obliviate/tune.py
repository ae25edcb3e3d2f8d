"""``obliviate tune``: honest hyperparameter search.

A method's hyperparameters are searched with Optuna (TPE, seeded) to minimise its
distance to the retrained model measured on the task's **validation** split, as the
task's track defines it (:meth:`~obliviate.core.track.Track.tuner`; the classifier's:
Avg. Gap with the validation split in the test split's place, so the test split is
never read, which a test checks by making it explode on access).
The chosen values are written as a hyperparameters file that ``bench``/``eval``
take with ``--hparams``, with a ``_tuned`` record of what was tuned, on what and how.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from typing import Any, Callable

from obliviate.core.executor import Executor, Serial
from obliviate.core.registry import build, get_method
from obliviate.core.track import Track, track_for_task

TUNED_KEY = "_tuned"
# Searched when a method has them (log-uniform over default/10 .. default*10 for
# floats, default/3 .. default*3 for integers), plus a method's own ``tune_params``.
COMMON = ("lr", "epochs", "iterations")  # iterations: the diffusion methods' optimiser steps


def search_space(method: str, track: str) -> dict[str, tuple[str, float, float]]:
    """{name: (kind, low, high)} searched for ``method`` (kind "float" log-scale or "int")."""
    info = get_method(method, track)
    if method == "retrain":
        raise ValueError("retrain is the reference every method is tuned against; it is not tuned")
    names = [*COMMON, *getattr(info.cls, "tune_params", ())]
    defaults = info.defaults()
    space = {}
    for name in names:
        default = defaults.get(name)
        if isinstance(default, bool) or not isinstance(default, (int, float)) or default <= 0:
            continue
        if isinstance(default, int):
            space[name] = ("int", max(1, default // 3), default * 3)
        else:
            space[name] = ("float", default / 10, default * 10)
    if not space:
        raise ValueError(f"{method} has no hyperparameters to tune (no positive lr, epochs, iterations or tune_params)")
    return space


TOP_SHARE = 0.2  # the "top trials" of the sensitivity report: the best fifth, at least 3


def sensitivity(trials: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """How much the result depends on hitting the best point: over the top trials (the
    best ``TOP_SHARE`` of finished trials by gap, at least 3), the spread of the gap
    (max − min, in the objective's points) and each hyperparameter's range. A method
    whose top trials lie within a small gap spread over wide ranges is robust to its
    settings; a large spread, or one narrow range, means the best point is luck or a
    knife's edge (Hayes et al. argue for reporting this next to the best point)."""
    finished = sorted(((p, g) for p, g in trials if math.isfinite(g)), key=lambda t: t[1])
    if not finished:
        return {"top_trials": 0, "top_gap_spread": float("nan"), "top_ranges": {}}
    top = finished[: max(3, math.ceil(TOP_SHARE * len(finished)))]
    gaps = [g for _, g in top]
    ranges = {name: [min(p[name] for p, _ in top), max(p[name] for p, _ in top)] for name in top[0][0]}
    return {"top_trials": len(top), "top_gaps": gaps, "top_gap_spread": max(gaps) - min(gaps), "top_ranges": ranges}


def plan_tune(task: str, forget: str, method: str, budget: int, parallel_trials: int = 1) -> Track:
    """Validate a tuning request before any training; returns the task's track."""
    track = track_for_task(task)
    if type(track).tuner is Track.tuner:
        raise ValueError(f"obliviate tune does not run on the {track.name} track")
    get_method(method, track.name)
    search_space(method, track.name)
    if budget < 1:
        raise ValueError(f"--budget must be at least 1, got {budget}")
    if parallel_trials < 1:
        raise ValueError(f"--parallel-trials must be >= 1, got {parallel_trials}")
    if type(track).plan_eval is Track.plan_eval:  # no eval on this track: its bench plan validates the spec
        track.plan_bench(task, forget, [method], [0], {})
    else:
        track.plan_eval(task, forget, [method])  # validates the forget spec
    return track


def tune(task: str, forget: str, method: str, budget: int, *, store, seed: int = 0,
         progress: Callable[[int, float], None] | None = None, device: str | None = None,
         executor: Executor | None = None, parallel_trials: int = 1) -> dict[str, Any]:
    """Search ``method``'s hyperparameters for ``budget`` trials; returns the
    hyperparameters file content ({method: best values, "_tuned": provenance}).

    Trials are proposed ``parallel_trials`` at a time (each round's proposals see the
    results of the rounds before, not of each other) and evaluated through
    ``executor``: the result depends on ``parallel_trials``, never on the backend."""
    import optuna

    track = plan_tune(task, forget, method, budget, parallel_trials)
    space = search_space(method, track.name)
    distance = track.tuner(task, forget, store, seed, device=device)

    def suggest(trial: optuna.Trial) -> dict[str, Any]:
        return {name: trial.suggest_int(name, int(low), int(high)) if kind == "int"
                else trial.suggest_float(name, low, high, log=True) for name, (kind, low, high) in space.items()}

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: v for k, v in get_method(method, track.name).defaults().items() if k in space})
    each = (executor or Serial()).map
    while len(study.trials) < budget:
        trials = [study.ask() for _ in range(min(parallel_trials, budget - len(study.trials)))]
        gaps = each(functools.partial(distance, method), [suggest(t) for t in trials])
        for trial, gap in zip(trials, gaps):
            study.tell(trial, gap if math.isfinite(gap) else float("inf"))
            if progress:
                progress(trial.number + 1, gap)
    best = dict(study.best_params)
    build(method, best, track.name)  # the chosen values are valid
    default_gap = study.trials[0].value
    return {method: best, TUNED_KEY: {method: {
        "task": task, "forget": forget, "measured_on": track.tune_measured_on,
        "objective": track.tune_objective,
        "budget": budget, "seed": seed, "parallel_trials": parallel_trials,
        "searched": {k: list(v) for k, v in space.items()},
        "best_gap": study.best_value, "default_gap": default_gap,
        "trial_gaps": [t.value for t in study.trials],
        "median_gap": statistics.median(t.value for t in study.trials),
        "sensitivity": sensitivity([(t.params, t.value) for t in study.trials]),
    }}}


def write_hparams(content: dict, path: str) -> None:
    from obliviate.core.store import write_text_atomic

    write_text_atomic(path, json.dumps(content, indent=1, sort_keys=True) + "\n")
