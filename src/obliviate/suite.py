"""``obliviate eval``: the rigorous evaluation suites, per method, against retraining.

Population accuracy and one SVC attack overstate forgetting (Hayes et al. 2025).
For every method this trains N unlearned models (N unlearning seeds, from one original
or, with ``originals=K``, from K independently trained originals in turn) and compares
them with N retrained models (N training seeds). One original makes a deterministic
method's N models identical, trivially told apart from N retrained ones (Hayes et al.);
K originals give the unlearned side the training randomness the retrained side has.

- ``challenge``: the NeurIPS 2023 challenge forget quality F (and the final score
  where the track defines one) from the N + N models' per-example confidences;
- ``privacy``: the challenge plus U-LiRA (per-example likelihood-ratio attack);
- ``residual``: the track's residual-knowledge attacks (probe, relearning, ...);
- ``full``: all of them, plus the track's standard scores, mean ± std;
- ``robust``: the track's attacks on forgotten knowledge (relearning, rewording,
  quantization, ...), each method's forget score under every attack next to the
  retrained models' under the same attack (tracks that define them: the LM track).

What a per-example confidence is, where the models come from and which attacks
apply is the track's (:meth:`~obliviate.core.track.Track.eval_models`); this module
only runs the suites over them.

The ``retrain`` row compares a *second* set of N retrained models with the first:
it is what a perfect method would score at this N (F is below 1 at small N).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from obliviate.core import metrics
from obliviate.core.executor import Executor, Serial
from obliviate.core.rows import check_hparams, check_lists, record
from obliviate.core.store import Store
from obliviate.core.track import Column, EvalSide, track_for_rows, track_for_task

SUITES = ("challenge", "privacy", "residual", "full", "robust")
RESIDUAL_MODELS = 3  # models per side the (slower) residual attacks run on


@dataclass
class EvalPlan:
    task: Any  # the track's task object
    split: Any  # its split
    methods: list[str]
    suite: str
    n_models: int = 16
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    forget: str = ""
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method
    device: str | None = None  # where models train and are scored (None: CPU)
    originals: int = 1  # independently trained originals the N unlearned models start from, in turn


def plan_eval(task: str, forget: str, methods: list[str], suite: str, n_models: int = 16,
              hparams: dict[str, dict[str, Any]] | None = None, device: str | None = None,
              originals: int = 1) -> EvalPlan:
    """Validate an evaluation request; every error is a one-line ``ValueError``."""
    from obliviate.core.devices import resolve_device

    track = track_for_task(task)
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
    if n_models < 4:
        raise ValueError(f"--models must be at least 4 (U-LiRA halves each side), got {n_models}")
    if not 1 <= originals <= n_models:
        raise ValueError(f"--originals must be between 1 and --models ({n_models}), got {originals}")
    methods = [m.strip() for m in methods if m.strip()]
    check_lists(methods, [0])
    if suite == "robust" and not track.robust_columns:
        raise ValueError(f"the robust suite has no attacks for the {track.name} track; use it on "
                         f"{', '.join(t for tr in _tracks_with_robust() for t in tr.task_names()) or 'no task'}")
    the_task, split, forget_text = track.plan_eval(task, forget, methods)
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    check_hparams(methods, hparams, track.name)
    device = str(resolve_device(device)) if device is not None else None
    return EvalPlan(the_task, split, methods, suite, n_models, hparams, forget_text, device=device,
                    originals=originals)


def _tracks_with_robust():
    from obliviate.core.track import tracks

    return [t for t in tracks() if t.robust_columns]


def run_eval(plan: EvalPlan, store: Store, progress: Callable[[str], None] | None = None,
             executor: Executor | None = None) -> list[dict]:
    """One row per method: each metric of the suite, against the N retrained models.
    The N trainings of each side go through ``executor`` (default: one after the other);
    the numbers are the same on every backend."""
    say = progress or (lambda text: None)
    each = (executor or Serial()).map
    models_of = track_for_task(plan.task.name).eval_models(plan, store)
    n = plan.n_models
    say(f"{plan.originals} original(s) and {n} retrained models")
    originals = [models_of.original(k) for k in range(plan.originals)]
    original = originals[0]
    retrained = each(models_of.retrained, range(n))
    reference = models_of.side(retrained)
    original_side = models_of.side([original])
    original_conf = _median(original_side)
    reference_residue: dict[str, float] = {}  # the retrained models' residual attacks, run once
    reference_robust: dict[str, float] = {}
    rows = []
    for method in plan.methods:
        say(f"{method}: {n} models")
        start = time.perf_counter()
        if method == "retrain":  # a second, independent set: the floor of every metric at this N
            models, flags = each(models_of.retrained, range(n, 2 * n)), []
        else:
            results = each(functools.partial(_unlearn_from, models_of, originals, method), range(n))
            models, flags = [r.model for r in results], sorted({f for r in results for f in r.flags})
        seconds = (time.perf_counter() - start) / n
        side = models_of.side(models)
        row = {"task": plan.task.name, "forget": plan.forget, "method": method, "suite": plan.suite,
               "n_models": n, "originals": plan.originals, "flags": flags, "hparams": plan.hparams.get(method, {}),
               "metrics": {"seconds": seconds}, "confidence_kind": models_of.confidence_kind}
        # per-example confidences (median over the models) for the report's histograms
        row |= {"forget_confidence": _median(side), "reference_confidence": _median(reference),
                "original_confidence": original_conf}
        if plan.suite == "full":
            row["metrics"] |= models_of.standard(side, reference) | models_of.before(original_side)
        if plan.suite in ("challenge", "privacy", "full"):
            quality = metrics.challenge_forget_quality(side.confidences, reference.confidences)["forget_quality"]
            row["metrics"]["forget_quality"] = quality
            row["metrics"] |= {f"threshold_tpr_{name}": 100 * metrics.example_threshold_tpr(
                side.confidences, reference.confidences, rate) for name, rate in (("1", 0.01), ("01", 0.001))}
            final = models_of.final_score(quality, side, reference)
            if final is not None:
                row["metrics"]["challenge_score"] = final
        if plan.suite in ("privacy", "full"):
            out = metrics.ulira(side.confidences, reference.confidences)
            row["metrics"] |= {"ulira_auc": 100 * out["auc"], "ulira_acc": 100 * out["accuracy"],
                               "ulira_tpr_1": 100 * out["tpr_at_1pct"], "ulira_tpr_01": 100 * out["tpr_at_01pct"],
                               "ulira_worst10": 100 * out["worst_decile_accuracy"]}
            row["ulira_worst_examples"] = out["worst_examples"]
            divergence = metrics.klom(side.confidences, reference.confidences)
            row["metrics"] |= {"klom_mean": float(divergence.mean()), "klom_p95": float(np.percentile(divergence, 95))}
        if plan.suite in ("residual", "full"):
            say(f"{method}: residual-knowledge attacks")
            reference_residue = reference_residue or models_of.residual(retrained[:RESIDUAL_MODELS])
            row["metrics"] |= models_of.residual(models[:RESIDUAL_MODELS]) | {
                f"{k}_retrain": v for k, v in reference_residue.items()}
        if plan.suite == "robust":
            say(f"{method}: attacks on forgotten knowledge")
            reference_robust = reference_robust or models_of.robust(retrained[:RESIDUAL_MODELS])
            row["metrics"] |= models_of.robust(models[:RESIDUAL_MODELS]) | {
                f"{k}_retrain": v for k, v in reference_robust.items()}
        rows.append(row)
    record(store, rows, plan.tuned)
    return rows


def _unlearn_from(models_of, originals: list, method: str, seed: int):
    """Unlearning seed ``seed`` starts from original ``seed mod K``."""
    return models_of.unlearn(originals[seed % len(originals)], method, seed)


def _median(side: EvalSide) -> list[float]:
    return [round(float(c), 3) for c in np.median(side.confidences, axis=0)]


PRIVACY_COLUMNS = (Column("F", "forget_quality", None, 3), Column("score", "challenge_score", None, 3),
                   Column("thr. TPR@1%", "threshold_tpr_1"), Column("thr. TPR@0.1%", "threshold_tpr_01"),
                   Column("U-LiRA AUC", "ulira_auc"), Column("U-LiRA acc", "ulira_acc"),
                   Column("TPR@1%FPR", "ulira_tpr_1"), Column("TPR@0.1%FPR", "ulira_tpr_01"),
                   Column("worst 10% acc", "ulira_worst10"), Column("KLoM", "klom_mean", digits=2),
                   Column("KLoM p95", "klom_p95", digits=2))


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: the columns the suite measured, mean ± std over the N models
    where it applies (the track's standard scores, then F / score / U-LiRA, then the
    track's residual attacks with the retrained models' value in brackets)."""
    track = track_for_rows(rows)
    columns = (*track.eval_columns, *PRIVACY_COLUMNS, *track.residual_columns, *track.robust_columns)
    present = [c for c in columns if c.key in rows[0]["metrics"]]
    header = ["method"] + [c.header for c in present] + ["time(s)", "flags"]
    body = []
    for row in rows:
        m, cells = row["metrics"], [row["method"]]
        for c in present:
            if c.high is not None:
                ends = sorted(100 - m[k] if c.complement else m[k] for k in (c.key, c.high))
                cells.append(f"[{ends[0]:.{c.digits}f}, {ends[1]:.{c.digits}f}]")
                continue
            value = 100 - m[c.key] if c.complement else m[c.key]
            text = f"{value:.{c.digits}f}" + (f"±{m[c.std]:.{c.digits}f}" if c.std else "")
            if f"{c.key}_retrain" in m:
                text += f" ({m[f'{c.key}_retrain']:.{c.digits}f})"
            cells.append(text)
        body.append(cells + [f"{m['seconds']:.2f}", "; ".join(row["flags"])])
    return header, body
