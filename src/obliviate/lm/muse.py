"""MUSE (Shi et al. 2024) from a local copy of its published data, scored as its
reference code (jaechan-repo/muse_bench) scores it.

Layout (``data/<corpus>/`` of the MUSE repository; ``news`` is ``bbc``, ``books`` is
``hp``), JSON arrays:

- ``verbmem/forget.json``: ``{"prompt", "gt"}``: VerbMem is the mean ROUGE-L F1
  between the greedy 128-token continuation of ``prompt`` and ``gt`` cut to its
  first 128 tokens (``verbmem/get_rouge.py``);
- ``knowmem/forget_qa.json``, ``knowmem/retain2_qa.json`` and their ``*_icl.json``
  few-shot examples: ``{"question", "answer"}``: KnowMem is the mean ROUGE-L F1 of
  the greedy answer (32 new tokens, cut before "\\n\\n", "\\nQuestion" or
  "Question:") to the prompt "Question: {q}\\nAnswer: {a}\\n\\n" per few-shot
  example, then "Question: {q}\\nAnswer: " (``knowmem/get_rouge_qa.py``);
- ``privleak/forget.json``, ``privleak/holdout.json``: texts: PrivLeak compares the
  Min-K% (k = 0.4) AUC of forget (members) against holdout (non-members) with the
  retain model's, ((1 − AUC) − (1 − AUC_retain)) / (1 − AUC_retain) · 100;
- ``raw/forget.json``, ``raw/retain1.json``: the texts unlearning trains on.

Prompts are tokenised with the tokenizer's special tokens (``add_special_tokens=True``),
as MUSE's code does; no chat template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from obliviate.core.local_data import data_dir as resolve
from obliviate.lm import metrics as M
from obliviate.lm.corpus import QA

CORPORA = {"news": "bbc", "books": "hp", "bbc": "bbc", "hp": "hp"}
FILES = ("verbmem/forget.json", "knowmem/forget_qa.json", "knowmem/forget_qa_icl.json", "knowmem/retain2_qa.json",
         "knowmem/retain2_qa_icl.json", "privleak/forget.json", "privleak/holdout.json")
VERBMEM_TOKENS, KNOWMEM_TOKENS = 128, 32
ANSWER_ENDS = ("\n\n", "\nQuestion", "Question:")


@dataclass
class MuseData:
    verbmem: list[dict]
    forget_qa: list[dict]
    forget_icl: list[dict]
    retain_qa: list[dict]
    retain_icl: list[dict]
    privleak_forget: list[str]
    privleak_holdout: list[str]


def muse_copy(corpus: str, data_dir=None) -> MuseData:
    """The MUSE corpus ``corpus`` (news / books) from ``data_dir`` (or ``data_dir/data``)."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown MUSE corpus {corpus!r}; corpora: news, books")
    root = resolve(data_dir)
    if root is None:
        raise ValueError("MUSE is read from a local copy: pass --data-dir DIR (or set OBLIVIATE_DATA) where "
                         f"DIR/{CORPORA[corpus]}/ holds it")
    folder = next((p for p in (root / CORPORA[corpus], root / "data" / CORPORA[corpus]) if p.is_dir()), None)
    if folder is None:
        raise ValueError(f"no MUSE corpus folder {CORPORA[corpus]!r} in {str(root)!r} or {str(root / 'data')!r}")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{folder}: missing MUSE file(s) {', '.join(missing)}")
    parts = [_array(folder / f) for f in FILES]
    for f, part, keys in zip(FILES, parts, [("prompt", "gt")] + [("question", "answer")] * 4 + [None, None]):
        for i, item in enumerate(part):
            if keys is None and not isinstance(item, str):
                raise ValueError(f"{folder / f}[{i}]: expected a text")
            if keys is not None and (not isinstance(item, dict) or set(item) != set(keys)):
                raise ValueError(f"{folder / f}[{i}]: expected exactly the fields {', '.join(keys)}")
    return MuseData(*parts)


def _array(path: Path) -> list:
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON array")
    return rows


def knowmem_prompt(question: str, icl: Sequence[dict]) -> str:
    shots = "".join(f"Question: {x['question']}\nAnswer: {x['answer']}\n\n" for x in icl)
    return shots + f"Question: {question}\nAnswer: "


def cut_answer(text: str) -> str:
    """The generated answer up to the first of MUSE's end markers."""
    for end in ANSWER_ENDS:
        text = text.split(end)[0]
    return text


def evaluate_muse(model, tokenizer, data: MuseData, reference: dict | None = None) -> dict:
    """``verbmem_f`` (forget), ``knowmem_f`` (forget), ``knowmem_r`` (retain: utility),
    ``mia_mink_auc`` and, with the retain model's own dict as ``reference``,
    ``privleak``. ROUGE values in [0, 1]; VerbMem / KnowMem on the forget set: lower
    is better (toward the retain model's), KnowMem on retain: higher; PrivLeak: 0 is
    the retain model's, negative = forget set looks more like members."""
    from obliviate.lm.evaluate import continue_greedy, score

    model.eval()
    out = {}
    verb = []
    for item in data.verbmem:
        gt_ids = tokenizer(item["gt"], add_special_tokens=True)["input_ids"][:VERBMEM_TOKENS]
        gt = tokenizer.decode(gt_ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
        verb.append(M.rouge_l_f1(continue_greedy(model, tokenizer, item["prompt"], VERBMEM_TOKENS), gt))
    out["verbmem_f"] = float(np.mean(verb))
    for name, qa, icl in (("knowmem_f", data.forget_qa, data.forget_icl), ("knowmem_r", data.retain_qa, data.retain_icl)):
        out[name] = float(np.mean([M.rouge_l_f1(cut_answer(continue_greedy(model, tokenizer,
                                                                         knowmem_prompt(x["question"], icl),
                                                                         KNOWMEM_TOKENS)), x["answer"])
                                   for x in qa]))
    members = score(model, tokenizer, [QA("", t) for t in data.privleak_forget], details=True)
    others = score(model, tokenizer, [QA("", t) for t in data.privleak_holdout], details=True)
    out["mia_mink_auc"] = M.mia_auc([M.min_k_score(lp) for lp in members.token_logprobs],
                                    [M.min_k_score(lp) for lp in others.token_logprobs])
    if reference is not None:
        out["privleak"] = M.privleak(1 - out["mia_mink_auc"], 1 - reference["mia_mink_auc"])
    return out
