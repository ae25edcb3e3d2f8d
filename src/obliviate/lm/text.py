"""Text plumbing for the language-model track: the prompt format, tokenisation with
answer-only labels, padding, a locally trained tokenizer, and the user's JSONL data.

A question/answer pair becomes its prompt followed by the answer and the
end-of-sequence token; the loss (and every answer metric) covers the answer tokens
only, as in TOFU. Raw text has no prompt and no EOS: every token counts (but the
first, which nothing predicts). The prompt is the tokenizer's chat template when it
has one (OpenUnlearning's convention for chat models: system prompt "You are a
helpful assistant.", ``date_string`` "10 Apr 2025" so that Llama-3 templates do not
print today's date), else ``"Question: {q}\nAnswer:"`` and ``" {a}"`` (the
``Question: …\nAnswer: …`` text of OpenUnlearning's base-model template), with the
tokenizer's BOS first when the tokenizer adds one itself (Llama, Mistral; not GPT-2).

A :class:`TextFormat` says which, and how long an example may be. It travels with
the tokenizer (:func:`use_format`, :func:`format_of`): every encoding of a run's
examples, training items and every metric alike, uses the same one, so a model is
never scored under a prompt it was not trained with.
"""

from __future__ import annotations

import json
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import Dataset

from obliviate.lm.corpus import QA

IGNORE = -100
PROMPT = "Question: {question}\nAnswer:"
MAX_LENGTH_CAP = 2048  # tokens: OpenUnlearning's MUSE setting (TOFU uses 512); longer contexts only when asked
CHAT_SYSTEM_PROMPT = "You are a helpful assistant."
CHAT_DATE = "10 Apr 2025"


def prompt_of(question: str) -> str:
    """The plain (no chat template) prompt text of ``question``."""
    return PROMPT.format(question=question)


@dataclass(frozen=True)
class TextFormat:
    """How examples become tokens: ``max_length`` tokens at most (prompts are cut from
    the left so the answer stays; an answer longer than that is cut at its end, and
    raw text is split into ``max_length`` chunks for training), the tokenizer's chat
    template (``chat``) with ``system_prompt``, and whether BOS leads (``bos``)."""

    max_length: int = MAX_LENGTH_CAP
    chat: bool = False
    system_prompt: str = CHAT_SYSTEM_PROMPT
    bos: bool = False


_FORMATS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def use_format(tokenizer, fmt: TextFormat) -> TextFormat:
    """Make ``fmt`` the format of every later encoding with ``tokenizer``."""
    _FORMATS[tokenizer] = fmt
    return fmt


def format_of(tokenizer) -> TextFormat:
    """The format set for ``tokenizer``, else the one :func:`resolve_format` gives it."""
    found = _FORMATS.get(tokenizer)
    return found if found is not None else use_format(tokenizer, resolve_format(tokenizer))


def format_for(tokenizer, model) -> TextFormat:
    """The format set for ``tokenizer``, else the one :func:`resolve_format` gives it for
    ``model`` (so examples are cut to the model's context)."""
    found = _FORMATS.get(tokenizer)
    return found if found is not None else use_format(tokenizer, resolve_format(tokenizer, model))


def model_context(model) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


def resolve_format(tokenizer, model=None, max_length: int | None = None, chat_template: str = "auto",
                   system_prompt: str | None = None) -> TextFormat:
    """The format for ``tokenizer`` (and ``model``): ``max_length`` default the model's
    context (else the tokenizer's ``model_max_length``) capped at ``MAX_LENGTH_CAP``;
    ``chat_template`` ``"auto"`` (the tokenizer's template when it has one) or
    ``"none"``; BOS when the tokenizer adds it itself. One-line errors for a
    ``max_length`` the model cannot take or a template the tokenizer lacks."""
    if chat_template not in ("auto", "none"):
        raise ValueError(f"chat_template must be 'auto' or 'none', got {chat_template!r}")
    context = model_context(model) if model is not None else None
    if context is None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        context = tokenizer.model_max_length
    if max_length is None:
        max_length = min(context or MAX_LENGTH_CAP, MAX_LENGTH_CAP)
    elif not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2 tokens, got {max_length!r}")
    elif context is not None and max_length > context:
        raise ValueError(f"max_length {max_length} exceeds the model's context of {context} tokens")
    chat = chat_template == "auto" and getattr(tokenizer, "chat_template", None) is not None
    bos_id = getattr(tokenizer, "bos_token_id", None)
    adds_bos = bos_id is not None and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [bos_id]
    return TextFormat(max_length, chat, CHAT_SYSTEM_PROMPT if system_prompt is None else system_prompt, adds_bos)


def describe_format(fmt: TextFormat) -> str:
    """One line for the user: which prompt, how long, BOS."""
    prompt = "the tokenizer's chat template" if fmt.chat else repr(PROMPT + " {answer}")
    return f"text format: {prompt}, max_length {fmt.max_length}" + (", BOS first" if fmt.bos else "")


