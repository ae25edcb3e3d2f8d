"""``obliviate eval``: the rigorous evaluation suites, per method, against retraining.

Population accuracy and one SVC attack overstate forgetting (Hayes et al. 2025).
For every method this trains N unlearned models (one original, N unlearning seeds)
and compares them with N retrained models (N training seeds):

- ``challenge``: the NeurIPS 2023 challenge score (forget quality F and the final
  score) from the N + N models' forget-set logits;
- ``privacy``: the challenge plus U-LiRA (per-example likelihood-ratio attack);
- ``residual``: linear-probe / k-NN recovery and the relearning attack;
- ``full``: all of them, plus the standard scores, tug-of-war, mean ± std.

Tracks: the classifier tasks (confidence = the challenge's logit-scaled confidence;
residual = probe, k-NN and relearning steps) and the language-model task
tofu-mini (confidence = each forget answer's mean token log-likelihood; standard
scores = answer probabilities; residual = the relearning attack; no final challenge
score, which is defined from classifier accuracies). The diffusion track's
per-example evidence is its adversarial-prompt attack (``obliviate bench``).

The ``retrain`` row compares a *second* set of N retrained models with the first:
it is what a perfect method would score at this N (F is below 1 at small N).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from obliviate import metrics
from obliviate.classify.data import predict
from obliviate.classify.tasks import TASKS, get_task
from obliviate.core.store import Store
from obliviate.evaluate import evaluate
from obliviate.lm.corpus import LMSplit

SUITES = ("challenge", "privacy", "residual", "full")
RESIDUAL_MODELS = 3  # models per side the (slower) residual attacks run on


@dataclass
class EvalPlan:
    task: Any  # a ClassifierTask or an LM task (TofuMiniTask)
    split: Any  # its Split / LMSplit
    methods: list[str]
    suite: str
    n_models: int = 16
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    forget: str = ""
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method


def plan_eval(task: str, forget: str, methods: list[str], suite: str, n_models: int = 16,
              hparams: dict[str, dict[str, Any]] | None = None) -> EvalPlan:
    """Validate an evaluation request; every error is a one-line ``ValueError``."""
    from obliviate.bench import _check_lists, check_hparams
    from obliviate.core.registry import get_method
    from obliviate.lm.task import LM_TASKS

    if task not in TASKS and task not in LM_TASKS:
        raise ValueError(f"obliviate eval runs on the classifier tasks ({', '.join(TASKS)}) and the language-model "
                         f"tasks ({', '.join(LM_TASKS)}), not {task!r}")
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    if n_models < 4:
        raise ValueError(f"--models must be at least 4 (U-LiRA halves each side), got {n_models}")
    methods = [m.strip() for m in methods if m.strip()]
    _check_lists(methods, [0])
    track = "lm" if task in LM_TASKS else "classifier"
    for m in methods:
        if not (track == "lm" and m == "retrain"):  # LM retraining is the task's recipe, not a method
            get_method(m, track)
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    check_hparams(methods, hparams, track)
    if track == "lm":
        the_task = LM_TASKS[task]
        if forget not in the_task.specs:
            raise ValueError(f"unknown forget spec {forget!r} for {task}; use {', '.join(the_task.specs)}")
        return EvalPlan(the_task, the_task.split(forget), methods, suite, n_models, hparams, forget)
    the_task = get_task(task)
    split = the_task.split(forget)
    return EvalPlan(the_task, split, methods, suite, n_models, hparams, split.spec.text)


def run_eval(plan: EvalPlan, store: Store, progress: Callable[[str], None] | None = None) -> list[dict]:
    """One row per method: each metric of the suite, against the N retrained models."""
    say = progress or (lambda text: None)
    track = _LMTrack(plan, store) if isinstance(plan.split, LMSplit) else _ClassifierTrack(plan, store)
    n = plan.n_models
    say(f"original and {n} retrained models")
    original = track.original()
    retrained = [track.retrained(s) for s in range(n)]
    reference = track.side(retrained)
    original_conf = _median(track.side([original]))
    reference_residue: dict[str, float] = {}  # the retrained models' residual attacks, run once
    rows = []
    for method in plan.methods:
        say(f"{method}: {n} models")
        start = time.perf_counter()
        if method == "retrain":  # a second, independent set: the floor of every metric at this N
            models, flags = [track.retrained(s) for s in range(n, 2 * n)], []
        else:
            results = [track.unlearn(original, method, s) for s in range(n)]
            models, flags = [r.model for r in results], sorted({f for r in results for f in r.flags})
        seconds = (time.perf_counter() - start) / n
        side = track.side(models)
        row = {"task": plan.task.name, "forget": plan.forget, "method": method, "suite": plan.suite,
               "n_models": n, "flags": flags, "hparams": plan.hparams.get(method, {}),
               "metrics": {"seconds": seconds}, "confidence_kind": track.confidence_kind}
        # per-example confidences (median over the models) for the report's histograms
        row |= {"forget_confidence": _median(side), "reference_confidence": _median(reference),
                "original_confidence": original_conf}
        if plan.suite == "full":
            row["metrics"] |= track.standard(side, reference)
        if plan.suite in ("challenge", "privacy", "full"):
            row["metrics"] |= _challenge(side, reference)
        if plan.suite in ("privacy", "full"):
            row["metrics"] |= _ulira(side, reference)
        if plan.suite in ("residual", "full"):
            say(f"{method}: residual-knowledge attacks")
            reference_residue = reference_residue or track.residual(retrained[:RESIDUAL_MODELS])
            row["metrics"] |= track.residual(models[:RESIDUAL_MODELS]) | {
                f"{k}_retrain": v for k, v in reference_residue.items()}
        rows.append(row)
    from obliviate.bench import record

    record(store, rows, plan.tuned)
    return rows


@dataclass
class _Side:
    """What the suites need from a set of models: per-example confidences on the forget
    set (models, examples) and per-model scores (percent)."""

    confidences: np.ndarray
    scores: list[dict[str, float]]


def _median(side: _Side) -> list[float]:
    return [round(float(c), 3) for c in np.median(side.confidences, axis=0)]


def _mean(side: _Side, key: str) -> float:
    return statistics.fmean(s[key] for s in side.scores)


def _mean_std_gap(side: _Side, reference: _Side, keys) -> dict[str, float]:
    out = {}
    for key in keys:
        values = [s[key] for s in side.scores]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[f"{key}_gap"] = abs(out[key] - _mean(reference, key))
    return out


def _challenge(side: _Side, reference: _Side) -> dict[str, float]:
    out = {"forget_quality": metrics.challenge_forget_quality(side.confidences, reference.confidences)["forget_quality"]}
    if "retain_acc" in side.scores[0]:  # the final score needs the two accuracies (classifiers)
        out["challenge_score"] = metrics.challenge_final_score(
            out["forget_quality"], (_mean(side, "retain_acc"), _mean(reference, "retain_acc")),
            (_mean(side, "test_acc"), _mean(reference, "test_acc")))
    return out


def _ulira(side: _Side, reference: _Side) -> dict[str, float]:
    out = metrics.ulira(side.confidences, reference.confidences)
    return {"ulira_auc": 100 * out["auc"], "ulira_acc": 100 * out["accuracy"]}


class _ClassifierTrack:
    """Classifier models: logit-scaled confidence, accuracies, probe / k-NN / relearning."""

    confidence_kind = "logit-scaled confidence: log p_y − log(1 − p_y)"

    def __init__(self, plan: EvalPlan, store: Store):
        self.plan, self.store, self.split = plan, store, plan.split

    def original(self):
        from obliviate.bench import cached_model

        return cached_model(self.store, self.plan.task, "original", 0, self.split)[0]

    def retrained(self, seed: int):
        from obliviate.bench import cached_model

        return cached_model(self.store, self.plan.task, "retrain", seed, self.split)[0]

    def unlearn(self, original, method: str, seed: int):
        from obliviate.classify.unlearn import unlearn_classifier

        split = self.split
        return unlearn_classifier(original, split.forget, split.retain, method, seed,
                                  self.plan.hparams.get(method, {}), holdout=split.val)

    def side(self, models: list) -> _Side:
        split, confidences = self.split, []
        for model in models:
            logits, labels = predict(model, split.forget)
            confidences.append(metrics.logit_confidence(logits.numpy(), labels.numpy()))
        scores = [evaluate(m, split.forget, split.retain, split.test, forget_test=split.forget_test) for m in models]
        return _Side(np.stack(confidences), scores)

    def standard(self, side: _Side, reference: _Side) -> dict[str, float]:
        """Mean and std over models of the standard scores, their gaps to the retrained
        models' means, and tug-of-war against those means (percent)."""
        out = _mean_std_gap(side, reference, metrics.GAP_KEYS)
        ref = {k: _mean(reference, k) / 100 for k in ("forget_acc", "retain_acc", "test_acc")}
        tows = [metrics.tug_of_war({k: s[k] / 100 for k in ref}, ref) for s in side.scores]
        out["tow"] = 100 * statistics.fmean(tows)
        out["tow_std"] = 100 * (statistics.stdev(tows) if len(tows) > 1 else 0.0)
        return out

    def residual(self, models: list) -> dict[str, float]:
        """Probe / k-NN recovery and relearning steps, means over models."""
        from obliviate.residual import probe_recovery, relearn_attack

        split = self.split
        probes = [probe_recovery(m, split.forget, split.retain, seed=i) for i, m in enumerate(models)]
        relearn = [relearn_attack(m, split.forget, seed=i) for i, m in enumerate(models)]
        return {"probe_acc": 100 * statistics.fmean(p["probe_acc"] for p in probes),
                "knn_acc": 100 * statistics.fmean(p["knn_acc"] for p in probes),
                "relearn_steps": statistics.fmean(r["steps_to_recover"] for r in relearn)}


