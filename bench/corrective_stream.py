"""Corrective and streaming forgetting on the built-in tasks: the tables of
docs/benchmarks.md between the ``corrective-stream`` markers.

    .venv/bin/python bench/corrective_stream.py [--seeds 0,1,2]

- digits poison:0.1:0.5: a tenth of the training images carry a BadNets trigger and
  label 0; half of them are identified and forgotten;
- mnist1d stream:4:0.025: four requests of 2.5% each, in turn; after each, the Avg.Gap
  to a model retrained without everything deleted so far.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

CORRECTIVE = ("digits", "poison:0.1:0.5", "retrain,ft,ga,rl,salun,scrub,ssd,slug,dmm")
STREAM = ("mnist1d", "stream:4:0.025", "retrain,ft,ga,neggrad_plus,rl,salun,scrub,ssd,dmm")


def stream_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows if "stream" in r))
    k = len(next(r for r in rows if "stream" in r)["stream"])
    lines = ["| method | " + " | ".join(f"after request {i + 1}: Avg.Gap / TA" for i in range(k)) + " |",
             "|---|" + "---|" * k]
    for method in methods:
        group = [r["stream"] for r in rows if r["method"] == method]
        cells = [f"{statistics.fmean(g[i]['avg_gap'] for g in group):.2f} / "
                 f"{statistics.fmean(g[i]['test_acc'] for g in group):.1f}" for i in range(k)]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    store = Store(Path(tempfile.mkdtemp(prefix="obliviate-corrective-")))
    parts = []
    for task, forget, methods in (CORRECTIVE, STREAM):
        rows = bench.run(bench.plan(task, forget, methods.split(","), seeds), store, show_progress=False)
        name = f"{task}_{forget.replace(':', '_')}"
        save_rows(name, rows)
        command = f"obliviate bench --task {task} --forget {forget} --methods {methods} --seeds {args.seeds} --json {name}.json"
        extra = f"\n\nRequest by request (mean over the seeds):\n\n{stream_table(rows)}" if forget.startswith("stream") else ""
        parts.append(f"### {task} · forget {forget}\n\n```\n{command}\n```\n\n{bench.markdown_table(rows)}{extra}\n")
        print(f"{task} {forget} done")
    rewrite_section("corrective-stream", f"_Measured on {machine()}._\n\n" + "\n".join(parts))


if __name__ == "__main__":
    main()
