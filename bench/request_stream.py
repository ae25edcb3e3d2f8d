"""A stream of K deletion requests, processed one at a time: utility after each
(MUSE's sustainability criterion: does the model survive sequential unlearning?).

For each method, a fresh registry: digits registered as one model (the approximate
methods) or as a SISA ensemble (``sisa``); then K requests of m random training ids
each (disjoint, the same for every method) are submitted and processed one by one
through the deletion-request workflow (``obliviate requests``), so each step is a
new deployed version with its evidence. After each step: test and retain accuracy of
the deployed model, its accuracy on every id deleted so far, the same for a model
retrained without them (the evidence's reference), and the step's unlearning time.

    .venv/bin/python bench/request_stream.py [--methods salun,rl,ft,scrub,ssd,sisa] [--k 8] [--m 10]
                                             [--json bench/results/request_stream.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from obliviate.core.track import deployment_for
from obliviate.requests import workflow
from obliviate.requests.ledger import Ledger


def run(methods: list[str], k: int, m: int, task: str = "digits", say=print) -> list[dict]:
    n = len(deployment_for({"task": task}).training_ids())
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()
    batches = [order[i * m:(i + 1) * m] for i in range(k)]
    base = Path(tempfile.mkdtemp(prefix="obliviate-stream-"))
    registered = {}
    rows = []
    for method in methods:
        kind = "sisa" if method == "sisa" else "model"
        if kind not in registered:  # one registration per kind, copied for each method
            home = base / f"registered-{kind}"
            url = f"sqlite:///{home / 'ledger.sqlite'}"
            spec = {"task": task, "kind": kind} | ({"shards": 4} if kind == "sisa" else {})
            workflow.register(url, home, "stream", spec, say=lambda _: None)
            registered[kind] = home
        home = base / method
        shutil.copytree(registered[kind], home)
        url = f"sqlite:///{home / 'ledger.sqlite'}"
        for step, ids in enumerate(batches, 1):
            request, _ = workflow.submit(url, "stream", [str(i) for i in ids])
            try:
                (evidence_id,) = workflow.process(url, home, "stream", method=method, say=lambda _: None)
            except ValueError as err:
                rows.append({"method": method, "step": step, "failed": str(err)[:200]})
                say(f"{method:8s} step {step}: not promoted ({str(err)[:80]})")
                continue
            record = Ledger(url).evidence(evidence_id)["record"]
            v = record["verification"]
            row = {"method": method, "step": step, "deleted_so_far": step * m,
                   "test_acc": v["after"]["test_acc"], "retain_acc": v["after"]["retain_acc"],
                   "forget_acc": v["after"]["forget_acc"], "seconds": record["unlearning_seconds"],
                   "flags": record["flags"]}
            if "retrained" in v:
                row |= {"retrained_test_acc": v["retrained"]["test_acc"],
                        "retrained_forget_acc": v["retrained"]["forget_acc"]}
            rows.append(row)
            say(f"{method:8s} step {step}: test {row['test_acc']:.1f} (retrained {row.get('retrained_test_acc', 0):.1f})"
                f"  retain {row['retain_acc']:.1f}  this request's ids {row['forget_acc']:.0f}%  "
                f"{row['seconds']:.2f} s {','.join(row['flags'])}")
    shutil.rmtree(base, ignore_errors=True)
    return rows


def markdown(rows: list[dict], k: int) -> str:
    steps = sorted({1, 2, k // 2, k} - {0})
    head = ("| method | " + " | ".join(f"after {s}: test / retrained" for s in steps) +
            " | mean s per request | not promoted |")
    lines = [head, "|" + "---|" * (len(steps) + 3)]
    # the retrained reference depends only on the ids deleted so far: the same for every method
    reference = {r["step"]: r["retrained_test_acc"] for r in rows if "retrained_test_acc" in r}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        cells = []
        for s in steps:
            r = next((x for x in mine if x["step"] == s), None)
            cells.append("—" if r is None or "failed" in r else
                         f"{r['test_acc']:.1f} / {reference.get(s, float('nan')):.1f}")
        done = [r for r in mine if "failed" not in r]
        mean_s = sum(r["seconds"] for r in done) / max(len(done), 1)
        lines.append(f"| `{method}` | " + " | ".join(cells) + f" | {mean_s:.2f} | {len(mine) - len(done)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", default="salun,rl,ft,scrub,ssd,sisa")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--json", default="bench/results/request_stream.json")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = run(args.methods.split(","), args.k, args.m)
    print(markdown(rows, args.k))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
