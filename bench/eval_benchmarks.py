"""Regenerate the rigorous-evaluation sections of docs/benchmarks.md.

    .venv/bin/python bench/eval_benchmarks.py [--task digits|tofu-mini|tofu-mini-robust] [--home DIR] [--models N]

Runs `obliviate eval ... --suite full` (digits class:3 with N = 16 models per side,
or tofu-mini forget05 with N = 8: a retain-only language model takes ~90 s to
train), or `--suite robust` on tofu-mini forget05 (N = 4; the attacks run on 3
models per side), in a fresh data directory, so every model is trained and timed in this run;
saves the rows under bench/results/, writes the HTML report next to them and
rewrites the task's section between its markers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from docs_section import RESULTS, machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench, suite
from obliviate.core.store import Store
from obliviate.report import write_report

CONFIGS = {  # name: (task, forget, methods, default N, suite, docs marker)
    "digits": ("digits", "class:3", "retrain,ft,rl,salun,scrub,ssd,task_vector,negmerge,scar,opc,slug,laf,dmm", 16,
               "full", "eval-tables"),
    "tofu-mini": ("tofu-mini", "forget05", "retrain,ga,grad_diff,npo,simnpo,rmu", 8, "full", "lm-eval-tables"),
    "tofu-mini-robust": ("tofu-mini", "forget05",
                         "retrain,ga,grad_diff,kl,npo,simnpo,idk_dpo,rmu,undial,wga,task_vector,flat,wagle,mudman,whp,guardrail,uld,"
                         "eco,soft_prompt", 4,
                         "robust", "lm-robust-tables"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=sorted(CONFIGS), default="digits")
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--models", type=int, help="models per side (default: 16 for digits, 8 for tofu-mini)")
    parser.add_argument("--only", help="run these methods only and merge them into the saved rows of the others "
                                       "(with --home: the store of the run that made them)")
    args = parser.parse_args()
    task, forget, methods, default_n, suite_name, marker = CONFIGS[args.task]
    everything = methods.split(",")
    if args.only:
        unknown = set(args.only.split(",")) - set(everything)
        if unknown or not args.home:
            raise SystemExit(f"--only takes methods of the config ({methods}) and needs --home; got {args.only}")
        methods = args.only
    n = args.models or default_n
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-eval-bench-"))
    start = time.perf_counter()
    plan = suite.plan_eval(task, forget, methods.split(","), suite_name, n)
    rows = suite.run_eval(plan, Store(home), progress=lambda text: print(f"[{time.perf_counter() - start:6.0f} s] {text}",
                                                                         flush=True))
    wall = time.perf_counter() - start
    stem = f"eval_{task}_{forget.replace(':', '_')}" + ("" if suite_name == "full" else f"_{suite_name}")
    if args.only:  # the other methods' rows from the earlier run, in the config's order
        earlier = [r for r in json.loads((RESULTS / f"{stem}.json").read_text()) if r["method"] not in methods.split(",")]
        rows = sorted(earlier + rows, key=lambda r: everything.index(r["method"]))
        methods = ",".join(everything)
    save_rows(stem, rows)
    write_report(rows, str(RESULTS / f"{stem}.html"), f"{task} {forget}, {suite_name} evaluation suite")
    command = (f"obliviate eval --task {task} --forget {forget} --methods {methods} --suite {suite_name} "
               f"--models {n} --json out.json")
    text = (f"_Measured on {machine()}._\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            f"Wall time {'with the models already in the store' if args.home else 'from an empty store'}: "
            f"{wall:.0f} s ({2 * n} retrained models and {n} unlearning runs per method included"
            f"{'; this run: ' + args.only + ', merged with the rows of an earlier run on the same store' if args.only else ''}). Report: "
            f"[bench/results/{stem}.html](../bench/results/{stem}.html).")
    rewrite_section(marker, text)
    print(f"eval {task} {forget} {suite_name}: {wall:.0f} s")


if __name__ == "__main__":
    main()