class _LMTrack:
    """Language models: each forget answer's mean token log-likelihood plays the
    classifier's confidence; answer probabilities are the standard scores; the
    relearning attack (fine-tune on half the forget set) is the residual test."""

    confidence_kind = "mean log-likelihood of each forget answer's tokens"

    def __init__(self, plan: EvalPlan, store: Store):
        import transformers

        transformers.logging.set_verbosity_error()
        self.plan, self.store, self.split = plan, store, plan.split
        self.tokenizer = plan.task.tokenizer

    def original(self):
        return self.plan.task.model_for(self.store, "original", 0)[0]

    def retrained(self, seed: int):
        return self.plan.task.model_for(self.store, "retrain", seed, self.plan.forget)[0]

    def unlearn(self, original, method: str, seed: int):
        import warnings

        from obliviate.lm.unlearn import unlearn_lm

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # flags go into the table
            return unlearn_lm(original, self.tokenizer, self.split.forget, self.split.retain, method, seed,
                              self.plan.hparams.get(method, {}))

    def side(self, models: list) -> _Side:
        from obliviate.lm.evaluate import score
        from obliviate.lm.metrics import answer_probability

        confidences, scores = [], []
        for model in models:
            forget_nll = score(model, self.tokenizer, self.split.forget).avg_nll
            confidences.append(-forget_nll)
            scores.append({f"{name}_prob": 100 * float(answer_probability(
                forget_nll if name == "forget" else score(model, self.tokenizer, qas).avg_nll).mean())
                for name, qas in (("forget", None), ("retain", self.split.retain_eval),
                                  ("general", self.split.general))})
        return _Side(np.stack(confidences), scores)

    def standard(self, side: _Side, reference: _Side) -> dict[str, float]:
        """Mean and std over models of the answer probabilities (percent) and their gaps
        to the retain-only models' means."""
        return _mean_std_gap(side, reference, ("forget_prob", "retain_prob", "general_prob"))

    def residual(self, models: list) -> dict[str, float]:
        """The relearning attack's answer probability on the held-back forget half (percent)."""
        from obliviate.lm.evaluate import relearn_attack

        return {"relearn_prob": 100 * statistics.fmean(
            relearn_attack(m, self.tokenizer, self.split, seed=i)["relearn_prob"] for i, m in enumerate(models))}


COLUMNS = [  # (header, metric key, std key or None, digits); only the measured ones are shown
    ("UA", "forget_acc", "forget_acc_std", 1), ("RA", "retain_acc", "retain_acc_std", 1),
    ("TA", "test_acc", "test_acc_std", 1), ("MIA-eff", "mia_efficacy", "mia_efficacy_std", 1),
    ("ToW", "tow", "tow_std", 1),
    ("forget prob", "forget_prob", "forget_prob_std", 1), ("retain prob", "retain_prob", "retain_prob_std", 1),
    ("general prob", "general_prob", "general_prob_std", 1),
    ("F", "forget_quality", None, 3), ("score", "challenge_score", None, 3), ("U-LiRA AUC", "ulira_auc", None, 1),
    ("U-LiRA acc", "ulira_acc", None, 1),
    ("probe", "probe_acc", None, 1), ("k-NN", "knn_acc", None, 1), ("relearn steps", "relearn_steps", None, 1),
    ("relearn prob", "relearn_prob", None, 1),
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
