"""``obliviate bench`` for the diffusion track (digits-canvas): every method × seed
erases one concept from the same original denoiser and is scored against the
denoiser retrained without the concept's images.

The original and the retrained model are trained once (the task's seed) and cached;
the bench seeds vary the unlearning runs. Every model is sampled with the same noise
(see :class:`~obliviate.diffusion.evaluate.CanvasEval`), so the spread over seeds is
the methods' own."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from obliviate.core.registry import build, get_method
from obliviate.core.rows import check_hparams, progress_bars, record, summary_cells, with_bar
from obliviate.core.store import Store
from obliviate.diffusion.evaluate import evaluate_canvas
from obliviate.diffusion.task import CANVAS_TASKS, DigitsCanvasTask

PSEUDO = ("original",)
METRICS = ("ua", "ira", "cra", "fid", "kid", "asr_pre", "asr_post")
TABLE = [  # (column, metric key, digits)
    ("UA", "ua", 1), ("IRA", "ira", 1), ("CRA", "cra", 1), ("FID", "fid", 2), ("KID", "kid", 2),
    ("ASR pre", "asr_pre", 1), ("ASR post", "asr_post", 1), ("Avg.Gap", "avg_gap", 2),
]


@dataclass
class DiffusionBenchPlan:
    task: DigitsCanvasTask
    forget: str
    methods: list[str]
    seeds: list[int]
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # row name → method, for variants
    device: str | None = None  # where models train and are scored (None: CPU)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method


def plan_diffusion(task: str, forget: str, methods: list[str], seeds: list[int],
                   hparams: dict[str, dict[str, Any]], device: str | None = None) -> DiffusionBenchPlan:
    the_task = CANVAS_TASKS[task]
    forget = the_task.concept(forget).text  # validates the concept
    for m in methods:
        if m not in PSEUDO:
            get_method(m, "diffusion")
    check_hparams(methods, hparams, "diffusion")
    return DiffusionBenchPlan(the_task, forget, methods, seeds, hparams, device=device)


def run_diffusion(plan: DiffusionBenchPlan, store: Store, show_progress: bool = True, console=None,
            record_rows: bool = True) -> list[dict]:
    from obliviate.diffusion.unlearn import unlearn_diffusion

    task = plan.task
    order = ["original", "retrain"] + [m for m in plan.methods if m not in ("original", "retrain")]
    rows: list[dict] = []
    bar = progress_bars(show_progress, console)
    with bar as progress:
        judges = task.judges(store)
        epochs = task.recipe.epochs
        original, original_s = with_bar(progress, "original denoiser",
                                         lambda cb: task.model_for(store, "original", progress=cb,
                                                                               device=plan.device), epochs)
        retrained, retrain_s = with_bar(progress, f"retrain without {plan.forget}",
                                         lambda cb: task.model_for(store, "retrain", plan.forget, cb,
                                                                                device=plan.device), epochs)
        score = lambda model, **kw: evaluate_canvas(model, task.canvas, plan.forget, judges, **kw)  # noqa: E731
        reference = score(retrained)
        base = score(original, reference=reference)
        data = task.erase_data(plan.forget)
        for seed in plan.seeds:
            for name in order:
                method = plan.labels.get(name, name)
                row = {"task": task.name, "forget": plan.forget, "method": name, "seed": seed,
                       "hparams": {}, "flags": []}
                if method == "original":
                    scores, seconds = base, original_s
                elif method == "retrain":  # sampling is seeded: scoring it again would repeat `reference`
                    scores, seconds = _self_reference(reference), retrain_s
                    row["hparams"] = {"recipe": vars(task.recipe)}
                else:
                    hp = plan.hparams.get(name, {})
                    iterations = getattr(build(method, hp, "diffusion"), "iterations", 1)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # flags go into the table
                        result = with_bar(progress, f"seed {seed}: {name}", lambda cb: unlearn_diffusion(
                            original, data, method, seed, hp, cb), iterations)
                    scores = score(result.model, reference=reference, original=base)
                    seconds = result.seconds
                    row.update(hparams=result.hparams, flags=sorted(set(result.flags) | set(scores["flags"])))
                row["metrics"] = {k: scores[k] for k in METRICS} | {"seconds": seconds}
                row["gaps"] = {k: scores[f"{k}_gap"] for k in ("ua", "ira", "cra", "asr_post")}
                row["avg_gap"] = scores["avg_gap"]
                row["eval"] = scores["settings"]
                rows.append(row)
    if record_rows:
        record(store, rows, plan.tuned)
    return rows


def _self_reference(reference: dict) -> dict:
    gaps = {f"{k}_gap": 0.0 for k in ("ua", "ira", "cra", "asr_post")}
    return reference | gaps | {"avg_gap": 0.0}


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    return summary_cells(rows, TABLE, interval=("avg_gap", 2), paired="ua")
