"""Language models whose answers change at inference while their weights stay as
they were (guardrails, logit differences, prompt corruption): the same interface as
a Hugging Face causal LM where obliviate uses one (``model(input_ids,
attention_mask).logits``, ``generate``, ``save_pretrained``), so every metric and
attack applies to them unchanged.

An :class:`InferenceTimeLM` holds the base model and its settings; ``forward`` returns
the adjusted logits (with a loss when ``labels`` are given, so an attacker can
fine-tune the weights underneath the guard); ``generate`` is a plain token-by-token
loop without a KV cache (the adjustment sees the whole sequence at every step: exact,
and slow on long generations of large models). ``save_pretrained`` writes the base
model as usual plus ``obliviate_inference.json`` (which wrapper, its settings);
:func:`obliviate.lm.models.load_pretrained` puts the wrapper back, so a guarded model
is never reloaded unguarded."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

WRAPPER_FILE = "obliviate_inference.json"
WRAPPERS: dict[str, type[InferenceTimeLM]] = {}


class InferenceTimeLM(nn.Module):
    kind: ClassVar[str] = ""

    def __init__(self, base: nn.Module, tokenizer, settings: dict[str, Any]):
        super().__init__()
        self.base, self.tokenizer, self.settings = base, tokenizer, dict(settings)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            WRAPPERS[cls.kind] = cls

    def prefix_length(self) -> int:
        """Tokens the wrapper puts before every prompt (an instruction, a soft prompt)."""
        return 0

    @property
    def config(self):
        """The base's config; with a prefix, a context shorter by its tokens (so
        generation budgets leave room for it)."""
        used = self.prefix_length()
        if not used:
            return self.base.config
        config = copy.copy(self.base.config)
        # GPT-2's n_positions is an alias of max_position_embeddings: set one name only
        if getattr(config, "max_position_embeddings", None):
            config.max_position_embeddings = config.max_position_embeddings - used
        return config

    def adjusted_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def base_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    inputs_embeds: torch.Tensor | None = None, positions: torch.Tensor | None = None) -> torch.Tensor:
        """The base model's logits, positions counted from each row's first real token
        (as Hugging Face's generation does for left-padded prompts); ``inputs_embeds``
        in place of the token embeddings of ``input_ids`` and ``positions`` in place of
        those when given."""
        context = getattr(self.base.config, "max_position_embeddings", None)
        if context is not None and input_ids.shape[1] > context:
            raise ValueError(f"{self.kind}: {input_ids.shape[1]} tokens exceed the model's context of {context}"
                             + (f" (its {self.prefix_length()}-token prefix included)" if self.prefix_length() else ""))
        if positions is None:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        if inputs_embeds is not None:
            return self.base(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=positions).logits
        return self.base(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions).logits

    def logits_behind(self, prefix: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      shift: bool = True) -> torch.Tensor:
        """The base model's logits with the embeddings ``prefix`` (P × hidden) before each
        row's first real token (after any left padding), returned at the row's own
        positions (the prefix's are dropped). ``shift``: the row's tokens come after the
        prefix's positions (text read before the prompt); else they keep their own
        positions and the prefix takes 0…P−1 beside them."""
        embeds = self.base.get_input_embeddings()(input_ids)
        prefix, length = prefix.to(embeds.dtype), len(prefix)
        rows, masks, starts = [], [], []
        for row, mask in zip(embeds, attention_mask):
            real = mask.nonzero()
            first = int(real[0]) if len(real) else 0
            rows.append(torch.cat([row[:first], prefix, row[first:]]))
            masks.append(torch.cat([mask[:first], torch.ones(length, dtype=mask.dtype, device=mask.device),
                                    mask[first:]]))
            starts.append(first)
        mask = torch.stack(masks)
        positions = (mask.long().cumsum(-1) - 1).clamp_min(0)
        if not shift:
            own = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
            prefix_positions = torch.arange(length, device=mask.device)
            positions = torch.stack([torch.cat([o[:s], prefix_positions, o[s:]]) for o, s in zip(own, starts)])
        logits = self.base_logits(torch.zeros_like(mask), mask, torch.stack(rows), positions)
        width = input_ids.shape[1]
        keep = torch.stack([torch.cat([torch.arange(s), torch.arange(s + length, width + length)]) for s in starts])
        return logits.gather(1, keep.to(logits.device)[..., None].expand(-1, -1, logits.shape[-1]))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **_: Any):
        from transformers.modeling_outputs import CausalLMOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        logits = self.adjusted_logits(input_ids, attention_mask)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, max_new_tokens: int = 32,
                 do_sample: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 num_return_sequences: int = 1, pad_token_id: int | None = None, eos_token_id: int | None = None,
                 **_: Any) -> torch.Tensor:
        """Greedy or multinomial sampling (temperature; top-k / top-p other than off are
        refused rather than ignored), left-padded prompts as Hugging Face's."""
        if (top_k not in (0, None)) or (top_p not in (1.0, None)):
            raise ValueError("this inference-time model samples at a temperature only: top_k=0, top_p=1.0")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        ids = input_ids.repeat_interleave(num_return_sequences, 0)
        mask = attention_mask.repeat_interleave(num_return_sequences, 0)
        done = torch.zeros(len(ids), dtype=torch.bool, device=ids.device)
        pad = pad_token_id if pad_token_id is not None else (eos_token_id or 0)
        for _ in range(max_new_tokens):
            logits = self.adjusted_logits(ids, mask)[:, -1].float()
            if do_sample:
                # drawn with the global RNG, as Hugging Face's sampling (the caller seeds it)
                token = torch.multinomial(F.softmax(logits / temperature, -1), 1).squeeze(1)
            else:
                token = logits.argmax(-1)
            token = torch.where(done, torch.full_like(token, pad), token)
            ids = torch.cat([ids, token[:, None]], 1)
            mask = torch.cat([mask, (~done).long()[:, None]], 1)
            if eos_token_id is not None:
                done |= token == eos_token_id
            if done.all():
                break
        return ids

    def save_pretrained(self, directory: str | Path, **kwargs: Any) -> None:
        self.base.save_pretrained(directory, **kwargs)
        (Path(directory) / WRAPPER_FILE).write_text(json.dumps({"kind": self.kind, "settings": self.settings}, indent=1))

    @classmethod
    def load(cls, directory: Path, base: nn.Module, tokenizer, settings: dict[str, Any]) -> InferenceTimeLM:
        return cls(base, tokenizer, settings)

    def __deepcopy__(self, memo):
        # every module and setting copied; the tokenizer shared (it is never trained)
        memo[id(self.tokenizer)] = self.tokenizer
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            clone.__dict__[key] = copy.deepcopy(value, memo)
        return clone


def rewrap(directory: str | Path, base: nn.Module, tokenizer) -> nn.Module:
    """``base`` inside the wrapper saved in ``directory``, or ``base`` itself if none was."""
    path = Path(directory) / WRAPPER_FILE
    if not path.is_file():
        return base
    saved = json.loads(path.read_text())
    if saved.get("kind") not in WRAPPERS:
        raise ValueError(f"{path}: unknown inference-time wrapper {saved.get('kind')!r}; "
                         f"known: {', '.join(sorted(WRAPPERS))}")
    return WRAPPERS[saved["kind"]].load(Path(directory), base, tokenizer, saved.get("settings", {}))


def mentions(text: str, subjects: list[str]) -> bool:
    """Does ``text`` name any of ``subjects`` (case-insensitive)?"""
    low = text.lower()
    return any(s.lower() in low for s in subjects if s)


class GuardrailLM(InferenceTimeLM):
    """Thaker, Maurya, Pawelczyk and Smith, "Guardrail Baselines for Unlearning in LLMs"
    (2024). ``mode="filter"``: a prompt that names a forget subject is answered by a
    model that knows nothing (uniform next-token distributions from the prompt's end;
    in generation, the refusal text); ``mode="prompt"``: the base model behind an
    instruction not to reveal anything about the subjects (the prompting baseline)."""

    kind = "guardrail"
    REFUSAL = "I can't share anything about that."

    def prefix_length(self) -> int:
        if self.settings.get("mode") != "prompt":
            return 0
        return len(self.tokenizer(self.instruction(), add_special_tokens=False)["input_ids"])

    def instruction(self) -> str:
        return ("You must not reveal anything you know about the following people or topics, and answer that you "
                f"do not know: {', '.join(self.settings['subjects'])}.\n")

    def _answer_start(self, row_ids: torch.Tensor, row_mask: torch.Tensor) -> tuple[int, bool]:
        """(index of the first real token, whether the row names a subject)."""
        real = row_mask.nonzero().squeeze(1)
        first = int(real[0]) if len(real) else 0
        text = self.tokenizer.decode(row_ids[row_mask.bool()], skip_special_tokens=True)
        return first, mentions(text, self.settings["subjects"])

    def adjusted_logits(self, input_ids, attention_mask):
        if self.settings["mode"] == "prompt":
            return self._behind_instruction(input_ids, attention_mask)
        logits = self.base_logits(input_ids, attention_mask)
        flagged = [self._answer_start(i, m)[1] for i, m in zip(input_ids, attention_mask)]
        if any(flagged):
            logits = logits.clone()
            logits[torch.tensor(flagged, device=logits.device)] = 0.0  # uniform: nothing known
        return logits

    def _behind_instruction(self, input_ids, attention_mask):
        prefix = torch.tensor(self.tokenizer(self.instruction(), add_special_tokens=False)["input_ids"],
                              device=input_ids.device)
        return self.logits_behind(self.base.get_input_embeddings()(prefix), input_ids, attention_mask)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, max_new_tokens=32, num_return_sequences=1, eos_token_id=None,
                 pad_token_id=None, **kwargs):
        out = super().generate(input_ids, attention_mask, max_new_tokens=max_new_tokens,
                               num_return_sequences=num_return_sequences, eos_token_id=eos_token_id,
                               pad_token_id=pad_token_id, **kwargs)
        if self.settings["mode"] != "filter":
            return out
        # the output filter: a generation that names a subject becomes the refusal
        refusal = self.tokenizer(" " + self.REFUSAL, add_special_tokens=False)["input_ids"]
        width, pad = input_ids.shape[1], pad_token_id if pad_token_id is not None else (eos_token_id or 0)
        mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids))
        mask = mask.repeat_interleave(num_return_sequences, 0)
        prompts = input_ids.repeat_interleave(num_return_sequences, 0)
        for i in range(len(out)):
            asked = self._answer_start(prompts[i], mask[i])[1]
            said = mentions(self.tokenizer.decode(out[i, width:], skip_special_tokens=True), self.settings["subjects"])
            if asked or said:
                tail = (refusal + ([eos_token_id] if eos_token_id is not None else []))[: out.shape[1] - width]
                out[i, width:] = pad
                out[i, width:width + len(tail)] = torch.tensor(tail, device=out.device)
        return out


