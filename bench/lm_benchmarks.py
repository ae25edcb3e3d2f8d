"""Regenerate the language-model section of docs/benchmarks.md.

    .venv/bin/python bench/lm_benchmarks.py [--home DIR]

Runs the tofu-mini bench (forget05, seed 0) in a fresh data directory, so the
original and retain-only models are trained (and timed) in this run, saves the JSON
rows under bench/results/ and rewrites the section between the markers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

import obliviate
from obliviate import bench
from obliviate.core.store import Store

METHODS = ",".join(["original", "retrain"] + [m["name"] for m in obliviate.methods("lm")])  # every LM method


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-lm-bench-"))
    start = time.perf_counter()
    plan = bench.plan("tofu-mini", "forget05", METHODS.split(","), [0])
    rows = bench.run(plan, Store(home), show_progress=False)
    wall = time.perf_counter() - start
    save_rows("tofu-mini_forget05", rows)
    command = f"obliviate bench --task tofu-mini --forget forget05 --methods {METHODS} --seeds 0 --json out.json"
    text = (f"_Measured on {machine()}._\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            + (f"Wall time with the original and the retain-only model already in the store: {wall:.0f} s."
               if args.home else f"Wall time of the whole command from an empty store: {wall:.0f} s (training the "
                                 f"original and the retain-only model included)."))
    rewrite_section("lm-tables", text)
    print(f"tofu-mini forget05: {wall:.0f} s")


if __name__ == "__main__":
    main()
