"""Regenerate the diffusion section of docs/benchmarks.md.

    .venv/bin/python bench/diffusion_benchmarks.py [--home DIR] [--forget object:3]

1. The issue's command, timed from an empty store (the original, the retrained
   reference and the judges are trained in this run):
   original,retrain,esd,uce,ca,salun × seeds 0,1,2.
2. The ablations behind UnlearnCanvas' and SalUn's qualitative findings, on the same
   cached models: ESD on the layers outside cross-attention (esd-u), SalUn's loss
   without its mask (salun-nomask) and with the mask from the unguided denoising loss
   (salun-plainmask), CA without its prior-preservation term (ca-noprior), and gradient
   ascent with a retain loss (ga_retain).
JSON rows go to bench/results/; the section between the markers is rewritten.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docs_section import machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate import bench
from obliviate.core.store import Store

METHODS = "original,retrain,esd,uce,ca,salun"
VARIANTS = {"esd-u": ("esd", {"parameter_set": "u"}), "salun-nomask": ("salun", {"keep": 1.0}),
            "salun-plainmask": ("salun", {"mask_guidance": 0.0}), "ca-noprior": ("ca", {"prior_weight": 0.0}),
            "ga_retain": ("ga_retain", {})}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--forget", default="object:3")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-diffusion-bench-"))
    store = Store(home)
    seeds = [0, 1, 2]
    start = time.perf_counter()
    plan = bench.plan("digits-canvas", args.forget, METHODS.split(","), seeds)
    rows = bench.run(plan, store, show_progress=False)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    ablation = bench.plan("digits-canvas", args.forget, ["original", "retrain"], seeds)
    for label, (method, hp) in VARIANTS.items():
        ablation.methods.append(label)
        ablation.labels[label] = method
        ablation.hparams[label] = hp
    variant_rows = [r for r in bench.run(ablation, store, show_progress=False) if r["method"] in VARIANTS]
    ablation_wall = time.perf_counter() - start
    compared = ("original", "retrain", "esd", "esd-u", "ca", "ca-noprior", "salun", "salun-nomask",
                "salun-plainmask", "ga_retain")
    ablation_rows = sorted([r for r in rows if r["method"] in compared] + variant_rows,
                           key=lambda r: (compared.index(r["method"]), r["seed"]))
    name = args.forget.replace(":", "_")
    for suffix, data in (("", rows), ("_ablation", ablation_rows)):
        save_rows(f"digits-canvas_{name}{suffix}", data)
    command = (f"obliviate bench --task digits-canvas --forget {args.forget} --methods {METHODS} "
               f"--seeds 0,1,2 --json out.json")
    settings = rows[0]["eval"]
    text = (f"_Measured on {machine()}. Sampling: DDIM {settings['steps']} steps, guidance "
            f"{settings['guidance']}, noise seed {settings['seed']}, {settings['target_samples']} images per "
            f"target prompt and {settings['retain_samples']} per other prompt; the attack optimises the prompt "
            f"embedding for {settings['attack_steps']} steps on {settings['attack_prompts']} target prompts._\n\n"
            f"```\n{command}\n```\n\n{bench.markdown_table(rows)}\n\n"
            f"Wall time of the whole command from an empty store: {wall:.0f} s (training the judges, the original "
            f"and the retrained denoiser included).\n\n"
            f"Ablations on the same cached models (`bench/diffusion_benchmarks.py`; esd-u = `esd` with "
            f"`parameter_set=u`, ca-noprior = `ca` with `prior_weight=0`, salun-nomask = `salun` with `keep=1`, "
            f"salun-plainmask = `salun` with `mask_guidance=0`; the other rows repeat the table above), "
            f"{ablation_wall:.0f} s:\n\n"
            f"{bench.markdown_table(ablation_rows)}")
    rewrite_section("diffusion-tables", text)
    print(f"digits-canvas {args.forget}: {wall:.0f} s, ablations {ablation_wall:.0f} s")


if __name__ == "__main__":
    main()
