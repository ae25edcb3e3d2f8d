"""``obliviate bench`` on the regression track: original, retrained reference and every
method × seed on a regression task, scored by RMSE / R² / loss-MIA against retraining."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from obliviate.core.registry import build, get_method
from obliviate.core.rows import check_hparams, pm, progress_bars, record, summarize
from obliviate.core.seeding import seed_everything
from obliviate.core.store import ModelKey, Store
from obliviate.regress.loop import RegressionData, mse
from obliviate.regress.metrics import evaluate
from obliviate.regress.tasks import RegressionSplit, RegressionTask, get_task

PSEUDO = ("original",)
FORGOT_SHARE = 0.05  # forget RMSE must move this share of the way to the retrained model's, else flagged
TEST_RISE = 0.10  # test RMSE more than 10% above the retrained model's: "lost_test_fit"


@dataclass
class RegressBenchPlan:
    task: RegressionTask
    split: RegressionSplit
    methods: list[str]
    seeds: list[int]
    hparams: dict[str, dict[str, Any]]
    forget: str
    tuned: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan(task: str, forget: str, methods: list[str], seeds: list[int],
         hparams: dict[str, dict[str, Any]]) -> RegressBenchPlan:
    the_task = get_task(task)
    split = the_task.split(forget)
    for m in methods:
        if m not in PSEUDO:
            get_method(m, "regress")
    check_hparams(methods, hparams, "regress")
    return RegressBenchPlan(the_task, split, methods, seeds, hparams, forget)


def train_from_scratch(task: RegressionTask, data, seed: int) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    model = task.make_model()
    recipe = build("retrain", task.recipe, "regress")
    start = time.perf_counter()
    recipe.apply(model, RegressionData(data, data), seed_everything(seed))
    return model, time.perf_counter() - start


def cached_model(store: Store, task: RegressionTask, kind: str, seed: int, split: RegressionSplit) -> tuple[nn.Module, float]:
    digest = hashlib.sha256(json.dumps(task.recipe, sort_keys=True).encode()).hexdigest()[:16]
    forget = "" if kind == "original" else split.spec
    key = ModelKey(task.name, kind, digest, seed, forget)
    hit = store.load_model(key)
    if hit is not None:
        model = task.make_model()
        model.load_state_dict(hit[0])
        return model.eval(), float(hit[1]["seconds"])
    model, seconds = train_from_scratch(task, split.retain if kind == "retrain" else task.train, seed)
    store.save_model(key, model.state_dict(), {"seconds": seconds, "forget": forget})
    return model, seconds


def run(bench: RegressBenchPlan, store: Store, *, show_progress: bool = True, console=None,
        record_rows: bool = True) -> list[dict]:
    methods = ["original"] + [m for m in bench.methods if m != "original"]
    if "retrain" in methods:
        methods.insert(1, methods.pop(methods.index("retrain")))
    scale, rows = bench.task.target_scale, []
    with progress_bars(show_progress, console) as progress:
        overall = progress.add_task("bench", total=len(methods) * len(bench.seeds)) if progress else None
        for seed in bench.seeds:
            original, original_s = cached_model(store, bench.task, "original", seed, bench.split)
            reference, reference_s = cached_model(store, bench.task, "retrain", seed, bench.split)
            ref = evaluate(reference, bench.split, scale)
            target = mse(original, bench.split.val)  # a model that never saw the forget set errs like this on it
            before = evaluate(original, bench.split, scale)
            for method in methods:
                row = {"task": bench.task.name, "forget": bench.forget, "method": method, "seed": seed,
                       "hparams": {}, "flags": [], "stop_reason": ""}
                if method == "original":
                    scores, seconds = before, original_s
                elif method == "retrain":
                    scores, seconds = ref, reference_s
                    row["hparams"] = dict(bench.task.recipe)
                else:
                    algorithm = build(method, bench.hparams.get(method, {}), "regress")
                    model = copy.deepcopy(original)
                    start = time.perf_counter()
                    history = algorithm.apply(model, RegressionData(bench.split.forget, bench.split.retain, target),
                                              seed_everything(seed))
                    seconds = time.perf_counter() - start
                    scores = evaluate(model, bench.split, scale)
                    row.update(hparams={k: v for k, v in vars(algorithm).items() if not k.startswith("_")
                                        and isinstance(v, (int, float, str, bool))},
                               flags=flags(before, scores, ref), stop_reason=history.stop_reason)
                row["metrics"] = scores | {"seconds": seconds}
                row["avg_gap"] = gap(scores, ref)
                rows.append(row)
                if progress:
                    progress.advance(overall)
    if record_rows:
        record(store, rows, bench.tuned)
    return rows


def gap(scores: dict, reference: dict) -> float:
    """Mean |difference| to the retrained model over forget, retain and test RMSE (target units)."""
    return sum(abs(scores[f"{p}_rmse"] - reference[f"{p}_rmse"]) for p in ("forget", "retain", "test")) / 3


def flags(before: dict, after: dict, retrained: dict) -> list[str]:
    """"forget_error_unmoved": forget RMSE moved less than 5% of the way from the original's
    to the retrained model's; "lost_test_fit": test RMSE more than 10% above the retrained model's."""
    out = []
    way = retrained["forget_rmse"] - before["forget_rmse"]
    if abs(way) > 1e-9 and (after["forget_rmse"] - before["forget_rmse"]) / way < FORGOT_SHARE:
        out.append("forget_error_unmoved")
    if after["test_rmse"] > (1 + TEST_RISE) * retrained["test_rmse"]:
        out.append("lost_test_fit")
    return out


COLUMNS = (("forget RMSE", "forget_rmse", 1), ("retain RMSE", "retain_rmse", 1), ("test RMSE", "test_rmse", 1),
           ("test R²", "test_r2", 3), ("MIA-eff", "mia_efficacy", 1))


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["method"] + [c[0] for c in COLUMNS] + ["gap", "time(s)", "flags"]
    body = []
    for s in summarize(rows):
        st = s["stats"]
        body.append([s["method"]] + [pm(st[key], d) for _, key, d in COLUMNS] +
                    [pm(st["avg_gap"], 2), pm(st["seconds"], 2), "; ".join(s["flags"])])
    return header, body
