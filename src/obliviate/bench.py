"""Benchmarks: every method × seed on one built-in task and forget spec, against retraining.

For each seed the original model (trained on the whole training split) and the
reference (retrained on the retain split) come from the store, trained once with
the task's recipe; each method unlearns from that seed's original; every model is
scored with :func:`obliviate.evaluate` against that seed's reference.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn

from obliviate.classify.data import UnlearnData
from obliviate.classify.loop import warm_up
from obliviate.classify.tasks import TASKS, ClassifierTask, Split, get_task
from obliviate.classify.unlearn import unlearn_classifier
from obliviate.core.registry import build, get_method
from obliviate.core.results import FLAG_TEXT
from obliviate.core.seeding import seed_everything
from obliviate.core.store import ModelKey, Store, write_text_atomic
from obliviate.evaluate import evaluate

PSEUDO_METHODS = ("original",)
LM_TASK_NAMES = ("tofu-mini",)
DIFFUSION_TASK_NAMES = ("digits-canvas",)
METRIC_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")


@dataclass
class BenchPlan:
    """A validated benchmark request: nothing has been trained or written yet."""

    task: ClassifierTask
    split: Split
    methods: list[str]
    seeds: list[int]
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method

    @property
    def forget(self) -> str:
        return self.split.spec.text


def plan(task: str, forget: str, methods: Iterable[str], seeds: Iterable[int],
         hparams: dict[str, dict[str, Any]] | None = None):
    """Validate a benchmark request; every error is a one-line ``ValueError``."""
    methods, seeds = [m.strip() for m in methods if m.strip()], list(seeds)
    if task in LM_TASK_NAMES:
        from obliviate.lm.bench import plan_lm

        _check_lists(methods, seeds)
        return plan_lm(task, forget, methods, seeds, {k: dict(v) for k, v in (hparams or {}).items()})
    if task in DIFFUSION_TASK_NAMES:
        from obliviate.diffusion.bench import plan_diffusion

        _check_lists(methods, seeds)
        return plan_diffusion(task, forget, methods, seeds, {k: dict(v) for k, v in (hparams or {}).items()})
    if task not in TASKS:
        names = [*TASKS, *LM_TASK_NAMES, *DIFFUSION_TASK_NAMES]
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(names)}")
    the_task = get_task(task)
    split = the_task.split(forget)
    _check_lists(methods, seeds)
    for m in methods:
        if m not in PSEUDO_METHODS:
            info = get_method(m, "classifier")
            if getattr(info.cls, "class_level_only", False) and split.spec.kind != "class":
                raise ValueError(f"{m} is class-level only: use a class:K forget spec, not {split.spec.text!r}")
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    check_hparams(methods, hparams, "classifier")
    return BenchPlan(the_task, split, methods, seeds, hparams)


def check_hparams(methods: list[str], hparams: dict[str, dict[str, Any]], track: str) -> None:
    """Refuse hyperparameters for methods not run, for retrain (the task's recipe) and
    the original, and any a method does not know (names, types and ranges)."""
    for m, hp in hparams.items():
        if m not in methods:
            raise ValueError(f"hyperparameters given for {m!r}, which is not among the methods {methods}")
        if m == "retrain" and hp:
            raise ValueError("retrain always uses the task's own training recipe; it takes no hyperparameters in bench")
        if m in PSEUDO_METHODS:
            raise ValueError(f"{m!r} takes no hyperparameters")
        build(m, hp, track)


def _check_lists(methods: list[str], seeds: list[int]) -> None:
    if not methods:
        raise ValueError("no methods given")
    dup = sorted({m for m in methods if methods.count(m) > 1})
    if dup:
        raise ValueError(f"method(s) listed twice: {', '.join(dup)}")
    if not seeds:
        raise ValueError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds listed twice in {seeds}")


def forget_key(split: Split) -> str:
    """A stable name of the forget set for the store (ids files are named by content)."""
    if split.spec.kind == "ids":
        digest = hashlib.sha256(split.forget_ids.numpy().tobytes()).hexdigest()[:16]
        return f"ids:{digest}"
    return split.spec.text


def train_from_scratch(task: ClassifierTask, data, seed: int,
                       progress: Callable[[int, int, float], None] | None = None) -> tuple[nn.Module, float]:
    """Train ``task``'s model on ``data`` with the task's recipe (the ``retrain`` method)."""
    torch.manual_seed(seed)
    model = task.make_model()
    recipe = build("retrain", task.recipe, "classifier")
    generator = seed_everything(seed)
    warm_up()
    start = time.perf_counter()
    recipe.apply(model, UnlearnData(forget=data, retain=data, num_classes=task.num_classes), generator, progress)
    return model, time.perf_counter() - start


def cached_model(store: Store, task: ClassifierTask, kind: str, seed: int, split: Split,
                 progress=None) -> tuple[nn.Module, float, bool]:
    """The original (``kind="original"``) or retrained reference model for ``seed``,
    from the store or trained now and stored. Returns (model, training seconds, cached?)."""
    key = ModelKey(task.name, kind, task.recipe_digest(), seed,
                   "" if kind == "original" else forget_key(split))
    hit = store.load_model(key)
    if hit is not None:
        state, meta = hit
        model = task.make_model()
        model.load_state_dict(state)
        model.eval()
        return model, float(meta["seconds"]), True
    data = split.retain if kind == "retrain" else task.train
    model, seconds = train_from_scratch(task, data, seed, progress)
    store.save_model(key, model.state_dict(),
                     {"seconds": seconds, "recipe": task.recipe, "n_train": len(data), "forget": key.forget})
    return model, seconds, False


def score(model: nn.Module, split: Split, reference: dict | None) -> dict[str, float]:
    return evaluate(model, split.forget, split.retain, split.test, reference=reference,
                    forget_test=split.forget_test)


def run(bench: BenchPlan, store: Store, *, show_progress: bool = True, console=None) -> list[dict]:
    """Run a validated plan; returns one row per (method, seed), also recorded in the store."""
    if not isinstance(bench, BenchPlan):  # a language-model or diffusion plan
        if bench.task.name in DIFFUSION_TASK_NAMES:
            from obliviate.diffusion.bench import run_diffusion

            return run_diffusion(bench, store, show_progress=show_progress, console=console)
        from obliviate.lm.bench import run_lm

        return run_lm(bench, store, show_progress=show_progress, console=console)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    methods = ["original"] + [m for m in bench.methods if m != "original"]
    if "retrain" in methods:  # show retrain right after the original
        methods.remove("retrain")
        methods.insert(1, "retrain")
    rows: list[dict] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    bar = Progress(*columns, console=console, transient=True) if show_progress else nullcontext()
    with bar as progress:
        overall = progress.add_task("bench", total=len(methods) * len(bench.seeds)) if progress else None
        for seed in bench.seeds:
            original, original_s, _ = _with_bar(progress, f"seed {seed}: original",
                                                lambda cb: cached_model(store, bench.task, "original", seed, bench.split, cb),
                                                bench.task.recipe["epochs"])
            reference, reference_s, _ = _with_bar(progress, f"seed {seed}: retrain",
                                                  lambda cb: cached_model(store, bench.task, "retrain", seed, bench.split, cb),
                                                  bench.task.recipe["epochs"])
            ref_scores = score(reference, bench.split, None)
            for method in methods:
                row = _row(bench, method, seed)
                if method == "original":
                    scores, seconds = score(original, bench.split, ref_scores), original_s
                elif method == "retrain":
                    scores, seconds = score(reference, bench.split, ref_scores), reference_s
                    row["hparams"] = dict(bench.task.recipe)
                else:
                    hp = bench.hparams.get(method, {})
                    epochs = build(method, hp, "classifier").__dict__.get("epochs", 1)
                    result = _with_bar(progress, f"seed {seed}: {method}", lambda cb: unlearn_classifier(
                        original, bench.split.forget, bench.split.retain, method, seed, hp, cb,
                        holdout=bench.split.val), epochs, quiet=True)
                    scores, seconds = score(result.model, bench.split, ref_scores), result.seconds
                    row.update(hparams=result.hparams, flags=result.flags, stop_reason=result.stop_reason)
                row["metrics"] = {k: scores[k] for k in METRIC_KEYS} | {"seconds": seconds}
                if "forget_test_acc" in scores:
                    row["metrics"]["forget_test_acc"] = scores["forget_test_acc"]
                row["gaps"] = {k: scores[f"{k}_gap"] for k in METRIC_KEYS}
                row["avg_gap"] = scores["avg_gap"]
                rows.append(row)
                if progress:
                    progress.advance(overall)
    record(store, rows, bench.tuned)
    return rows


def record(store: Store, rows: list[dict], tuned: dict[str, dict[str, Any]]) -> None:
    """Record a run's rows in the store, each carrying the tuning provenance of its
    method (from ``obliviate tune``), so that reports from the store show it too."""
    for row in rows:
        if row["method"] in tuned:
            row["tuned"] = tuned[row["method"]]
    store.record_runs(uuid.uuid4().hex, rows)


def _row(bench: BenchPlan, method: str, seed: int) -> dict:
    return {"task": bench.task.name, "forget": bench.forget, "method": method, "seed": seed,
            "hparams": {}, "flags": [], "stop_reason": ""}


def _with_bar(progress, label: str, fn, total: int, quiet: bool = False):
    """Run ``fn(callback)`` with a transient progress bar fed by the epoch callback."""
    import warnings

    if not progress:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            return fn(None)
    task_id = progress.add_task(label, total=max(total, 1))

    def callback(epoch: int, epochs: int, loss: float) -> None:
        progress.update(task_id, completed=epoch, total=epochs)

    try:
        with warnings.catch_warnings():
            if quiet:  # flags are shown in the table instead
                warnings.simplefilter("ignore")
            return fn(callback)
    finally:
        progress.remove_task(task_id)


# -- summarising -------------------------------------------------------------------

def summarize(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of every metric, per method (input order)."""
    order = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in order:
        group = [r for r in rows if r["method"] == method]
        keys = list(group[0]["metrics"])
        stats = {k: _mean_std([r["metrics"][k] for r in group]) for k in keys}
        if "avg_gap" in group[0]:
            stats["avg_gap"] = _mean_std([r["avg_gap"] for r in group])
        flags = sorted({f"{f} (seed {r['seed']})" for r in group for f in r.get("flags", [])})
        out.append({"method": method, "n": len(group), "stats": stats, "flags": flags})
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table: mean ± std over seeds of UA (= 100 − forget
    accuracy), RA, TA, [TA of the forgotten class], MIA-efficacy, Avg. Gap, seconds, flags
    (language-model rows: the TOFU / MUSE columns of ``obliviate.lm.bench``; diffusion
    rows: the UnlearnCanvas columns of ``obliviate.diffusion.bench``)."""
    if "suite" in rows[0]:  # obliviate eval rows
        from obliviate.suite import table_cells as eval_cells

        return eval_cells(rows)
    if "model_utility" in rows[0]["metrics"]:
        from obliviate.lm.bench import table_cells as lm_cells

        return lm_cells(rows)
    if "ira" in rows[0]["metrics"]:
        from obliviate.diffusion.bench import table_cells as diffusion_cells

        return diffusion_cells(rows)
    class_wise = any("forget_test_acc" in r["metrics"] for r in rows)
    header = ["method", "UA", "RA", "TA"] + (["TA(class)"] if class_wise else []) + \
        ["MIA-eff", "Avg.Gap", "time(s)", "flags"]
    body = []
    for s in summarize(rows):
        st = s["stats"]
        cells = [s["method"], _pm((100 - st["forget_acc"][0], st["forget_acc"][1])),
                 _pm(st["retain_acc"]), _pm(st["test_acc"])]
        if class_wise:
            cells.append(_pm(st["forget_test_acc"]))
        cells += [_pm(st["mia_efficacy"]), _pm(st["avg_gap"], 2), _pm(st["seconds"], 2), "; ".join(s["flags"])]
        body.append(cells)
    return header, body


def render_table(rows: list[dict], title: str = ""):
    """The summary table as a rich Table (flags in red)."""
    from rich.table import Table

    header, body = table_cells(rows)
    table = Table(title=title, title_justify="left")
    for name in header:
        table.add_column(name, justify="left" if name in ("method", "flags") else "right", no_wrap=name != "flags")
    for cells in body:
        table.add_row(*cells[:-1], f"[bold red]{cells[-1]}[/]" if cells[-1] else "")
    return table


def markdown_table(rows: list[dict]) -> str:
    """The summary table in Markdown."""
    header, body = table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _pm(ms: tuple[float, float], digits: int = 1) -> str:
    mean, std = ms
    return f"{mean:.{digits}f}±{std:.{digits}f}"


def warnings_text(rows: list[dict]) -> list[str]:
    return [f"{r['method']} (seed {r['seed']}): {FLAG_TEXT[f]}" for r in rows for f in r.get("flags", [])]


def save_json(rows: list[dict], path: str) -> None:
    write_text_atomic(path, json.dumps(rows, indent=1, sort_keys=True) + "\n")
