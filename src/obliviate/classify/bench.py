"""Benchmarks: every method × seed on one built-in task and forget spec, against retraining.

For each seed the original model (trained on the whole training split) and the
reference (retrained on the retain split) come from the store, trained once with
the task's recipe; each method unlearns from that seed's original; every model is
scored with :func:`obliviate.evaluate` against that seed's reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.classify.evaluate import evaluate
from obliviate.classify.presets import describe
from obliviate.classify.tasks import ClassifierTask, Split, get_task
from obliviate.classify.training import cached_model
from obliviate.classify.unlearn import hparams_of, unlearn_classifier
from obliviate.core.registry import build, get_method
from obliviate.core.results import TEST_LOSS_POINTS, MethodRefused
from obliviate.core.results import judged_flags as judge
from obliviate.core.store import Store
from obliviate.core.rows import (PSEUDO_METHODS, check_hparams, check_lists, interval_cells, pm, progress_bars, record,
                                 summarize, with_bar)

METRIC_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")


@dataclass
class BenchPlan:
    """A validated benchmark request: nothing has been trained or written yet."""

    task: ClassifierTask
    split: Split
    methods: list[str]
    seeds: list[int]
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str | None = None  # where models train and are scored (None: CPU)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method
    note: str = ""  # which defaults the methods take (the task's preset), printed before the run

    @property
    def forget(self) -> str:
        return self.split.spec.text


def plan(task: str, forget: str, methods: Iterable[str], seeds: Iterable[int],
         hparams: dict[str, dict[str, Any]] | None = None, device: str | None = None) -> BenchPlan:
    """Validate a benchmark request; every error is a one-line ``ValueError``."""
    methods, seeds = [m.strip() for m in methods if m.strip()], list(seeds)
    the_task = get_task(task)
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    recipe = hparams.pop("retrain", {})
    if recipe:  # retrain.* changes the task's training recipe: the original's and the retrained model's
        the_task = the_task.with_recipe(_typed("retrain", the_task.recipe | recipe))
    split = the_task.split(forget)
    check_lists(methods, seeds)
    for m in methods:
        if m not in PSEUDO_METHODS:
            info = get_method(m, "classifier")
            if getattr(info.cls, "class_level_only", False) and split.spec.kind != "class":
                raise ValueError(f"{m} is class-level only: use a class:K forget spec, not {split.spec.text!r}")
    check_hparams(methods, hparams, "classifier")
    merged = {m: the_task.method_hparams(m, hparams.get(m)) for m in methods if m not in PSEUDO_METHODS + ("retrain",)}
    hparams = {m: _typed(m, hp) for m, hp in merged.items() if hp}
    return BenchPlan(the_task, split, methods, seeds, hparams, device, note=describe(the_task.preset, methods))


def _typed(method: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` (command-line strings among them) as the method's typed values."""
    built = build(method, hparams, "classifier")
    return {k: getattr(built, k) for k in hparams}


def score(model: nn.Module, split: Split, reference: dict | None) -> dict[str, float]:
    scores = evaluate(model, split.forget, split.retain, split.test, reference=reference,
                      forget_test=split.forget_test)
    if split.triggered_test is not None:
        scores |= corrective_scores(model, split.triggered_test)
    return scores


def corrective_scores(model: nn.Module, triggered) -> dict[str, float]:
    """Accuracy on the triggered test set with its true labels (higher: the poison is
    corrected) and the attack success rate, the share put in the target class (lower
    is better), in percent (Goel et al., "Corrective Machine Unlearning")."""
    from obliviate.classify.data import predict
    from obliviate.classify.tasks import POISON_TARGET

    logits, y = predict(model, triggered)
    guess = logits.argmax(1)
    return {"triggered_acc": 100 * (guess == y).float().mean().item(),
            "attack_success": 100 * (guess == POISON_TARGET).float().mean().item()}


