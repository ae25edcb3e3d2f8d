"""Text plumbing for the language-model track: the prompt format, tokenisation with
answer-only labels, padding, a locally trained tokenizer, and the user's JSONL data.

A question/answer pair becomes ``"Question: {q}\\nAnswer:"`` followed by
``" {a}"`` and the end-of-sequence token; the loss (and every answer metric) covers
the answer tokens only, as in TOFU. Raw text has no prompt and no EOS: every token
counts (but the first, which nothing predicts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import Dataset

from obliviate.lm.corpus import QA

IGNORE = -100
PROMPT = "Question: {question}\nAnswer:"


def prompt_of(question: str) -> str:
    return PROMPT.format(question=question)


@dataclass(frozen=True)
class Example:
    """A tokenised example: ``labels`` is ``IGNORE`` outside the answer."""

    input_ids: list[int]
    labels: list[int]


def encode(tokenizer, prompt: str, answer: str, max_length: int = 128) -> Example:
    """Tokens of prompt + " answer" + EOS, with labels on the answer (and EOS) only.
    Raw text (no prompt) gets no EOS, as OpenUnlearning's pretraining-style items (MUSE):
    it is a passage cut from a longer text, not a finished answer."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    answer_ids = tokenizer((" " if prompt else "") + answer, add_special_tokens=False)["input_ids"]
    if prompt and tokenizer.eos_token_id is not None:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_length]
    return Example(ids, labels)


def encode_qa(tokenizer, qa: QA, answer: str | None = None, max_length: int = 128) -> Example:
    return encode(tokenizer, prompt_of(qa.question) if qa.question else "", qa.answer if answer is None else answer,
                  max_length)


def answer_text(tokenizer, qa: QA) -> str:
    """The labelled tokens of ``qa`` decoded back to text, special tokens left out: the
    text OpenUnlearning's ZLib attack compresses (with the space the prompt puts before
    the answer, which the raw answer string has not)."""
    labels = [t for t in encode_qa(tokenizer, qa).labels if t != IGNORE]
    return tokenizer.decode(labels, skip_special_tokens=True)


def pad(examples: Sequence[Example], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Batch tensors ``input_ids``, ``attention_mask`` and ``labels`` padded to the longest."""
    width = max(len(e.input_ids) for e in examples)
    ids, mask, labels = [], [], []
    for e in examples:
        gap = width - len(e.input_ids)
        fill_ids, fill_mask, fill_labels = [pad_id] * gap, [0] * gap, [IGNORE] * gap
        if side == "right":
            ids.append(e.input_ids + fill_ids)
            mask.append([1] * len(e.input_ids) + fill_mask)
            labels.append(e.labels + fill_labels)
        else:
            ids.append(fill_ids + e.input_ids)
            mask.append(fill_mask + [1] * len(e.input_ids))
            labels.append(fill_labels + e.labels)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def on_device(batch: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """A padded batch on ``model``'s device (token ids stay integers)."""
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in batch.items()}


class ExampleDataset(Dataset):
    """Tokenised examples, collated by :func:`collate`."""

    def __init__(self, examples: Sequence[Example]):
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> Example:
        return self.examples[i]


def collate(pad_id: int):
    return lambda batch: pad(batch, pad_id)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained on ``texts`` (the ``tokenizers`` library),
    wrapped as a ``transformers`` fast tokenizer with ``<pad>`` and ``<eos>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def read_jsonl(path: str | Path) -> list[QA]:
    """The user's forget/retain data: JSONL lines ``{"question": ..., "answer": ...}``
    (optionally ``paraphrase``, ``perturbed`` (a list), ``key``), or ``{"text": ...}``
    for raw text (becomes an answer with an empty question: every token counts)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    rows: list[QA] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: each line must be a JSON object")
        rows.append(qa_from_dict(row, f"{path}:{lineno}"))
    if not rows:
        raise ValueError(f"{path} holds no examples")
    return rows


def qa_from_dict(row: dict, where: str = "example") -> QA:
    if "text" in row and "question" not in row:
        text = row["text"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: 'text' must be a non-empty string")
        return QA("", text)
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: a question/answer example needs a non-empty 'question' (or use 'text')")
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"{where}: the question {question!r} has no answer")
    perturbed = row.get("perturbed", [])
    if isinstance(perturbed, str) or not all(isinstance(p, str) for p in perturbed):
        raise ValueError(f"{where}: 'perturbed' must be a list of strings")
    return QA(question, answer, row.get("paraphrase", ""), tuple(perturbed), row.get("person", ""),
              row.get("key", ""))
