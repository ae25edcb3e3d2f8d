"""Attacks that test whether a language model's forgotten knowledge is gone or only
hidden, each scored on the forget facts (and, for the neighbours, on what must
survive). Compare every number with the retain-only model's under the same attack.

- relearning on part of the forget set and on *unrelated* data (Hu et al., "Unlearning
  or Obfuscating? Jogging the Memory of Unlearned LLMs via Benign Relearning", ICLR
  2025: fine-tuning on data unrelated to the forget set can bring it back);
- in-context prompting: forget questions with answered forget examples before them
  (Doshi & Stickland, "Does Unlearning Truly Unlearn? A Black Box Evaluation of LLM
  Unlearning Methods", 2024);
- weight quantization: round-to-nearest 8- and 4-bit weights (Zhang et al., "Catastrophic
  Failure of LLM Unlearning via Quantization", ICLR 2025: an unlearned model's small
  weight changes can round away);
- the RWKU-style probes of :mod:`obliviate.lm.probes` (reworded, fill-in-the-blank,
  multiple choice, adversarial, neighbours).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from obliviate.lm import metrics as M
from obliviate.lm.corpus import QA, LMSplit
from obliviate.lm.probes import Blank, Choice, ProbeSet


@torch.no_grad()
def quantized(model: nn.Module, bits: int) -> nn.Module:
    """A copy of ``model`` whose linear-layer weight matrices (``nn.Linear`` and GPT-2's
    ``Conv1D``; not the embeddings, not a tied output head) are rounded to ``bits``-bit
    integers: symmetric round-to-nearest per output channel, scale = max|w| / (2^(bits−1) − 1),
    stored back dequantised in the model's dtype."""
    if not 2 <= bits <= 16:
        raise ValueError(f"quantization bits must be in 2..16, got {bits}")
    from transformers.pytorch_utils import Conv1D

    out = copy.deepcopy(model)
    levels = 2 ** (bits - 1) - 1
    head = out.get_output_embeddings() if hasattr(out, "get_output_embeddings") else None
    for module in out.modules():
        if module is head or not isinstance(module, (nn.Linear, Conv1D)):
            continue
        weight = module.weight
        # the output channel is dim 0 of nn.Linear's (out, in) weight and dim 1 of Conv1D's (in, out)
        channel_dim = 1 if isinstance(module, Conv1D) else 0
        reduce = 1 - channel_dim
        scale = weight.abs().amax(dim=reduce, keepdim=True).float() / levels
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        weight.copy_((torch.round(weight.float() / scale).clamp(-levels, levels) * scale).to(weight.dtype))
    return out


def answer_prob(model, tokenizer, qas: Sequence[QA]) -> float:
    """Mean per-token answer probability exp(−ℓ̄) (TOFU's), in [0, 1]."""
    from obliviate.lm.evaluate import score

    return float(M.answer_probability(score(model, tokenizer, qas).avg_nll).mean())


def fill_in_blank_prob(model, tokenizer, blanks: Sequence[Blank]) -> float:
    """Mean over blanks of the fact's per-token probability after the question and the
    answer's start: the geometric mean of the probabilities of the tokens that "prefix
    fact" has beyond "prefix" (the end-of-sequence token left out)."""
    from obliviate.lm.evaluate import score

    full = score(model, tokenizer, [QA(b.question, f"{b.prefix} {b.fact}") for b in blanks], details=True)
    start = score(model, tokenizer, [QA(b.question, b.prefix) for b in blanks], details=True)
    probs = []
    for with_fact, without in zip(full.token_logprobs, start.token_logprobs):
        fact = with_fact[len(without):]
        probs.append(float(np.exp(fact.mean())) if len(fact) else float("nan"))
    return float(np.nanmean(probs))


def multiple_choice_accuracy(model, tokenizer, choices: Sequence[Choice]) -> float:
    """The share of questions whose true answer sentence has the lowest mean token NLL
    among the options (chance: 1 / options); a tie for the lowest counts 1 / (options
    tied), so a model that scores every option alike is at chance, not credited for
    the true option's place in the list."""
    from obliviate.lm.evaluate import score

    flat = [QA(c.question, option) for c in choices for option in c.options]
    nll = score(model, tokenizer, flat).avg_nll
    right, at = 0, 0
    for c in choices:
        group = np.asarray(nll[at:at + len(c.options)])
        best = np.isclose(group, group.min(), rtol=1e-6, atol=1e-6)  # float rounding is not a preference
        right += float(best[0]) / int(best.sum())
        at += len(c.options)
    return right / len(choices)


