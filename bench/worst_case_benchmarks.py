"""Are worst:FRAC forget sets really harder than random ones? Regenerate that section
of docs/benchmarks.md.

    .venv/bin/python bench/worst_case_benchmarks.py [--home DIR] [--seeds 0,1,2]

Runs `obliviate bench --task mnist1d` on `random:0.05` and on `worst:0.05` (same
size) with the same methods and seeds in a fresh data directory, saves both row
sets under bench/results/ and writes a side-by-side table of each method's gap to
the retrained model (UA gap and Avg. Gap, mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

TASK, SPECS = "mnist1d", ("random:0.05", "worst:0.05")
METHODS = "retrain,ft,ga,neggrad_plus,rl,salun,l1_sparse,ssd,scrub"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    store = Store(Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-worst-")))
    start = time.perf_counter()
    summaries = {}
    for spec in SPECS:
        rows = bench.run(bench.plan(TASK, spec, METHODS.split(","), seeds), store, show_progress=False)
        save_rows(f"{TASK}_{spec.replace(':', '_')}", rows)
        summaries[spec] = {s["method"]: s for s in bench.summarize(rows)}
    wall = time.perf_counter() - start

    def cell(spec: str, method: str, key: str) -> str:
        mean, std = summaries[spec][method]["stats"][key]
        return f"{mean:.1f}±{std:.1f}"

    def ua_gap(spec: str, method: str) -> str:
        gap = abs(summaries[spec][method]["stats"]["forget_acc"][0]
                  - summaries[spec]["retrain"]["stats"]["forget_acc"][0])
        return f"{gap:.1f}"

    lines = ["| method | UA random | UA worst | UA gap random | UA gap worst | Avg.Gap random | Avg.Gap worst |",
             "|---|---|---|---|---|---|---|"]
    for method in summaries[SPECS[0]]:
        ua = [f"{100 - summaries[s][method]['stats']['forget_acc'][0]:.1f}" for s in SPECS]
        lines.append(f"| {method} | {ua[0]} | {ua[1]} | {ua_gap(SPECS[0], method)} | {ua_gap(SPECS[1], method)} | "
                     f"{cell(SPECS[0], method, 'avg_gap')} | {cell(SPECS[1], method, 'avg_gap')} |")
    commands = "\n".join(f"obliviate bench --task {TASK} --forget {spec} --methods {METHODS} --seeds {args.seeds}"
                         for spec in SPECS)
    text = (f"_Measured on {machine()}._\n\n```\n{commands}\n```\n\n" + "\n".join(lines) +
            f"\n\nWall time of both commands from an empty store: {wall:.0f} s (the worst-case selection's two "
            f"trainings included). Full tables: bench/results/{TASK}_random_0.05.json, {TASK}_worst_0.05.json.")
    rewrite_section("worst-case-tables", text)
    print(f"worst-case comparison: {wall:.0f} s")


if __name__ == "__main__":
    main()
