"""Regenerate the classifier tables of docs/benchmarks.md.

    .venv/bin/python bench/classifier_benchmarks.py [--home DIR] [--seeds 0,1,2]

Runs `obliviate bench` (through the library, same code path) for digits class:3,
mnist1d random:0.1 and mnist1d class:3 in a fresh data directory (so the original
and retrained models are trained, and timed, in this run), saves the JSON rows
under bench/results/ and rewrites the section between the markers in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

CONFIGS = [("digits", "class:3"), ("mnist1d", "random:0.1"), ("mnist1d", "class:3")]
METHODS = ("retrain,ft,ga,neggrad_plus,rl,salun,l1_sparse,ssd,lfssd,scrub,bad_teacher,fisher,iu,"
           "boundary_shrink,boundary_expand,unsir,duck,task_vector,negmerge,scar,opc,slug,laf,dmm")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-bench-"))
    store = Store(home)
    sections = []
    for task, forget in CONFIGS:
        start = time.perf_counter()
        methods = [m for m in METHODS.split(",") if forget.startswith("class:") or m != "unsir"]
        plan = bench.plan(task, forget, methods, seeds)
        rows = bench.run(plan, store, show_progress=False)
        wall = time.perf_counter() - start
        name = f"{task}_{forget.replace(':', '_')}"
        save_rows(name, rows)
        retrain_s = bench.summarize([r for r in rows if r["method"] == "retrain"])[0]["stats"]["seconds"][0]
        speed = ", ".join(
            f"{s['method']} {retrain_s / s['stats']['seconds'][0]:.1f}x"
            for s in bench.summarize(rows) if s["method"] not in ("original", "retrain"))
        command = (f"obliviate bench --task {task} --forget {forget} --methods {','.join(methods)} "
                   f"--seeds {args.seeds} --json {name}.json")
        sections.append(
            f"### {task} · forget {forget}\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            f"Wall time of the whole command: {wall:.0f} s (training the original and retrained "
            f"models included). Speed-up over retraining (retrain's seconds / method's): {speed}.\n")
        print(f"{task} {forget}: {wall:.0f} s")
    rewrite_section("classifier-tables", f"_Measured on {machine()}._\n\n" + "\n".join(sections))


if __name__ == "__main__":
    main()