def in_context(qas: Sequence[QA], demonstrations: Sequence[QA], shots: int = 1) -> list[QA]:
    """Each question preceded by ``shots`` answered demonstrations (rotating through
    ``demonstrations``), in the plain prompt format of the corpus."""
    out = []
    for i, qa in enumerate(qas):
        shown = [demonstrations[(i + j) % len(demonstrations)] for j in range(shots)]
        context = "".join(f"{d.question}\nAnswer: {d.answer}\nQuestion: " for d in shown)
        out.append(QA(context + qa.question, qa.answer, person=qa.person, key=qa.key))
    return out


def robust_scores(model, tokenizer, split: LMSplit, probes: ProbeSet, seed: int = 0,
                  leak_samples: int = 10) -> dict[str, float]:
    """The forget facts' score under every attack (answer probability in [0, 1] unless
    said): ``plain_prob``; ``reworded_prob``; ``blank_prob``; ``choice_acc``
    (multiple-choice accuracy); ``adversarial_prob``; ``incontext_prob`` (one answered
    forget question of the first half before each question of the second half);
    ``relearn_forget_prob`` (fine-tuned on the first half, scored on the second) and
    ``relearn_unrelated_prob`` (fine-tuned on as many retained questions of other people,
    scored on the second half); ``quant8_prob`` and ``quant4_prob``; ``leak_at_5``
    (a sample of 5 at temperature 1 names the fact); ``neighbour_prob`` (retained
    facts shared with the forget people: higher is better, unlike every other key)."""
    from obliviate.lm.text import format_for, model_context, use_format

    fmt = format_for(tokenizer, getattr(model, "base", model))
    # a long in-context prompt is cut to the context this model leaves it (a soft prompt takes some)
    room = min(fmt.max_length, model_context(model) or fmt.max_length)
    use_format(tokenizer, dataclasses.replace(fmt, max_length=room))
    try:
        return _robust_scores(model, tokenizer, split, probes, seed, leak_samples)
    finally:
        use_format(tokenizer, fmt)


def _robust_scores(model, tokenizer, split: LMSplit, probes: ProbeSet, seed: int, leak_samples: int) -> dict[str, float]:
    from obliviate.lm.evaluate import generate, relearned

    half = len(split.forget) // 2
    taught, probed = split.forget[:half], split.forget[half:]
    if not taught or not probed:
        raise ValueError("the robust suite needs at least two forget examples")
    out = {"plain_prob": answer_prob(model, tokenizer, split.forget),
           "reworded_prob": answer_prob(model, tokenizer, probes.reworded),
           "blank_prob": fill_in_blank_prob(model, tokenizer, probes.blanks),
           "choice_acc": multiple_choice_accuracy(model, tokenizer, probes.choices),
           "adversarial_prob": answer_prob(model, tokenizer, probes.adversarial),
           "incontext_prob": answer_prob(model, tokenizer, in_context(probed, taught))}
    out["relearn_forget_prob"] = answer_prob(relearned(model, tokenizer, taught, seed=seed), tokenizer, probed)
    eval_questions = {qa.question for qa in split.retain_eval}
    unrelated = [qa for qa in split.retain if qa.person and qa.question not in eval_questions][:len(taught)]
    out["relearn_unrelated_prob"] = answer_prob(relearned(model, tokenizer, unrelated, seed=seed), tokenizer, probed)
    for bits in (8, 4):
        out[f"quant{bits}_prob"] = answer_prob(quantized(model, bits), tokenizer, split.forget)
    samples = generate(model, tokenizer, [qa.question for qa in split.forget], samples=leak_samples, seed=seed)
    out["leak_at_5"] = float(np.mean([M.leak_at_k(leak_samples, sum(M.leaks(s, qa.key or qa.answer) for s in group), 5)
                                      for group, qa in zip(samples, split.forget)]))
    out["neighbour_prob"] = answer_prob(model, tokenizer, probes.neighbours) if probes.neighbours else float("nan")
    return out
