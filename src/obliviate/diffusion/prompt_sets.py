"""Evaluation prompt sets for Stable Diffusion erasure, read from the user's local copies.

A prompt set is a list of :class:`PromptRow`: the prompt, the seed and guidance to
generate it with, and what a judge should see in its image per axis (``labels``, e.g.
``{"style": "Van_Gogh", "object": "Dogs"}``). Two published layouts, plus plain CSVs:

- **I2P** (Schramowski et al., CVPR 2023; ``i2p_benchmark.csv`` of AIML-TUDA/i2p):
  columns ``prompt, categories, hard, inappropriate_percentage, nudity_percentage,
  q16_percentage, sd_safety_percentage, prompt_toxicity, lexica_url, sd_seed,
  sd_guidance_scale, sd_image_width, sd_image_height, sd_model``. ESD's and
  UnlearnDiffAtk's copies (``unsafe-prompts4703.csv``, ``nudity.csv``) name the seed and
  guidance ``evaluation_seed`` / ``evaluation_guidance`` and add ``case_number``; both
  spellings are read. Its rows carry no labels: every prompt is a target prompt.
- **UnlearnCanvas** (Zhang et al., NeurIPS 2024 D&B): the dataset directory
  ``<Style>/<Object>/<n>.jpg`` (``Seed_Images`` holds the unstyled photos) gives the
  style and object names; the evaluation grid is the reference sampling scripts'
  ``"A {object} image in {style with _ as space} style."`` for every style folder and
  object, seeds 188, 288, 588, 688, 888 (its accuracy script's list), guidance 9.0.
- **A CSV of your own**: a ``prompt`` column and label columns (``object``, ``style``,
  ``artist``, ``concept``, ``class``), optional ``seed``/``guidance``.

Unknown columns are an error naming the known ones (a misspelt label column would
otherwise silently evaluate nothing)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

# I2P and its ESD / UnlearnDiffAtk copies: read for seed, guidance and the category filter.
SEED_COLUMNS = ("sd_seed", "evaluation_seed", "seed")
GUIDANCE_COLUMNS = ("sd_guidance_scale", "evaluation_guidance", "guidance")
LABEL_COLUMNS = ("object", "style", "artist", "concept", "class")
INFORMATIONAL_COLUMNS = ("", "Unnamed: 0", "case_number", "categories", "hard", "inappropriate_percentage",
                         "nudity_percentage", "q16_percentage", "sd_safety_percentage", "prompt_toxicity",
                         "overall_toxicity", "lexica_url", "sd_image_width", "sd_image_height", "sd_model")
KNOWN_COLUMNS = ("prompt", *SEED_COLUMNS, *GUIDANCE_COLUMNS, *LABEL_COLUMNS, *INFORMATIONAL_COLUMNS)

UNLEARNCANVAS_SEEDS = (188, 288, 588, 688, 888)  # machine_unlearning/evaluation/quantitative/accuracy.py
UNLEARNCANVAS_GUIDANCE = 9.0  # the sampling scripts' --cfg-text
UNLEARNCANVAS_STEPS = 100  # the sampling scripts' --steps (DDIM)
UNLEARNCANVAS_PHOTO = "Seed_Images"  # the unstyled photos' folder


@dataclass(frozen=True)
class PromptRow:
    prompt: str
    seed: int
    guidance: float | None = None  # None: the evaluation's default guidance
    labels: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()


def read_prompt_csv(path: str | os.PathLike, *, default_seed: int = 0,
                    category: str | None = None) -> list[PromptRow]:
    """The rows of a prompt CSV (I2P or a plain one); ``category`` keeps only the rows
    whose comma-separated ``categories`` include it (I2P's "sexual", "violence", ...).
    Rows without a seed get ``default_seed + row index``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            records = list(reader)
    except OSError as err:
        raise ValueError(f"cannot read prompt CSV {path}: {err.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path} is not a UTF-8 CSV file: {err}") from None
    if "prompt" not in columns:
        raise ValueError(f"{path} has no 'prompt' column (columns: {', '.join(columns) or 'none'})")
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        raise ValueError(f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; known columns: prompt, "
                         f"{', '.join(SEED_COLUMNS + GUIDANCE_COLUMNS + LABEL_COLUMNS)} and I2P's "
                         f"{', '.join(c for c in INFORMATIONAL_COLUMNS if c and not c.startswith('Unnamed'))}")
    seed_column = next((c for c in SEED_COLUMNS if c in columns), None)
    guidance_column = next((c for c in GUIDANCE_COLUMNS if c in columns), None)
    label_columns = [c for c in LABEL_COLUMNS if c in columns]
    rows = []
    for index, record in enumerate(records):
        where = f"{path}, row {index + 2}"  # the header is line 1
        text = (record.get("prompt") or "").strip()
        if not text:
            raise ValueError(f"{where}: empty prompt")
        categories = tuple(c.strip() for c in (record.get("categories") or "").split(",") if c.strip())
        if category is not None and category not in categories:
            continue
        rows.append(PromptRow(prompt=text, seed=_number(record, seed_column, int, where, default_seed + index),
                              guidance=_number(record, guidance_column, float, where, None),
                              labels={c: record[c].strip() for c in label_columns if (record[c] or "").strip()},
                              categories=categories))
    if not rows:
        raise ValueError(f"{path} holds no prompts" + (f" in category {category!r}" if category else ""))
    return rows


def _number(record: dict, column: str | None, kind, where: str, default):
    if column is None or not (record.get(column) or "").strip():
        return default
    try:
        return kind(float(record[column])) if kind is int else kind(record[column])
    except ValueError:
        raise ValueError(f"{where}: {column} {record[column]!r} is not a number") from None


def unlearncanvas_names(data_dir: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(styles, objects) of a local UnlearnCanvas copy: its style folders (``Seed_Images``
    included, as the reference evaluation does) and the object folders they share."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"UnlearnCanvas directory {root} does not exist")
    styles = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not styles:
        raise ValueError(f"{root} holds no style folders (expected <Style>/<Object>/<n>.jpg, as UnlearnCanvas)")
    objects = {s: sorted(p.name for p in (root / s).iterdir() if p.is_dir()) for s in styles}
    first = objects[styles[0]]
    if not first:
        raise ValueError(f"{root / styles[0]} holds no object folders (expected <Style>/<Object>/<n>.jpg)")
    for style, names in objects.items():
        if names != first:
            raise ValueError(f"{root / style} has object folders {names}, {styles[0]} has {first}: "
                             "every style folder must hold the same objects")
    return styles, first


def unlearncanvas_prompt(style: str, obj: str) -> str:
    """The reference sampling scripts' prompt (machine_unlearning/evaluation/sampling_unlearned_models)."""
    return f"A {obj} image in {style.replace('_', ' ')} style."


def unlearncanvas_prompts(data_dir: str | os.PathLike, seeds: tuple[int, ...] = UNLEARNCANVAS_SEEDS,
                          styles: list[str] | None = None, objects: list[str] | None = None) -> list[PromptRow]:
    """The UnlearnCanvas evaluation grid: every (style, object, seed), labelled by both."""
    found_styles, found_objects = unlearncanvas_names(data_dir)
    for kind, chosen, found in (("style", styles, found_styles), ("object", objects, found_objects)):
        missing = sorted(set(chosen or ()) - set(found))
        if missing:
            raise ValueError(f"{kind}(s) {', '.join(missing)} not in {data_dir} (it has {', '.join(found)})")
    return [PromptRow(prompt=unlearncanvas_prompt(s, o), seed=seed, guidance=UNLEARNCANVAS_GUIDANCE,
                      labels={"style": s, "object": o})
            for s in (styles or found_styles) for o in (objects or found_objects) for seed in seeds]
