"""SISA's cost against retraining, measured: the docs/benchmarks.md table.

For each built-in task and S shards x R slices: train the ensemble on the task's
training split with the task's recipe (epochs spread over the slices), report its
test accuracy; then delete k random training ids (k = 1, 10, 100), once as one
batch and once one id at a time, each from a fresh copy of the trained ensemble,
and report the wall time of the deletions against the time of retraining one model
on the rest with the same recipe (the speed-up = retraining's time / SISA's).

    .venv/bin/python bench/sisa_cost.py [--tasks digits,mnist1d] [--shards 1,2,4,8,16] [--slices 1,4]
                                        [--ks 1,10,100] [--json bench/results/sisa_cost.json]

S = 1, R = 1 is retraining itself (one model); its one-at-a-time deletions are k
full retrainings.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.utils.data import Subset

from obliviate.classify.metrics import accuracy
from obliviate.classify.tasks import get_task
from obliviate.classify.training import train_from_scratch
from obliviate.exact import SISAEnsemble


def run(tasks: list[str], shard_counts: list[int], slice_counts: list[int], ks: list[int], say=print) -> list[dict]:
    rows = []
    for name in tasks:
        task = get_task(name)
        train = task.train
        n = len(train)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()
        retrain_s = {}
        for k in ks:  # one model retrained on the rest: the gold standard's cost (median of 3 runs)
            keep = sorted(set(range(n)) - set(order[:k]))
            runs = [train_from_scratch(task, Subset(train, keep), seed=0) for _ in range(3)]
            model, seconds = runs[0][0], sorted(r[1] for r in runs)[1]
            retrain_s[k] = seconds
            say(f"{name}: retraining without {k} ids: {seconds:.2f} s, test {100 * accuracy(model, task.test):.1f}%")
        for slices in slice_counts:
            for shards in shard_counts:
                torch.manual_seed(0)
                start = time.perf_counter()
                fitted = SISAEnsemble(task.make_model(), task.num_classes, shards, slices, task.recipe,
                                      seed=0).fit(train)
                fit_s = time.perf_counter() - start
                test = 100 * accuracy(fitted, task.test)
                for k in ks:
                    ids = order[:k]
                    batched = copy.deepcopy(fitted)
                    report = batched.unlearn(ids)
                    one_by_one, seconds_each = copy.deepcopy(fitted), 0.0
                    for i in ids:
                        seconds_each += one_by_one.unlearn([i]).seconds
                    row = {"task": name, "shards": shards, "slices": slices, "k": k, "fit_s": fit_s,
                           "test_acc": test, "test_acc_after": 100 * accuracy(batched, task.test),
                           "batched_s": report.seconds, "one_at_a_time_s": seconds_each,
                           "shards_retrained": len(report.retrained), "retrain_s": retrain_s[k]}
                    rows.append(row)
                    say(f"{name} S={shards:2d} R={slices}: k={k:3d}  batched {report.seconds:7.2f} s "
                        f"({retrain_s[k] / report.seconds:5.1f}x, {len(report.retrained)} shards)  one at a time "
                        f"{seconds_each:7.2f} s ({k * retrain_s[k] / seconds_each:5.1f}x)  test {test:.1f}%")
    return rows


def markdown(rows: list[dict]) -> str:
    """Per task: one row per (S, R): test accuracy, then for each k the batched and
    one-at-a-time deletion times with their speed-ups over retraining."""
    ks = sorted({r["k"] for r in rows})
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        head = "| S × R | test acc. | " + " | ".join(f"k = {k}: batched / one at a time" for k in ks) + " |"
        out += [f"**{task}** (retraining one model: " + ", ".join(
            f"{next(r['retrain_s'] for r in rows if r['task'] == task and r['k'] == k):.2f} s without {k}"
            for k in ks) + ")", "", head, "|" + "---|" * (len(ks) + 2)]
        for key in dict.fromkeys((r["shards"], r["slices"]) for r in rows if r["task"] == task):
            cells = []
            for k in ks:
                r = next(x for x in rows if x["task"] == task and (x["shards"], x["slices"]) == key and x["k"] == k)
                cells.append(f"{r['batched_s']:.2f} s ({r['retrain_s'] / r['batched_s']:.1f}×) / "
                             f"{r['one_at_a_time_s']:.2f} s ({k * r['retrain_s'] / r['one_at_a_time_s']:.1f}×)")
            first = next(x for x in rows if x["task"] == task and (x["shards"], x["slices"]) == key)
            out.append(f"| {key[0]} × {key[1]} | {first['test_acc']:.1f} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="digits,mnist1d")
    parser.add_argument("--shards", default="1,2,4,8,16")
    parser.add_argument("--slices", default="1,4")
    parser.add_argument("--ks", default="1,10,100")
    parser.add_argument("--json", default="bench/results/sisa_cost.json")
    args = parser.parse_args(argv)
    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = run(args.tasks.split(","), ints(args.shards), ints(args.slices), ints(args.ks))
    print(markdown(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
