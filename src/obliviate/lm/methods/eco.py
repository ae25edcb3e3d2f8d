"""ECO: embedding-corrupted prompts. Liu, Yao, Jia, Casper, Baracaldo, Hase, Yao, Liu
and Liu, "Large Language Model Unlearning via Embedding-Corrupted Prompts", NeurIPS
2024 (reference: chrisliu298/llm-unlearn-eco).

The weights never change. A prompt classifier (:mod:`obliviate.lm.prompt_classifier`)
learns the forget prompts against the retain prompts; at inference a prompt it flags
has noise added to its token embeddings
(:class:`obliviate.lm.inference.EmbeddingCorruptedLM`), so the model answers as if it
had not understood the question, while every other prompt is answered by the
untouched model.

The noise strength σ is what the reference optimises (``scripts/zeroth_order_optim.py``:
a zeroth-order scalar search of σ until the forget score reaches a target). Ours
searches the same scalar on the same objective by doubling σ from the embedding
matrix's standard deviation until the forget answers' mean probability falls to the
target, then six bisections in log-space (monotone, no step size to tune).
Choices: the target defaults to the model's own probability of each forget answer
asked under another forget question (an answer the prompt does not support: what a
model that knows nothing about the subject would give it); ``target=p`` or
``strength=σ`` set it. ``dims`` 0 corrupts every embedding dimension (the reference's
TOFU grid tries 1 and all); the search scores at most 64 forget questions."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from obliviate.core.registry import register
from obliviate.lm.corpus import QA
from obliviate.lm.inference import EmbeddingCorruptedLM
from obliviate.lm.prompt_classifier import PromptClassifier
from obliviate.lm.text import answer_marker, prompt_ids
from obliviate.lm.unlearn import LMMethod

SEARCHED = 64  # forget questions scored per trial strength


def prompt_text(tokenizer, qa: QA) -> str:
    """What the classifier reads at inference: the decoded prompt (raw text: itself)."""
    if not qa.question:
        return qa.answer
    return tokenizer.decode(prompt_ids(tokenizer, qa.question), skip_special_tokens=True)


@register("eco", track="lm", needs=("forget", "retain"), paper="Liu et al., NeurIPS 2024",
          idea="a prompt classifier flags prompts about the forget target; noise corrupts their embeddings")
@dataclass
class ECO(LMMethod):
    dims: int = 0            # embedding dimensions corrupted (the first ones); 0: all
    strength: float = 0.0    # σ of the noise; 0: searched down to the target
    target: float = -1.0     # forget answer probability σ is searched for; < 0: under mismatched questions
    threshold: float = 0.5   # the classifier's probability above which a prompt is corrupted

    own_loop = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dims < 0 or self.strength < 0 or self.target >= 1 or not 0 < self.threshold < 1:
            raise ValueError("eco: dims and strength must be >= 0, target < 1, threshold in (0, 1)")

    def setup(self, model, tokenizer, forget, generator, *, retain=None) -> None:
        width = model.get_input_embeddings().weight.shape[1]
        if self.dims > width:
            raise ValueError(f"eco: dims {self.dims} > the embedding width {width}")
        self.marker = answer_marker(tokenizer)
        self.seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        positives = [prompt_text(tokenizer, qa) for qa in self.forget_qas]
        negatives = [prompt_text(tokenizer, qa) for qa in self.retain_qas]
        self.classifier = PromptClassifier.fit(positives, negatives, self.threshold, self.seed)
        recall = sum(self.classifier.flags(positives)) / len(positives)
        false_alarms = sum(self.classifier.flags(negatives)) / len(negatives)
        self.classifier_report = {"forget_flagged": recall, "retain_flagged": false_alarms}
        if recall < 1 or false_alarms > 0.05:
            warnings.warn(f"eco: the prompt classifier flags {recall:.0%} of the forget prompts and {false_alarms:.0%} "
                          "of the retain prompts it learned from: forget prompts will slip through or retain "
                          "answers will be corrupted", stacklevel=2)

    def run(self, model, tokenizer, forget, retain, generator):
        from obliviate.lm.attacks import answer_prob

        if self.strength:
            return []
        asked = [qa for qa in self.forget_qas if qa.question][:SEARCHED]
        if not asked:
            raise ValueError("eco: raw-text forget data has no questions to search the noise strength on: "
                             "give strength=σ (or target=p)" if self.target < 0 else
                             "eco: the strength search scores forget questions; raw text has none: give strength=σ")
        if self.target < 0:
            shifted = [QA(other.question, qa.answer) for qa, other in zip(asked, asked[1:] + asked[:1])]
            self.target = answer_prob(model, tokenizer, shifted) if len(asked) > 1 else 0.0
        trace: list[float] = []

        def forget_prob(sigma: float) -> float:
            self.strength = sigma
            trace.append(answer_prob(self.wrap(model, tokenizer), tokenizer, asked))
            return trace[-1]

        low, high = 0.0, float(model.get_input_embeddings().weight.detach().float().std())
        tried = {high: forget_prob(high)}
        while tried[high] > self.target and len(tried) < 16:
            low, high = high, high * 2
            tried[high] = forget_prob(high)
        if tried[high] > self.target:
            self.strength = min(tried, key=tried.get)
            warnings.warn(f"eco: no noise strength up to σ={high:.3g} brings the forget answers' probability down to "
                          f"{self.target:.3f}; using σ={self.strength:.3g} ({tried[self.strength]:.3f}): the "
                          "model did not forget", stacklevel=2)
            return [trace]
        for _ in range(6):
            middle = math.sqrt(low * high) if low else high / 2
            tried[middle] = forget_prob(middle)
            low, high = (low, middle) if tried[middle] <= self.target else (middle, high)
        self.strength = high
        return [trace]

    def wrap(self, model, tokenizer):
        settings = {"dims": self.dims, "strength": self.strength, "seed": self.seed, "marker": self.marker}
        return EmbeddingCorruptedLM(model, tokenizer, settings, self.classifier)