@dataclass(frozen=True)
class Example:
    """A tokenised example: ``labels`` is ``IGNORE`` outside the answer; ``cut`` counts
    the prompt and answer tokens dropped to fit ``max_length``."""

    input_ids: list[int]
    labels: list[int]
    cut_prompt: int = 0
    cut_answer: int = 0


def _messages(fmt: TextFormat, question: str) -> list[dict]:
    system = [{"role": "system", "content": fmt.system_prompt}] if fmt.system_prompt else []
    return system + [{"role": "user", "content": question}]


def _template(tokenizer, messages, generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt,
                                        date_string=CHAT_DATE)
    return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)


def prompt_ids(tokenizer, question: str, fmt: TextFormat | None = None) -> list[int]:
    """The tokens that ask ``question`` (what generation starts from)."""
    fmt = fmt or format_of(tokenizer)
    if fmt.chat:
        return _template(tokenizer, _messages(fmt, question), generation_prompt=True)
    ids = tokenizer(prompt_of(question), add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if fmt.bos else []) + ids


def answer_marker(tokenizer, fmt: TextFormat | None = None) -> list[int]:
    """The tokens every prompt ends with, where the answer starts (``"\nAnswer:"`` of the
    plain format, the assistant header of a chat template): the longest token suffix
    common to the prompts of questions ending in different characters."""
    prompts = [prompt_ids(tokenizer, q, fmt) for q in ("Who wrote it?", "Name the city.", "Tell me about x", "2 + 2 =")]
    common = 0
    while common < min(map(len, prompts)) and len({p[len(p) - 1 - common] for p in prompts}) == 1:
        common += 1
    return prompts[0][len(prompts[0]) - common:]


