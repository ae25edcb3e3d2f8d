"""``obliviate bench`` for language-model tasks (tofu-mini): each method against the
retain-only model, with TOFU / MUSE metrics."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from obliviate.core.registry import get_method
from obliviate.core.results import UTILITY_LOSS
from obliviate.core.results import judged_flags as judge
from obliviate.core.rows import check_hparams, record, summary_cells
from obliviate.core.store import Store
from obliviate.lm.evaluate import evaluate_lm, public
from obliviate.lm.task import LM_TASKS, TofuMiniTask

PSEUDO = ("original",)
TABLE = [  # (column, metric key, digits)
    ("log10 FQ", "log10_forget_quality", 2), ("MU", "model_utility", 3), ("forget ROUGE", "forget_rouge", 3),
    ("forget prob", "forget_prob", 3), ("PrivLeak", "privleak", 1), ("Leak@1", "leak_at_1", 3),
    ("Leak@5", "leak_at_5", 3), ("MinK AUC", "mia_mink_auc", 3), ("ES", "extraction_strength", 3),
    ("relearn prob", "relearn_prob", 3),
]


@dataclass
class LMBenchPlan:
    task: TofuMiniTask
    forget: str
    methods: list[str]
    seeds: list[int]
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str | None = None  # where models train and are scored (None: CPU)
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)  # provenance from obliviate tune, per method


def plan_lm(task: str, forget: str, methods: list[str], seeds: list[int],
            hparams: dict[str, dict[str, Any]], device: str | None = None) -> LMBenchPlan:
    the_task = LM_TASKS[task]
    if forget not in the_task.specs:
        raise ValueError(f"unknown forget spec {forget!r} for {task}; use {', '.join(the_task.specs)}")
    for m in methods:
        if m not in PSEUDO and m != "retrain":
            get_method(m, "lm")
    check_hparams(methods, hparams, "lm")
    return LMBenchPlan(the_task, forget, methods, seeds, hparams, device)


def run_lm(plan: LMBenchPlan, store: Store, show_progress: bool = True, console=None,
            record_rows: bool = True) -> list[dict]:
    import transformers

    transformers.logging.set_verbosity_error()
    from obliviate.lm.unlearn import unlearn_lm

    split = plan.task.split(plan.forget)
    rows: list[dict] = []
    order = ["original", "retrain"] + [m for m in plan.methods if m not in ("original", "retrain")]
    for seed in plan.seeds:
        say = (lambda text: console.print(text)) if (console and show_progress) else (lambda text: None)
        say(f"seed {seed}: original model")
        original, tokenizer, original_s = plan.task.model_for(store, "original", seed, progress=show_progress,
                                                               device=plan.device)
        say(f"seed {seed}: retain-only model")
        retained, _, retain_s = plan.task.model_for(store, "retrain", seed, plan.forget, progress=show_progress,
                                                        device=plan.device)
        evaluate = lambda model, ref: evaluate_lm(model, tokenizer, split, reference=ref, seed=seed,  # noqa: E731
                                                  truth_ratio_against="answer", relearn=True)
        reference = evaluate(retained, None)
        original_scores = evaluate(original, reference)
        for method in order:
            row = {"task": plan.task.name, "forget": plan.forget, "method": method, "seed": seed,
                   "hparams": {}, "flags": []}
            if method == "original":
                scores, seconds = original_scores, original_s
            elif method == "retrain":
                scores, seconds = evaluate(retained, reference), retain_s
                row["hparams"] = {"recipe": vars(plan.task.recipe)}
            else:
                say(f"seed {seed}: {method}")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # flags go into the table
                    result = unlearn_lm(original, tokenizer, *split.to_unlearn(), method, seed,
                                        plan.hparams.get(method, {}), progress=show_progress)
                scores, seconds = evaluate(result.model, reference), result.seconds
                row.update(hparams=result.hparams, flags=judged_flags(result.flags, original_scores, scores, reference))
            row["metrics"] = public(scores) | {"seconds": seconds}
            rows.append(row)
    if record_rows:
        record(store, rows, plan.tuned)
    return rows


def judged_flags(flags: list[str], original: dict, scores: dict, retained: dict) -> list[str]:
    """A run's flags judged against the retain-only model, as the classifier bench judges
    against the retrained one: forgetting on the forget answers' probability (percent)
    against the retain-only model's, collapse on the retain answers' probability, and
    "lost_utility" when model utility ends more than ``UTILITY_LOSS`` below its own."""
    as_health = lambda s: {"forget_acc": 100 * s["forget_prob"], "retain_acc": 100 * s["retain_prob"]}  # noqa: E731
    lost = retained["model_utility"] - scores["model_utility"] > UTILITY_LOSS
    return judge(flags, as_health(original), as_health(scores), 100 * retained["forget_prob"],
                 ["lost_utility"] if lost else [])


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    table = TABLE + ([("VerbMem", "verbmem_f", 3)] if any("verbmem_f" in r["metrics"] for r in rows) else [])
    return summary_cells(rows, table, plain_single_seed=True, interval=("forget_prob", 3), paired="forget_prob")
