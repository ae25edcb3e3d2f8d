"""Regenerate the rigorous-evaluation section of docs/benchmarks.md.

    .venv/bin/python bench/eval_benchmarks.py [--home DIR] [--models 16]

Runs `obliviate eval --task digits --forget class:3 --methods retrain,ft,rl,salun,scrub,ssd
--suite full` in a fresh data directory (every model trained and timed in this run),
saves the rows under bench/results/, writes the HTML report next to them and
rewrites the section between the markers.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

import torch

from obliviate import bench, suite
from obliviate.core.store import Store, write_text_atomic
from obliviate.report import write_report

ROOT = Path(__file__).resolve().parent.parent
METHODS = "retrain,ft,rl,salun,scrub,ssd"
START, END = "<!-- eval-tables:start -->", "<!-- eval-tables:end -->"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--models", type=int, default=16)
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-eval-bench-"))
    start = time.perf_counter()
    plan = suite.plan_eval("digits", "class:3", METHODS.split(","), "full", args.models)
    rows = suite.run_eval(plan, Store(home))
    wall = time.perf_counter() - start
    results = ROOT / "bench" / "results"
    write_text_atomic(results / "eval_digits_class_3.json", json.dumps(rows, indent=1, sort_keys=True) + "\n")
    write_report(rows, str(results / "eval_digits_class_3.html"), "digits class:3, full evaluation suite")
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    command = (f"obliviate eval --task digits --forget class:3 --methods {METHODS} --suite full "
               f"--models {args.models} --json out.json")
    text = (f"{START}\n_Measured on {machine}._\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            f"Wall time from an empty store: {wall:.0f} s ({2 * args.models} retrained models and "
            f"{args.models} unlearning runs per method included). Report: "
            f"[bench/results/eval_digits_class_3.html](../bench/results/eval_digits_class_3.html).\n{END}")
    doc = ROOT / "docs" / "benchmarks.md"
    write_text_atomic(doc, re.sub(re.escape(START) + ".*" + re.escape(END), lambda _: text, doc.read_text(), flags=re.S))
    print(f"eval digits class:3: {wall:.0f} s")


if __name__ == "__main__":
    main()