def run(bench: BenchPlan, store: Store, *, show_progress: bool = True, console=None,
        record_rows: bool = True) -> list[dict]:
    """Run a validated plan; returns one row per (method, seed), also recorded in the store."""
    device = bench.device
    methods = ["original"] + [m for m in bench.methods if m != "original"]
    if "retrain" in methods:  # show retrain right after the original
        methods.remove("retrain")
        methods.insert(1, "retrain")
    rows: list[dict] = []
    epochs = bench.task.recipe["epochs"]
    with progress_bars(show_progress, console) as progress:
        overall = progress.add_task("bench", total=len(methods) * len(bench.seeds)) if progress else None
        for seed in bench.seeds:
            original, original_s, _ = with_bar(progress, f"seed {seed}: original", lambda cb: cached_model(
                store, bench.task, "original", seed, bench.split, cb, device), epochs)
            reference, reference_s, _ = with_bar(progress, f"seed {seed}: retrain", lambda cb: cached_model(
                store, bench.task, "retrain", seed, bench.split, cb, device), epochs)
            ref_scores = score(reference, bench.split, None)
            original_scores = score(original, bench.split, ref_scores)
            for method in methods:
                row = _row(bench, method, seed)
                if method == "original":
                    scores, seconds = original_scores, original_s
                elif method == "retrain":
                    scores, seconds = score(reference, bench.split, ref_scores), reference_s
                    row["hparams"] = dict(bench.task.recipe)
                else:
                    hp = bench.hparams.get(method, {})
                    epochs_of_method = build(method, hp, "classifier").__dict__.get("epochs", 1)
                    try:
                        if bench.split.stream_ids is not None:  # the requests in turn, scored after each
                            result, row["stream"] = stream(bench, store, original, method, seed, hp, device)
                        else:
                            result = with_bar(progress, f"seed {seed}: {method}", lambda cb: unlearn_classifier(
                                original, bench.split.forget, bench.split.retain, method, seed, hp, cb,
                                holdout=bench.split.holdout), epochs_of_method, quiet=True)
                    except MethodRefused as refusal:  # the model is unchanged: the row shows the original's scores
                        result = None
                        scores, seconds = original_scores, 0.0
                        row.update(hparams=hparams_of(build(method, hp, "classifier")), flags=["refused"],
                                   stop_reason=str(refusal))
                    else:
                        scores, seconds = score(result.model, bench.split, ref_scores), result.seconds
                        row.update(hparams=result.hparams, flags=judged_flags(result.flags, original_scores, scores,
                                                                              ref_scores),
                                   stop_reason=result.stop_reason)
                row["metrics"] = {k: scores[k] for k in METRIC_KEYS} | {"seconds": seconds}
                if method not in ("original", "retrain"):
                    row["metrics"]["check_seconds"] = result.check_seconds if result is not None else 0.0
                for key in ("forget_test_acc", "triggered_acc", "attack_success"):
                    if key in scores:
                        row["metrics"][key] = scores[key]
                row["gaps"] = {k: scores[f"{k}_gap"] for k in METRIC_KEYS}
                row["avg_gap"] = scores["avg_gap"]
                rows.append(row)
                if progress:
                    progress.advance(overall)
    if record_rows:
        record(store, rows, bench.tuned)
    return rows


def stream(bench: BenchPlan, store: Store, original: nn.Module, method: str, seed: int, hp: dict,
           device) -> tuple[Any, list[dict]]:
    """Unlearn the stream's requests one after another, each from the model the previous
    one left; after request k, score the model on everything deleted so far against a
    model retrained without it (stored as ``stream:K:FRAC@k``). Returns the last
    request's result (its ``seconds`` the sum over requests, its flags those of any
    request) and one record per request."""
    import dataclasses

    from obliviate.classify.tasks import stream_step

    split, model, steps, seconds, flags = bench.split, original, [], 0.0, set()
    for k in range(1, len(split.stream_ids) + 1):
        step = stream_step(bench.task, split, k)
        reference = cached_model(store, bench.task, "retrain", seed, step, None, device)[0]
        result = unlearn_classifier(model, step.forget, step.retain, method, seed, hp, holdout=split.holdout)
        model, seconds = result.model, seconds + result.seconds
        flags |= set(result.flags)
        x, y = bench.task.train.tensors
        gone = torch.cat(split.stream_ids[:k])
        so_far = dataclasses.replace(step, forget=TensorDataset(x[gone], y[gone]))
        scores = score(model, so_far, score(reference, so_far, None))
        steps.append({"request": k, "forget_acc": scores["forget_acc"], "retain_acc": scores["retain_acc"],
                      "test_acc": scores["test_acc"], "avg_gap": scores["avg_gap"], "seconds": result.seconds})
    return dataclasses.replace(result, seconds=seconds, flags=sorted(flags)), steps


def judged_flags(flags: list[str], original: dict, scores: dict, retrained: dict) -> list[str]:
    """A run's flags judged against the retrained model of the benchmark (full sets):
    forgetting against its forget accuracy (no flag when the original already matches
    it; "under_forgot" / "over_forgot" far above / below it), and "lost_test_accuracy" when test accuracy ends
    more than ``TEST_LOSS_POINTS`` below its own."""
    lost = retrained["test_acc"] - scores["test_acc"] > TEST_LOSS_POINTS
    return judge(flags, original, scores, retrained["forget_acc"], ["lost_test_accuracy"] if lost else [])


def _row(bench: BenchPlan, method: str, seed: int) -> dict:
    return {"task": bench.task.name, "forget": bench.forget, "method": method, "seed": seed,
            "hparams": {}, "flags": [], "stop_reason": ""}


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table: mean ± std over seeds of UA (= 100 − forget
    accuracy), RA, TA, [TA of the forgotten class], MIA-efficacy, Avg. Gap, seconds, flags."""
    class_wise = any("forget_test_acc" in r["metrics"] for r in rows)
    corrective = any("triggered_acc" in r["metrics"] for r in rows)
    header = ["method", "UA", "RA", "TA"] + (["TA(class)"] if class_wise else []) + \
        (["TA(triggered)", "ASR"] if corrective else []) + \
        ["MIA-eff", "Avg.Gap", "Avg.Gap 95% CI", "p(UA=retrain)", "time(s)", "flags"]
    body = []
    for s in summarize(rows):
        st = s["stats"]
        cells = [s["method"], pm((100 - st["forget_acc"][0], st["forget_acc"][1])),
                 pm(st["retain_acc"]), pm(st["test_acc"])]
        if class_wise:
            cells.append(pm(st["forget_test_acc"]))
        if corrective:
            cells += [pm(st["triggered_acc"]), pm(st["attack_success"])]
        cells += [pm(st["mia_efficacy"]), pm(st["avg_gap"], 2), *interval_cells(rows, s["method"], ("avg_gap", 2),
                                                                                "forget_acc"),
                  pm(st["seconds"], 2), "; ".join(s["flags"])]
        body.append(cells)
    return header, body