def encode(tokenizer, question: str, answer: str, fmt: TextFormat | None = None) -> Example:
    """Tokens of the prompt of ``question`` + the answer + EOS, labels on the answer
    (and EOS) only; ``question`` "" is raw text (no prompt, no EOS; BOS as the
    tokenizer has it). Too long: the prompt is cut from the left (BOS kept), then
    the answer at its end. Raw text is a passage cut from a longer text, not a
    finished answer: no EOS, as OpenUnlearning's pretraining-style items (MUSE)."""
    fmt = fmt or format_of(tokenizer)
    head = [tokenizer.bos_token_id] if fmt.bos else []
    if not question:
        body = head + tokenizer(answer, add_special_tokens=False)["input_ids"]
        kept = body[:fmt.max_length]
        return Example(kept, list(kept), 0, len(body) - len(kept))
    if fmt.chat:
        asked = prompt_ids(tokenizer, question, fmt)
        full = _template(tokenizer, _messages(fmt, question) + [{"role": "assistant", "content": answer}], False)
        if full[:len(asked)] != asked:  # the boundary merged into one token: as OpenUnlearning, split at the length
            warnings.warn(f"the chat template tokenises {question[:40]!r} differently with its answer: the answer "
                          "is taken to start where the prompt alone ends (OpenUnlearning does the same)",
                          stacklevel=2)
        answer_ids = full[len(asked):]
        asked = full[:len(asked)]
        bos_id = getattr(tokenizer, "bos_token_id", None)
        leads = bos_id is not None and asked[:1] == [bos_id]
        head, asked = (asked[:1], asked[1:]) if leads else ([], asked)  # BOS stays first when the prompt is cut
    else:
        asked = tokenizer(prompt_of(question), add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None and answer_ids[-1:] != [tokenizer.eos_token_id]:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    room = fmt.max_length - len(head)
    kept_answer = answer_ids[:room]
    kept_prompt = asked[len(asked) - min(len(asked), room - len(kept_answer)):] if room > len(kept_answer) else []
    if not kept_answer:
        raise ValueError(f"max_length {fmt.max_length} leaves no answer token for {question[:40]!r}")
    ids = head + kept_prompt + kept_answer
    labels = [IGNORE] * (len(head) + len(kept_prompt)) + kept_answer
    return Example(ids, labels, len(asked) - len(kept_prompt), len(answer_ids) - len(kept_answer))


def encode_qa(tokenizer, qa: QA, answer: str | None = None, fmt: TextFormat | None = None) -> Example:
    return encode(tokenizer, qa.question, qa.answer if answer is None else answer, fmt)


def encode_all(tokenizer, qas: Sequence[QA], what: str, answers: Sequence[str] | None = None) -> list[Example]:
    """:func:`encode_qa` of every pair, warning once (by count) when some did not fit."""
    examples = [encode_qa(tokenizer, qa, None if answers is None else answers[i]) for i, qa in enumerate(qas)]
    warn_cut(examples, what, format_of(tokenizer).max_length)
    return examples


def warn_cut(examples: Sequence[Example], what: str, max_length: int) -> None:
    """Warn (by count) about examples that did not fit ``max_length``: never a silent cut."""
    too_long = sum(bool(e.cut_prompt or e.cut_answer) for e in examples)
    if too_long:
        prompts, answers = sum(e.cut_prompt > 0 for e in examples), sum(e.cut_answer > 0 for e in examples)
        warnings.warn(f"{what}: {too_long} of {len(examples)} examples are longer than max_length={max_length} "
                      f"tokens: {prompts} prompts cut from the left, {answers} answers or texts cut at the end "
                      "(raise --max-length to keep them whole)", stacklevel=3)


def text_chunks(tokenizer, text: str) -> list[Example]:
    """Raw ``text`` as consecutive ``max_length``-token training examples (no token
    dropped; BOS on each chunk when the tokenizer adds one), as OpenUnlearning's
    pretraining-style datasets do for MUSE's long documents."""
    fmt = format_of(tokenizer)
    head = [tokenizer.bos_token_id] if fmt.bos else []
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    step = fmt.max_length - len(head)
    return [Example(head + ids[i:i + step], head + ids[i:i + step]) for i in range(0, len(ids), step)
            if len(ids[i:i + step]) > 1 or i == 0]


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


# JSONL fields: ours, and TOFU's published names for the same things (its *_perturbed files)
FIELDS = {"question": "question", "answer": "answer", "text": "text", "paraphrase": "paraphrase",
          "paraphrased_answer": "paraphrase", "perturbed": "perturbed", "perturbed_answer": "perturbed",
          "person": "person", "key": "key", "paraphrased_question": "paraphrased_question"}
# what a missing field turns off, for the warning (evaluation only)
NEEDED_BY = {"paraphrase": "the truth ratio against the paraphrase (TOFU's forget truth ratio)",
             "perturbed": "the truth ratio and forget quality"}


def read_data(path: str | Path, warn_missing: bool = False) -> list[QA]:
    """The user's data, in the layouts the benchmarks publish:

    - JSON lines: ``{"question": ..., "answer": ...}`` (optionally ``paraphrase`` /
      TOFU's ``paraphrased_answer``, ``perturbed`` / TOFU's ``perturbed_answer`` (a
      list), ``person``, ``key``; TOFU's ``paraphrased_question`` is accepted and not
      used), or ``{"text": ...}`` for raw text (an answer with an empty question: every
      token counts);
    - a JSON array of such objects, or of strings, each a raw text (MUSE's
      ``raw/forget.json``);
    - a ``.txt`` file: one raw text, the whole file (MUSE's ``raw/forget.txt``,
      ``scal/forget_k.txt``, ``sust/forget_k.txt``), cut into ``max_length`` chunks for
      training as MUSE's own trainer cuts it.

    Any other field is an error naming the known ones. ``warn_missing``: warn, by field
    name, when question/answer rows lack a field a metric needs."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix == ".txt":
        if not text.strip():
            raise ValueError(f"{path} holds no text")
        return [QA("", text)]
    if text.lstrip().startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg})") from None
        rows = [_array_item(item, f"{path}[{i}]") for i, item in enumerate(array)]
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
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
    if warn_missing:
        warn_missing_fields(rows, str(path))
    return rows


def _array_item(item, where: str) -> QA:
    if isinstance(item, str):
        return qa_from_dict({"text": item}, where)
    if isinstance(item, dict):
        return qa_from_dict(item, where)
    raise ValueError(f"{where}: expected an object or a text, got {type(item).__name__}")


def warn_missing_fields(rows: Sequence[QA], what: str) -> None:
    pairs = [qa for qa in rows if qa.question]
    for field_name, needed_by in NEEDED_BY.items():
        missing = sum(not getattr(qa, field_name) for qa in pairs)
        if missing:
            names = " / ".join(k for k, v in FIELDS.items() if v == field_name)
            warnings.warn(f"{what}: {missing} of {len(pairs)} rows have no {names}: {needed_by} is not computed "
                          "for them", stacklevel=3)


def qa_from_dict(row: dict, where: str = "example") -> QA:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; known fields: "
                         f"{', '.join(FIELDS)}")
    given = {}
    for name, value in row.items():
        ours = FIELDS[name]
        if ours in given:
            raise ValueError(f"{where}: both {name!r} and another name for {ours!r} are given")
        given[ours] = value
    if "text" in given and "question" not in given:
        text = given["text"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: 'text' must be a non-empty string")
        if set(given) - {"text", "key", "person"}:
            raise ValueError(f"{where}: a 'text' row takes no {sorted(set(given) - {'text', 'key', 'person'})}")
        return QA("", text, person=given.get("person", ""), key=given.get("key", ""))
    if "text" in given:
        raise ValueError(f"{where}: a row is either 'text' or 'question'/'answer', not both")
    question, answer = given.get("question"), given.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: a question/answer example needs a non-empty 'question' (or use 'text')")
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError(f"{where}: the question {question!r} has no answer")
    perturbed = given.get("perturbed", [])
    if isinstance(perturbed, str) or not isinstance(perturbed, list) or not all(isinstance(p, str) for p in perturbed):
        raise ValueError(f"{where}: 'perturbed' must be a list of strings (TOFU: 'perturbed_answer')")
    for name in ("paraphrase", "person", "key", "paraphrased_question"):
        if not isinstance(given.get(name, ""), str):
            raise ValueError(f"{where}: {name!r} must be a string")
    return QA(question, answer, given.get("paraphrase", ""), tuple(perturbed), given.get("person", ""),
              given.get("key", ""))
