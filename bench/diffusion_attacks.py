"""The diffusion attacks of docs/benchmarks.md ("Diffusion: relearning and sequential
erasure").

    .venv/bin/python bench/diffusion_attacks.py [--home DIR] [--only advunlearn,scd,unguide]

1. The fine-tuning relearning attack (20 Adam steps at lr 1e-4 on the 358 images of
   the digit 3 with their prompts) on the original, the retrained model and each
   method's object:3 erasure (seed 0): the target prompts' attack success rate
   before and after, next to the prompt-embedding attack's.
2. Sequential erasure of 3, then 5, then 8 with UCE and ESD: each erased digit's UA
   after every step, and the accuracy of the never-erased digits and of the styles.
JSON rows go to bench/results/; the section between the markers is rewritten.
``--only``: score these methods (and the original and the retrained model again, as a
check that the cached models are the earlier run's) and merge them into the saved
rows; the sequences are kept from the saved run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

from docs_section import RESULTS, machine, rewrite_section, save_rows  # bench/docs_section.py

from obliviate.core.store import Store
from obliviate.diffusion.evaluate import evaluate_canvas
from obliviate.diffusion.sequential import sequential_erasure
from obliviate.diffusion.task import CANVAS_TASKS
from obliviate.diffusion.unlearn import unlearn_diffusion

METHODS = ("esd", "uce", "ca", "salun", "ga_retain", "advunlearn", "scd", "unguide")
SEQUENCE = ["object:3", "object:5", "object:8"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="data directory (default: a fresh temporary one)")
    parser.add_argument("--only", help="comma-separated methods to score and merge into the saved rows")
    args = parser.parse_args()
    methods = tuple(args.only.split(",")) if args.only else METHODS
    if set(methods) - set(METHODS):
        raise SystemExit(f"--only takes methods of {', '.join(METHODS)}")
    store = Store(Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="obliviate-diffusion-attacks-")))
    task, spec = CANVAS_TASKS["digits-canvas"], "object:3"
    start = time.perf_counter()
    judges = task.judges(store)
    original, _ = task.model_for(store, "original")
    retrained, _ = task.model_for(store, "retrain", spec)
    score = lambda model: evaluate_canvas(model, task.canvas, spec, judges, relearn=True)  # noqa: E731
    rows = [{"method": "original", **_pick(score(original))}, {"method": "retrain", **_pick(score(retrained))}]
    data = task.erase_data(spec)
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = unlearn_diffusion(original, data, method, 0)
        rows.append({"method": method, **_pick(score(result.model))})
        print(f"[{time.perf_counter() - start:5.0f} s] {method}", flush=True)
    sequences = []
    if args.only:
        saved = json.loads((RESULTS / "digits-canvas_attacks.json").read_text())
        earlier = {r["method"]: r for r in saved if "step" not in r}
        for r in rows[:2]:  # the cached models must be the earlier run's
            drift = max(abs(r[k] - earlier[r["method"]][k]) for k in ("ua", "ira", "cra", "asr_pre"))
            print(f"{r['method']}: largest change from the saved row {drift:.2f} points", flush=True)
        rows = [earlier[m] for m in ("original", "retrain") + METHODS if m in earlier and m not in methods] + rows[2:]
        rows.sort(key=lambda r: (("original", "retrain") + METHODS).index(r["method"]))
        sequences = [r for r in saved if "step" in r]
    for method in (() if args.only else ("uce", "esd")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sequences += sequential_erasure(task, original, SEQUENCE, method, judges)
        print(f"[{time.perf_counter() - start:5.0f} s] sequential {method}", flush=True)
    wall = time.perf_counter() - start
    save_rows("digits-canvas_attacks", rows + sequences)
    reference = next(r for r in rows if r["method"] == "retrain")
    gap = lambda r: sum(abs(r[k] - reference[k]) for k in ("ua", "ira", "cra")) / 3  # noqa: E731
    relearn_table = "\n".join(
        ["| method | UA | IRA | CRA | Avg.Gap | ASR pre | ASR post (prompt attack) | ASR relearn (fine-tuning attack) |",
         "|---|---|---|---|---|---|---|---|"]
        + [f"| {r['method']} | {r['ua']:.1f} | {r['ira']:.1f} | {r['cra']:.1f} | {gap(r):.2f} | {r['asr_pre']:.1f} | "
           f"{r['asr_post']:.1f} | {r['asr_relearn']:.1f} |" for r in rows])
    sequence_table = "\n".join(
        ["| method | step | erased | UA of each erased digit | kept digits' accuracy (change) | styles' accuracy (change) |",
         "|---|---|---|---|---|---|"]
        + [f"| {r['method']} | {r['step']} | {r['erased']} | "
           + ", ".join(f"{k}: {v:.0f}" for k, v in r["ua"].items())
           + f" | {r['kept_object_acc']:.1f} ({r['kept_object_change']:+.1f}) | "
           f"{r['kept_style_acc']:.1f} ({r['kept_style_change']:+.1f}) |" for r in sequences])
    text = (f"_Measured on {machine()}._\n\n```\n.venv/bin/python bench/diffusion_attacks.py\n```\n\n"
            f"{relearn_table}\n\n{sequence_table}\n\nWall time from an empty store: {wall:.0f} s (the judges, "
            f"the original and the retrained denoiser included)"
            + (f"; this run: {args.only}, merged with the rows and sequences of the earlier run." if args.only else "."))
    rewrite_section("diffusion-attack-tables", text)
    print(f"diffusion attacks: {wall:.0f} s")


def _pick(scores: dict) -> dict:
    return {k: scores[k] for k in ("ua", "ira", "cra", "asr_pre", "asr_post", "asr_relearn")}


if __name__ == "__main__":
    main()
