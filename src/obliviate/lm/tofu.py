"""TOFU from a local copy of its published files (Maini et al. 2024, the
``locuslab/TOFU`` dataset repository), read without any download.

Files (JSON lines, one object per line, as published; a JSON array is read too):

- ``forget01.json``, ``forget05.json``, ``forget10.json``: question, answer;
- ``forget01_perturbed.json`` …: question, answer, ``paraphrased_answer``,
  ``paraphrased_question``, ``perturbed_answer`` (a list): the forget set scored;
- ``retain90.json``, ``retain95.json``, ``retain99.json``: the retain set (the
  complement of forget10 / 05 / 01);
- ``retain_perturbed.json``: the retain questions scored for model utility;
- ``real_authors_perturbed.json``, ``world_facts_perturbed.json``: question,
  answer, ``perturbed_answer`` (the other two utility sets);
- ``holdout01.json``, ``holdout05.json``, ``holdout10.json``: people never trained
  on, the non-members of the membership attacks and PrivLeak (OpenUnlearning's
  ``holdout`` splits).

A split ``forgetNN`` pairs ``forgetNN.json`` (trained on when unlearning) with
``retain{100-NN}.json``, and is scored on ``forgetNN_perturbed.json`` exactly as
OpenUnlearning's TOFU evaluation does.
"""

from __future__ import annotations


from obliviate.core.local_data import find_copy
from obliviate.lm.corpus import LMSplit
from obliviate.lm.text import read_data, warn_missing_fields

SPLITS = {"forget01": "retain99", "forget05": "retain95", "forget10": "retain90"}


def tofu_split(spec: str, data_dir=None) -> LMSplit:
    """The TOFU split ``spec`` (forget01 / forget05 / forget10) from the local copy."""
    if spec not in SPLITS:
        raise ValueError(f"unknown TOFU split {spec!r}; splits: {', '.join(SPLITS)}")
    root = find_copy("tofu", data_dir, "TOFU", f"{spec}.json", "TOFU's published files (forget10.json, ...)")
    names = {"train_forget": f"{spec}.json", "retain": f"{SPLITS[spec]}.json", "forget": f"{spec}_perturbed.json",
             "retain_eval": "retain_perturbed.json", "real_authors": "real_authors_perturbed.json",
             "general": "world_facts_perturbed.json", "holdout": f"holdout{spec[-2:]}.json"}
    missing = [n for n in names.values() if not (root / n).is_file()]
    if missing:
        raise ValueError(f"{root}: missing TOFU file(s) {', '.join(missing)}")
    parts = {key: read_data(root / name) for key, name in names.items()}
    scored = {qa.question for qa in parts["forget"]}
    if {qa.question for qa in parts["train_forget"]} != scored:
        raise ValueError(f"{root}: {names['forget']} and {names['train_forget']} do not hold the same questions")
    for key in ("forget", "retain_eval"):
        warn_missing_fields(parts[key], str(root / names[key]))
    for key in ("real_authors", "general"):
        if any(not qa.perturbed for qa in parts[key]):
            raise ValueError(f"{root / names[key]}: every row needs perturbed_answer (the options of its utility score)")
    return LMSplit(spec, parts["forget"], parts["retain"], parts["retain_eval"], parts["holdout"], parts["general"],
                   parts["real_authors"])
