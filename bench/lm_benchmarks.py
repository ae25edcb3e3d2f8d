"""Regenerate the language-model section of docs/benchmarks.md.

    .venv/bin/python bench/lm_benchmarks.py [--home DIR] [--task tofu-mini-text]

Runs the tofu-mini bench (forget05, seed 0) in a fresh data directory, so the
original and retain-only models are trained (and timed) in this run, saves the JSON
rows under bench/results/ and rewrites the section between the markers. ``--task
tofu-mini-text``: the raw-text forget set (MUSE-style documents), with the methods
that unlearn raw text, into its own section.
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
# refused on raw text, each with a one-line error: whp (no answer positions to relabel), eco (no question to
# search its noise strength on: give strength=), soft_prompt (its prefix does not fit beside a full-context chunk)
TEXT_METHODS = ",".join(["original", "retrain"] + [m["name"] for m in obliviate.methods("lm") if m["name"] not in
                                                   ("whp", "eco", "soft_prompt")])
SECTIONS = {"tofu-mini": ("lm-tables", METHODS), "tofu-mini-text": ("lm-text-tables", TEXT_METHODS)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--task", default="tofu-mini", choices=sorted(SECTIONS))
    args = parser.parse_args()
    section, methods = SECTIONS[args.task]
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-lm-bench-"))
    start = time.perf_counter()
    plan = bench.plan(args.task, "forget05", methods.split(","), [0])
    rows = bench.run(plan, Store(home), show_progress=False)
    wall = time.perf_counter() - start
    save_rows(f"{args.task}_forget05", rows)
    command = f"obliviate bench --task {args.task} --forget forget05 --methods {methods} --seeds 0 --json out.json"
    text = (f"_Measured on {machine()}._\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            + (f"Wall time with the original and the retain-only model already in the store: {wall:.0f} s."
               if args.home else f"Wall time of the whole command from an empty store: {wall:.0f} s (training the "
                                 f"original and the retain-only model included)."))
    rewrite_section(section, text)
    print(f"{args.task} forget05: {wall:.0f} s")


if __name__ == "__main__":
    main()