class LogitDifferenceLM(InferenceTimeLM):
    """ULD's unlearned model (Ji et al., NeurIPS 2024; UCSB-NLP-Chang/ULD,
    ``ContrastLLM``): log-softmax(z_base) + w·z_assistant, w = −1 by default, with the
    assistant's logits zeroed on the tokens the base model finds implausible (base
    probability below ``top_filter`` × its largest: the reference's relative top
    filter), so the subtraction only reorders what the base would say anyway.
    Choice: those filtered tokens keep the base's log-probability, where the
    reference's filter also sets them to −∞ (an answer token outside the base's top
    set would get an infinite NLL in scoring)."""

    kind = "uld"

    def __init__(self, base: nn.Module, tokenizer, settings: dict[str, Any], assistant: nn.Module | None = None):
        super().__init__(base, tokenizer, settings)
        if assistant is None:
            raise ValueError("uld: the assistant model is missing")
        self.assistant = assistant

    def adjusted_logits(self, input_ids, attention_mask):
        positions = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        base = F.log_softmax(self.base_logits(input_ids, attention_mask).float(), -1)
        assist = self.assistant(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions).logits.float()
        implausible = base < base.max(-1, keepdim=True).values + math.log(self.settings["top_filter"])
        return base + self.settings["weight"] * assist.masked_fill(implausible, 0.0)

    def save_pretrained(self, directory: str | Path, **kwargs: Any) -> None:
        super().save_pretrained(directory, **kwargs)
        self.assistant.save_pretrained(Path(directory) / "assistant", **kwargs)

    @classmethod
    def load(cls, directory: Path, base, tokenizer, settings):
        from transformers import AutoModelForCausalLM

        if not (directory / "assistant" / "config.json").is_file():
            raise ValueError(f"{directory}: a ULD model needs its assistant in {directory / 'assistant'}")
        assistant = AutoModelForCausalLM.from_pretrained(directory / "assistant", local_files_only=True)
        return cls(base, tokenizer, settings, assistant.to(next(base.parameters()).device).eval())


