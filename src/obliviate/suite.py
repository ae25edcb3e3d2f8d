"""``obliviate eval``: the rigorous evaluation suites, per method, against retraining.

Population accuracy and one SVC attack overstate forgetting (Hayes et al. 2025).
For every method this trains N unlearned models (one original, N unlearning seeds)
and compares them with N retrained models (N training seeds):

- ``challenge``: the NeurIPS 2023 challenge score (forget quality F and the final
  score) from the N + N models' forget-set logits;
- ``privacy``: the challenge plus U-LiRA (per-example likelihood-ratio attack);
- ``residual``: linear-probe / k-NN recovery and the relearning attack;
- ``full``: all of them, plus the standard scores, tug-of-war, mean ± std.

The ``retrain`` row compares a *second* set of N retrained models with the first:
it is what a perfect method would score at this N (F is below 1 at small N).
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from obliviate import metrics
from obliviate.classify.data import predict
from obliviate.classify.tasks import TASKS, ClassifierTask, Split, get_task
from obliviate.core.store import Store
from obliviate.evaluate import evaluate

SUITES = ("challenge", "privacy", "residual", "full")
RESIDUAL_MODELS = 3  # models per side the (slower) residual attacks run on


@dataclass
class EvalPlan:
    task: ClassifierTask
    split: Split
    methods: list[str]
    suite: str
    n_models: int = 16
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def forget(self) -> str:
        return self.split.spec.text


def plan_eval(task: str, forget: str, methods: list[str], suite: str, n_models: int = 16,
              hparams: dict[str, dict[str, Any]] | None = None) -> EvalPlan:
    """Validate an evaluation request; every error is a one-line ``ValueError``."""
    from obliviate.bench import _check_lists, check_hparams
    from obliviate.core.registry import get_method

    if task not in TASKS:
        raise ValueError(f"obliviate eval runs on the classifier tasks ({', '.join(TASKS)}), not {task!r}")
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    if n_models < 4:
        raise ValueError(f"--models must be at least 4 (U-LiRA halves each side), got {n_models}")
    methods = [m.strip() for m in methods if m.strip()]
    _check_lists(methods, [0])
    for m in methods:
        get_method(m, "classifier")
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    check_hparams(methods, hparams, "classifier")
    the_task = get_task(task)
    return EvalPlan(the_task, the_task.split(forget), methods, suite, n_models, hparams)


def run_eval(plan: EvalPlan, store: Store, progress: Callable[[str], None] | None = None) -> list[dict]:
    """One row per method: each metric of the suite, against the N retrained models."""
    from obliviate.bench import cached_model
    from obliviate.classify.unlearn import unlearn_classifier

    say = progress or (lambda text: None)
    split, n = plan.split, plan.n_models
    say(f"original and {n} retrained models")
    original, _, _ = cached_model(store, plan.task, "original", 0, split)
    retrained = [cached_model(store, plan.task, "retrain", s, split)[0] for s in range(n)]
    reference = _side(retrained, split)
    original_conf = _confidence(_side([original], split))
    rows = []
    for method in plan.methods:
        say(f"{method}: {n} models")
        start = time.perf_counter()
        if method == "retrain":  # a second, independent set: the floor of every metric at this N
            models = [cached_model(store, plan.task, "retrain", s, split)[0] for s in range(n, 2 * n)]
            flags: list[str] = []
        else:
            results = [unlearn_classifier(original, split.forget, split.retain, method, s,
                                          plan.hparams.get(method, {}), holdout=split.val) for s in range(n)]
            models, flags = [r.model for r in results], sorted({f for r in results for f in r.flags})
        seconds = (time.perf_counter() - start) / n
        side = _side(models, split)
        row = {"task": plan.task.name, "forget": plan.forget, "method": method, "suite": plan.suite,
               "n_models": n, "flags": flags, "hparams": plan.hparams.get(method, {}),
               "metrics": {"seconds": seconds}}
        # per-example confidences (median over the models) for the report's histograms
        row |= {"forget_confidence": _confidence(side), "reference_confidence": _confidence(reference),
                "original_confidence": original_conf}
        if plan.suite in ("full",):
            row["metrics"] |= _standard(side, reference)
        if plan.suite in ("challenge", "privacy", "full"):
            row["metrics"] |= _challenge(side, reference, split)
        if plan.suite in ("privacy", "full"):
            row["metrics"] |= _ulira(side, reference, split)
        if plan.suite in ("residual", "full"):
            say(f"{method}: residual-knowledge attacks")
            row["metrics"] |= _residual(models[:RESIDUAL_MODELS], retrained[:RESIDUAL_MODELS], split)
        rows.append(row)
    store.record_runs(uuid.uuid4().hex, rows)
    return rows


@dataclass
class _Side:
    """What the suites need from a set of models: forget logits and per-model scores."""

    forget_logits: np.ndarray  # (models, forget examples, classes)
    labels: np.ndarray
    scores: list[dict[str, float]]


def _side(models: list, split: Split) -> _Side:
    logits, labels = [], None
    for model in models:
        out, labels = predict(model, split.forget)
        logits.append(out.numpy())
    scores = [evaluate(m, split.forget, split.retain, split.test, forget_test=split.forget_test) for m in models]
    return _Side(np.stack(logits), labels.numpy(), scores)


def _confidence(side: _Side) -> list[float]:
    conf = metrics.logit_confidence(side.forget_logits, side.labels)
    return [round(float(c), 3) for c in np.median(conf, axis=0)]


def _mean(side: _Side, key: str) -> float:
    return statistics.fmean(s[key] for s in side.scores)


def _standard(side: _Side, reference: _Side) -> dict[str, float]:
    """Mean and std over models of the standard scores, their gaps to the retrained
    models' means, and tug-of-war against those means (percent)."""
    out = {}
    for key in metrics.GAP_KEYS:
        values = [s[key] for s in side.scores]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[f"{key}_gap"] = abs(out[key] - _mean(reference, key))
    ref = {k: _mean(reference, k) / 100 for k in ("forget_acc", "retain_acc", "test_acc")}
    tows = [metrics.tug_of_war({k: s[k] / 100 for k in ref}, ref) for s in side.scores]
    out["tow"] = 100 * statistics.fmean(tows)
    out["tow_std"] = 100 * (statistics.stdev(tows) if len(tows) > 1 else 0.0)
    return out


