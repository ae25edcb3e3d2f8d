"""``obliviate evaluate`` for a diffusers pipeline: a prompt set from the user's local
copy, judged by the user's image classifiers (:mod:`obliviate.diffusion.judges`)."""

from __future__ import annotations

import math
from pathlib import Path

from obliviate.core.track import evaluation_row
from obliviate.diffusion.judges import check_prompt_set, evaluate_prompt_set, load_judge
from obliviate.diffusion.prompt_sets import (UNLEARNCANVAS_GUIDANCE, UNLEARNCANVAS_PHOTO, UNLEARNCANVAS_SEEDS,
                                             UNLEARNCANVAS_STEPS, read_prompt_csv, unlearncanvas_prompts)

BENCHMARKS = ("unlearncanvas", "i2p")
I2P_FILE = "i2p_benchmark.csv"  # AIML-TUDA/i2p's published file name
GAP_KEYS = ("ua", "ira", "cra")
# --set keys: sampling, the prompt-set filters, and where the models run.
SETTINGS = {"images_per_prompt": int, "steps": int, "guidance": float, "seeds": str, "category": str,
            "styles": str, "objects": str, "device": str, "torch_dtype": str}


def _settings(hparams: dict) -> dict:
    unknown = sorted(set(hparams) - set(SETTINGS))
    if unknown:
        raise ValueError(f"--set {', '.join(unknown)} does not apply to a pipeline's evaluation; it takes "
                         f"{', '.join(SETTINGS)}")
    out = {}
    for key, value in hparams.items():
        try:
            out[key] = SETTINGS[key](value)
        except ValueError:
            raise ValueError(f"--set {key}={value!r}: expected {SETTINGS[key].__name__}") from None
    return out


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def prompt_rows(benchmark: str, data: str | None, settings: dict):
    """The benchmark's rows and its default (steps, guidance): ``unlearncanvas`` and
    ``i2p`` from their local copies under the data directory, or a prompt CSV file
    (``--benchmark FILE.csv``, as given or under the data directory)."""
    from obliviate.core.local_data import data_dir, find_copy

    is_csv = benchmark.lower().endswith(".csv")
    if benchmark not in BENCHMARKS and not is_csv:
        raise ValueError(f"unknown benchmark {benchmark!r} for a diffusers pipeline; use {', '.join(BENCHMARKS)} "
                         "or a prompt CSV file (FILE.csv)")
    for key in ("seeds", "styles", "objects"):
        if key in settings and benchmark != "unlearncanvas":
            raise ValueError(f"--set {key} applies to unlearncanvas only")
    if "category" in settings and benchmark == "unlearncanvas":
        raise ValueError("--set category applies to I2P-style CSVs, not unlearncanvas")
    if benchmark == "unlearncanvas":
        try:
            seeds = tuple(int(s) for s in settings["seeds"].split(",")) if "seeds" in settings else UNLEARNCANVAS_SEEDS
        except ValueError:
            raise ValueError(f"--set seeds={settings['seeds']!r}: expected comma-separated integers") from None
        root = find_copy(benchmark, data, "UnlearnCanvas", UNLEARNCANVAS_PHOTO, "the UnlearnCanvas dataset, "
                         "<Style>/<Object>/<n>.jpg")
        rows = unlearncanvas_prompts(root, seeds, _names(settings.get("styles")), _names(settings.get("objects")))
        return rows, UNLEARNCANVAS_STEPS, UNLEARNCANVAS_GUIDANCE
    if benchmark == "i2p":
        path = find_copy(benchmark, data, "i2p", I2P_FILE, "the I2P prompts") / I2P_FILE
    else:
        path = Path(benchmark)
        root = data_dir(data)
        if not path.is_file() and not path.is_absolute() and root is not None and (root / path).is_file():
            path = root / path
    return read_prompt_csv(path, category=settings.get("category")), 50, 7.5


def evaluate_pipeline_files(model_path, benchmark, forget, options, say) -> list[dict]:
    from obliviate.core.devices import parse_dtype
    from obliviate.diffusion.pipeline import is_pipeline_dir, load_pipeline

    settings = _settings(options.get("hparams") or {})
    judge_paths = options.get("judges") or {}
    if not judge_paths:
        raise ValueError("a pipeline is scored by your image classifiers: give --judge AXIS=DIR (e.g. "
                         "--judge style=STYLE_CLASSIFIER --judge object=OBJECT_CLASSIFIER)")
    retain_path = options.get("retain_model")
    if retain_path and not is_pipeline_dir(retain_path):
        raise ValueError(f"--retain-model {retain_path} is not a diffusers pipeline directory (no model_index.json)")
    rows, steps, guidance = prompt_rows(benchmark, options.get("data_dir"), settings)
    device = settings.get("device")
    judges = {axis: load_judge(path, device) for axis, path in judge_paths.items()}
    check_prompt_set(rows, judges, forget)  # a bad --forget or label fails before any pipeline is loaded
    dtype = parse_dtype(settings.get("torch_dtype", "auto"))
    sampling = {"images_per_prompt": settings.get("images_per_prompt", 1), "steps": settings.get("steps", steps),
                "guidance": settings.get("guidance", guidance)}
    say(f"{benchmark}: {len(rows)} prompts x {sampling['images_per_prompt']} image(s), {sampling['steps']} DDIM "
        f"steps, guidance {sampling['guidance']} (per-row guidance from the file where it has one)")

    def score(path):
        model = load_pipeline(path, device=device, torch_dtype=None if dtype == "auto" else dtype)
        return evaluate_prompt_set(model, rows, judges, forget, **sampling)

    scores = score(model_path)
    out = [evaluation_row(model_path, "evaluated", benchmark, forget, scores)]
    if retain_path:
        reference = score(retain_path)
        for key in GAP_KEYS:
            scores[f"{key}_gap"] = abs(scores[key] - reference[key])
        present = [scores[f"{k}_gap"] for k in GAP_KEYS if not math.isnan(scores[f"{k}_gap"])]
        scores["avg_gap"] = sum(present) / len(present) if present else float("nan")
        out.append(evaluation_row(retain_path, "retain", benchmark, forget, reference))
    return out
