"""Regenerate the regression track's tables of docs/benchmarks.md.

    .venv/bin/python bench/regress_benchmarks.py [--seeds 0,1,2]

Runs `obliviate bench` (through the library) on diabetes random:0.1 and range:0:100 in
a fresh data directory, saves the rows under bench/results/ and rewrites the section
between the ``regress-tables`` markers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

CONFIGS = [("diabetes", "random:0.1"), ("diabetes", "range:0:100")]
METHODS = "retrain,ft,ga,neggrad_plus,blindspot"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    store = Store(Path(tempfile.mkdtemp(prefix="obliviate-regress-")))
    sections = []
    for task, forget in CONFIGS:
        start = time.perf_counter()
        rows = bench.run(bench.plan(task, forget, METHODS.split(","), seeds), store, show_progress=False)
        wall = time.perf_counter() - start
        name = f"{task}_{forget.replace(':', '_')}"
        save_rows(name, rows)
        command = f"obliviate bench --task {task} --forget {forget} --methods {METHODS} --seeds {args.seeds} --json {name}.json"
        sections.append(f"### {task} · forget {forget}\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
                        f"Wall time of the whole command: {wall:.0f} s (original and retrained models included).\n")
        print(f"{task} {forget}: {wall:.0f} s")
    rewrite_section("regress-tables", f"_Measured on {machine()}._\n\n" + "\n".join(sections))


if __name__ == "__main__":
    main()
