"""LoReUn reweighting and UPCORE coresets on three base methods: the table of
docs/benchmarks.md between the ``plugins-ablation`` markers.

    .venv/bin/python bench/plugins_ablation.py [--seeds 0,1,2]

Each base method (RL, SalUn, NegGrad+) runs as it is, with ``reweight=static``,
``reweight=dynamic`` and ``coreset=0.8``, on digits class:3, mnist1d random:0.1 and
mnist1d class:3 (3 seeds); the table gives Avg.Gap (mean ± std) per variant.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

CONFIGS = [("digits", "class:3"), ("mnist1d", "random:0.1"), ("mnist1d", "class:3")]
BASES = ("rl", "salun", "neggrad_plus")
VARIANTS = {"as is": {}, "reweight=static": {"reweight": "static"}, "reweight=dynamic": {"reweight": "dynamic"},
            "coreset=0.8": {"coreset": 0.8}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    store = Store(Path(tempfile.mkdtemp(prefix="obliviate-plugins-")))
    results, everything = {}, []
    for task, forget in CONFIGS:
        for variant, extra in VARIANTS.items():
            hparams = {m: dict(extra) for m in BASES}
            rows = bench.run(bench.plan(task, forget, ["retrain", *BASES], seeds, hparams), store, show_progress=False)
            for row in rows:
                row["variant"] = variant
            everything += rows
            for m in BASES:
                gaps = [r["avg_gap"] for r in rows if r["method"] == m]
                test = [r["metrics"]["test_acc"] for r in rows if r["method"] == m]
                results[(task, forget, m, variant)] = (statistics.fmean(gaps), statistics.stdev(gaps) if len(gaps) > 1
                                                      else 0.0, statistics.fmean(test))
        print(f"{task} {forget} done")
    save_rows("plugins_ablation", everything)
    header = "| method | variant | " + " | ".join(f"{t} {f}: Avg.Gap (TA)" for t, f in CONFIGS) + " |"
    lines = [header, "|---|---|" + "---|" * len(CONFIGS)]
    for m in BASES:
        for variant in VARIANTS:
            cells = [f"{results[(t, f, m, variant)][0]:.2f}±{results[(t, f, m, variant)][1]:.2f} "
                     f"({results[(t, f, m, variant)][2]:.1f})" for t, f in CONFIGS]
            lines.append(f"| {m} | {variant} | " + " | ".join(cells) + " |")
    command = ("obliviate bench --task TASK --forget SPEC --methods retrain,rl,salun,neggrad_plus --seeds "
               f"{args.seeds} --set rl.reweight=dynamic --set salun.reweight=dynamic ...")
    rewrite_section("plugins-ablation", f"_Measured on {machine()}._\n\n```\n{command}\n```\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