def _challenge(side: _Side, reference: _Side, split: Split) -> dict[str, float]:
    out = metrics.challenge_score(side.forget_logits, reference.forget_logits, side.labels,
                                  retain_acc=(_mean(side, "retain_acc"), _mean(reference, "retain_acc")),
                                  test_acc=(_mean(side, "test_acc"), _mean(reference, "test_acc")))
    return {"forget_quality": out["forget_quality"], "challenge_score": out["score"]}


def _ulira(side: _Side, reference: _Side, split: Split) -> dict[str, float]:
    out = metrics.ulira(metrics.logit_confidence(side.forget_logits, side.labels),
                        metrics.logit_confidence(reference.forget_logits, reference.labels))
    return {"ulira_auc": 100 * out["auc"], "ulira_acc": 100 * out["accuracy"]}


def _residual(models: list, retrained: list, split: Split) -> dict[str, float]:
    """Probe / k-NN recovery and relearning steps (means over models), with the
    retrained models' values as ``<key>_retrain``."""
    from obliviate.residual import probe_recovery, relearn_attack

    def attacks(ms):
        probes = [probe_recovery(m, split.forget, split.retain, seed=i) for i, m in enumerate(ms)]
        relearn = [relearn_attack(m, split.forget, seed=i) for i, m in enumerate(ms)]
        return {"probe_acc": 100 * statistics.fmean(p["probe_acc"] for p in probes),
                "knn_acc": 100 * statistics.fmean(p["knn_acc"] for p in probes),
                "relearn_steps": statistics.fmean(r["steps_to_recover"] for r in relearn)}

    mine, theirs = attacks(models), attacks(retrained)
    return mine | {f"{k}_retrain": v for k, v in theirs.items()}


COLUMNS = [  # (header, metric key, std key or None, digits)
    ("UA", "forget_acc", "forget_acc_std", 1), ("RA", "retain_acc", "retain_acc_std", 1),
    ("TA", "test_acc", "test_acc_std", 1), ("MIA-eff", "mia_efficacy", "mia_efficacy_std", 1),
    ("ToW", "tow", "tow_std", 1), ("F", "forget_quality", None, 3), ("score", "challenge_score", None, 3),
    ("U-LiRA AUC", "ulira_auc", None, 1), ("probe", "probe_acc", None, 1), ("k-NN", "knn_acc", None, 1),
    ("relearn steps", "relearn_steps", None, 1),
]


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: the columns the suite measured, mean ± std over the N models
    where it applies (UA = 100 − forget accuracy; probe / k-NN / relearn steps show
    the retrained models' value in brackets)."""
    present = [c for c in COLUMNS if c[1] in rows[0]["metrics"]]
    header = ["method"] + [c[0] for c in present] + ["time(s)", "flags"]
    body = []
    for row in rows:
        m, cells = row["metrics"], [row["method"]]
        for _, key, std, digits in present:
            value = 100 - m[key] if key == "forget_acc" else m[key]
            text = f"{value:.{digits}f}" + (f"±{m[std]:.{digits}f}" if std else "")
            if f"{key}_retrain" in m:
                text += f" ({m[f'{key}_retrain']:.{digits}f})"
            cells.append(text)
        body.append(cells + [f"{m['seconds']:.2f}", "; ".join(row["flags"])])
    return header, body