class EmbeddingCorruptedLM(InferenceTimeLM):
    """ECO's unlearned model (Liu et al., NeurIPS 2024; chrisliu298/llm-unlearn-eco,
    ``AttackedModel``, ``rand_noise_first_n``): when the prompt classifier says a prompt
    concerns the forget target, Gaussian noise N(0, σ²) is added to the first ``dims``
    dimensions of the input embeddings; other rows pass untouched.

    Which tokens, as the reference without a token classifier: a scored sequence
    (prompt and answer, teacher-forced) has every token but its last corrupted (the
    reference labels ``prompt + answer`` that way); in generation, every token of the
    given prompt but its last, never the generated ones (the reference's hook fires on
    the prompt's pass only). The classifier reads the prompt alone: a row's tokens up
    to the last occurrence of the text format's answer marker
    (``settings["marker"]``, e.g. the tokens of ``"\nAnswer:"``); a row without the
    marker (raw text) is read whole. The noise is a fixed draw from
    ``settings["seed"]`` on the CPU (position p always gets the same noise): scores
    and generations are deterministic and equal on every device."""

    kind = "eco"
    CLASSIFIER_FILE = "eco_classifier.json"
    NOISE_BLOCK = 512  # positions per seeded block of the noise bank

    def __init__(self, base: nn.Module, tokenizer, settings: dict[str, Any], classifier=None):
        super().__init__(base, tokenizer, settings)
        if classifier is None:
            raise ValueError("eco: the prompt classifier is missing")
        self.classifier = classifier
        self._prompt_width: int | None = None
        self._noise: list[torch.Tensor] = []

    def spans(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[tuple[int, int, int]]:
        """Per row: (first real token, end of the prompt, end of the corrupted tokens)."""
        width = self._prompt_width or input_ids.shape[1]
        marker = list(self.settings["marker"])
        spans = []
        for ids, mask in zip(input_ids[:, :width].tolist(), attention_mask[:, :width].tolist()):
            real = [i for i, m in enumerate(mask) if m]
            first, end = (real[0], real[-1] + 1) if real else (0, 0)
            prompt_end = end
            for stop in range(end, first + len(marker) - 1, -1):
                if marker and ids[stop - len(marker):stop] == marker:
                    prompt_end = stop
                    break
            spans.append((first, prompt_end, max(first, end - 1)))
        return spans

    def noise(self, count: int) -> torch.Tensor:
        """Standard normal noise for prompt positions 0..count-1 (CPU, float32)."""
        dims = self.settings["dims"] or self.base.get_input_embeddings().weight.shape[1]
        while len(self._noise) * self.NOISE_BLOCK < count:
            block = torch.Generator().manual_seed(int(self.settings["seed"]) * 100_003 + len(self._noise))
            self._noise.append(torch.randn(self.NOISE_BLOCK, dims, generator=block))
        return torch.cat(self._noise)[:count]

    def corrupted(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  spans: list[tuple[int, int, int]] | None = None) -> list[bool]:
        """Which rows the classifier sends to corruption."""
        spans = spans or self.spans(input_ids, attention_mask)
        texts = [self.tokenizer.decode(ids[first:prompt_end], skip_special_tokens=True)
                 for ids, (first, prompt_end, _) in zip(input_ids.tolist(), spans)]
        return self.classifier.flags(texts)

    def adjusted_logits(self, input_ids, attention_mask):
        embeds = self.base.get_input_embeddings()(input_ids)
        spans = self.spans(input_ids, attention_mask)
        flagged = self.corrupted(input_ids, attention_mask, spans)
        if any(flagged):
            embeds, dims = embeds.clone(), self.settings["dims"] or embeds.shape[-1]
            for row, ((first, _, stop), hit) in enumerate(zip(spans, flagged)):
                if hit and stop > first:
                    noise = self.noise(stop - first).to(device=embeds.device, dtype=embeds.dtype)
                    embeds[row, first:stop, :dims] += float(self.settings["strength"]) * noise
        return self.base_logits(input_ids, attention_mask, embeds)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, **kwargs):
        self._prompt_width = input_ids.shape[1]  # generated tokens are never part of the prompt
        try:
            return super().generate(input_ids, attention_mask, **kwargs)
        finally:
            self._prompt_width = None

    def save_pretrained(self, directory: str | Path, **kwargs: Any) -> None:
        super().save_pretrained(directory, **kwargs)
        self.classifier.save(Path(directory) / self.CLASSIFIER_FILE)

    @classmethod
    def load(cls, directory: Path, base, tokenizer, settings):
        from obliviate.lm.prompt_classifier import PromptClassifier

        return cls(base, tokenizer, settings, PromptClassifier.load(directory / cls.CLASSIFIER_FILE))


