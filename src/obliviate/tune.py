"""``obliviate tune``: honest hyperparameter search.

A method's hyperparameters are searched with Optuna (TPE, seeded) to minimise its
Avg. Gap to the retrained model measured on the task's **validation** split: the
"test" accuracy and the MIA's non-members both come from the validation split, and
the test split is never read (a test checks this by making it explode on access).
The chosen values are written as a hyperparameters file that ``bench``/``eval``
take with ``--hparams``, with a ``_tuned`` record of what was tuned, on what and how.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from typing import Any, Callable

from obliviate.core.registry import build, get_method

TUNED_KEY = "_tuned"
# Searched when a method has them (log-uniform over default/10 .. default*10 for
# floats, default/3 .. default*3 for integers), plus a method's own ``tune_params``.
COMMON = ("lr", "epochs")


def search_space(method: str) -> dict[str, tuple[str, float, float]]:
    """{name: (kind, low, high)} searched for ``method`` (kind "float" log-scale or "int")."""
    info = get_method(method, "classifier")
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
        raise ValueError(f"{method} has no hyperparameters to tune (no positive lr, epochs or tune_params)")
    return space


def validation_scores(model, split) -> dict[str, float]:
    """The standard scores with the validation split in the test split's place."""
    from obliviate.evaluate import evaluate

    return evaluate(model, split.forget, split.retain, split.val)


def tune(task: str, forget: str, method: str, budget: int, *, store, seed: int = 0,
         progress: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Search ``method``'s hyperparameters for ``budget`` trials; returns the
    hyperparameters file content ({method: best values, "_tuned": provenance})."""
    import optuna

    from obliviate.bench import cached_model
    from obliviate.classify.tasks import get_task
    from obliviate.classify.unlearn import unlearn_classifier
    from obliviate.metrics import avg_gap

    space = search_space(method)
    if budget < 1:
        raise ValueError(f"--budget must be at least 1, got {budget}")
    the_task = get_task(task)
    split = the_task.split(forget)
    original, _, _ = cached_model(store, the_task, "original", seed, split)
    retrained, _, _ = cached_model(store, the_task, "retrain", seed, split)
    reference = validation_scores(retrained, split)

    def objective(trial: optuna.Trial) -> float:
        hp = {}
        for name, (kind, low, high) in space.items():
            if kind == "int":
                hp[name] = trial.suggest_int(name, int(low), int(high))
            else:
                hp[name] = trial.suggest_float(name, low, high, log=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = unlearn_classifier(original, split.forget, split.retain, method, seed, hp, holdout=split.val)
        gap = avg_gap(validation_scores(result.model, split), reference)
        if progress:
            progress(trial.number + 1, gap)
        return gap if math.isfinite(gap) else float("inf")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: v for k, v in get_method(method, "classifier").defaults().items() if k in space})
    study.optimize(objective, n_trials=budget)
    best = dict(study.best_params)
    build(method, best, "classifier")  # the chosen values are valid
    default_gap = study.trials[0].value
    return {method: best, TUNED_KEY: {method: {
        "task": task, "forget": forget, "measured_on": "validation split (test split never read)",
        "objective": "Avg.Gap to the retrained model (forget, retain, validation accuracy, MIA-efficacy)",
        "budget": budget, "seed": seed, "searched": {k: list(v) for k, v in space.items()},
        "best_gap": study.best_value, "default_gap": default_gap,
        "trial_gaps": [t.value for t in study.trials],
        "median_gap": statistics.median(t.value for t in study.trials),
    }}}


def write_hparams(content: dict, path: str) -> None:
    from obliviate.core.store import write_text_atomic

    write_text_atomic(path, json.dumps(content, indent=1, sort_keys=True) + "\n")