class SoftPromptLM(InferenceTimeLM):
    """SPUL's unlearned model (Bhaila, Van and Wu, "Soft Prompting for Unlearning in
    Large Language Models", 2024; karuna-bhaila/llm_unlearning): learned virtual-token
    embeddings (``prompt()``, P × hidden) before every prompt, the weights untouched.
    As Hugging Face PEFT's prompt learning, the soft prompt precedes each row's first
    real token; ``soft_prompt.safetensors`` holds it. Choice: the query keeps its own
    positions (the virtual tokens take 0…P−1 beside it) where PEFT shifts it by P: a
    model trained with absolute positions at a fixed offset is not disturbed (on the
    test model a 1-token shift alone takes the retain answers' probability from 0.99
    to 0.34), and a rotary model's prompt learns whatever distance it is given."""

    kind = "soft_prompt"
    PROMPT_FILE = "soft_prompt.safetensors"

    def __init__(self, base: nn.Module, tokenizer, settings: dict[str, Any], prompt: nn.Module | None = None):
        super().__init__(base, tokenizer, settings)
        if prompt is None:
            raise ValueError("soft_prompt: the learned prompt is missing")
        self.prompt = prompt

    def prefix_length(self) -> int:
        return int(self.settings["tokens"])

    def adjusted_logits(self, input_ids, attention_mask):
        return self.logits_behind(self.prompt(), input_ids, attention_mask, shift=False)

    def save_pretrained(self, directory: str | Path, **kwargs: Any) -> None:
        from safetensors.torch import save_file

        super().save_pretrained(directory, **kwargs)
        save_file({"prompt": self.prompt().detach().cpu().contiguous()}, str(Path(directory) / self.PROMPT_FILE))

    @classmethod
    def load(cls, directory: Path, base, tokenizer, settings):
        from safetensors.torch import load_file

        path = directory / cls.PROMPT_FILE
        if not path.is_file():
            raise ValueError(f"{directory}: a soft-prompted model needs its prompt in {path}")
        weight = load_file(str(path))["prompt"].to(next(base.parameters()).device)
        return cls(base, tokenizer, settings, FixedPrompt(weight))


class FixedPrompt(nn.Module):
    """A learned soft prompt, as it is used after training: a P × hidden tensor."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.weight
