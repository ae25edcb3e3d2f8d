"""Evaluate a causal LM on a TOFU-style split: the model-side computations (losses,
generations, samples) feeding the pure functions of :mod:`obliviate.lm.metrics`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from obliviate.lm import metrics as M
from obliviate.lm.corpus import QA, LMSplit
from obliviate.lm.text import Example, answer_text, encode_all, model_context, on_device, pad, prompt_ids

IGNORE = -100


@dataclass
class Scores:
    """Per-example statistics of a model on a list of QA pairs."""

    avg_nll: np.ndarray
    token_logprobs: list[np.ndarray] = field(default_factory=list)
    token_means: list[np.ndarray] = field(default_factory=list)
    token_stds: list[np.ndarray] = field(default_factory=list)
    predicted: list[np.ndarray] = field(default_factory=list)
    target: list[np.ndarray] = field(default_factory=list)


@torch.no_grad()
def score(model, tokenizer, qas: Sequence[QA], answers: Sequence[str] | None = None,
          batch_size: int = 64, details: bool = False, drop_last_label: bool = True) -> Scores:
    """Mean answer-token NLL of each example (and, with ``details``, the per-token
    log-probs, the mean/std of log p under the model's next-token distribution, and
    teacher-forced argmax vs target tokens).

    Positions, as OpenUnlearning's: the mean NLL (probability, truth ratio, LOSS and
    ZLib attacks) covers every labelled token, the end-of-sequence token included; the
    per-token details (Min-K%, Min-K%++, exact memorisation, extraction strength) leave
    out the last labelled token (its ``tokenwise_logprobs``: "ignore eos prediction"),
    which for a QA pair is the EOS. ``drop_last_label=False`` keeps it.

    Under ``torchrun`` / ``accelerate launch`` (an initialised process group) each
    process scores every world-size-th example and the results are gathered, so
    every process returns the whole, identical :class:`Scores`."""
    model.eval()
    examples = encode_all(tokenizer, qas, "scored examples", answers)
    rank, world = _rank_and_world()
    mine = list(range(rank, len(examples), world))
    rows: dict[int, tuple] = {}
    for start in range(0, len(mine), batch_size):
        ids = mine[start:start + batch_size]
        batch = on_device(pad([examples[i] for i in ids], tokenizer.pad_token_id), model)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        logits, targets = logits[:, :-1], batch["labels"][:, 1:]
        mask = targets != IGNORE
        logp = F.log_softmax(logits, dim=-1)
        token_lp = logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        nll = (-(token_lp * mask).sum(1) / mask.sum(1)).cpu().numpy()
        if details:
            probs = logp.exp()
            mean = (probs * logp).sum(-1)
            std = ((probs * logp.pow(2)).sum(-1) - mean.pow(2)).clamp_min(0).sqrt()
            argmax = logits.argmax(-1)
            # per-example arrays for the NumPy metrics: one transfer per batch
            token_lp, mean, std, argmax, targets, mask = (t.cpu() for t in (token_lp, mean, std, argmax, targets, mask))
        for j, i in enumerate(ids):
            m = mask[j].clone()
            if drop_last_label and details and m.any():
                m[m.nonzero()[-1]] = False
            extra = tuple(t[j][m].numpy() for t in (token_lp, mean, std, argmax, targets)) if details else ()
            rows[i] = (float(nll[j]), *extra)
    if world > 1:
        gathered: list = [None] * world
        torch.distributed.all_gather_object(gathered, rows)
        rows = {i: r for part in gathered for i, r in part.items()}
    out = Scores(np.array([rows[i][0] for i in range(len(examples))], dtype=np.float64))
    if details:
        for i in range(len(examples)):
            for field_, value in zip(("token_logprobs", "token_means", "token_stds", "predicted", "target"), rows[i][1:]):
                getattr(out, field_).append(value)
    return out


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


ROUGE_MAX_NEW_TOKENS = 200  # greedy answers for ROUGE: OpenUnlearning's generation budget


@torch.no_grad()
def generate(model, tokenizer, questions: Sequence[str], max_new_tokens: int = 32, samples: int = 0,
             temperature: float = 1.0, seed: int = 0, batch_size: int = 64) -> list[list[str]]:
    """Greedy answers (``samples`` = 0, one per question) or ``samples`` answers per
    question sampled at ``temperature``; returns a list of answers per question."""
    model.eval()
    torch.manual_seed(seed)
    answers: list[list[str]] = []
    for start in range(0, len(questions), batch_size):
        asked = [prompt_ids(tokenizer, q) for q in questions[start:start + batch_size]]
        enc = pad([Example(ids, ids) for ids in asked], tokenizer.pad_token_id, side="left")
        enc = on_device({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, model)
        budget = _generation_budget(model, enc["input_ids"].shape[1], max_new_tokens)
        kwargs = dict(max_new_tokens=budget, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id)
        if samples:
            kwargs.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                          num_return_sequences=samples)
        else:
            kwargs.update(do_sample=False)
        out = model.generate(**enc, **kwargs)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        per = max(samples, 1)
        answers += [[t.strip() for t in texts[i:i + per]] for i in range(0, len(texts), per)]
    return answers


def _generation_budget(model, prompt_tokens: int, max_new_tokens: int) -> int:
    """``max_new_tokens``, cut so that prompt and answer fit the model's context (a
    position past it has no embedding)."""
    config = getattr(model, "config", None)
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if context is None:
        return max_new_tokens
    if prompt_tokens >= context:
        raise ValueError(f"a prompt of {prompt_tokens} tokens leaves no room to generate in the model's "
                         f"context of {context} tokens")
    return min(max_new_tokens, context - prompt_tokens)


def truth_ratios(model, tokenizer, qas: Sequence[QA], against: str = "paraphrase") -> np.ndarray:
    """Truth ratio of every QA pair with perturbed answers, comparing them with the
    paraphrase (TOFU) or, with ``against="answer"``, with the answer itself."""
    correct = (lambda qa: qa.paraphrase) if against == "paraphrase" else (lambda qa: qa.answer)
    usable = [qa for qa in qas if correct(qa) and qa.perturbed]
    if not usable:
        return np.zeros(0)
    para = score(model, tokenizer, usable, [correct(qa) for qa in usable]).avg_nll
    k = min(len(qa.perturbed) for qa in usable)
    pert = np.stack([score(model, tokenizer, usable, [qa.perturbed[j] for qa in usable]).avg_nll for j in range(k)], 1)
    return M.truth_ratio(para, pert)


def quality_block(model, tokenizer, qas: Sequence[QA], on_forget_set: bool, against: str,
                  over_options: bool = False) -> dict[str, float]:
    """Answer probability, ROUGE-L recall of greedy answers, and truth-ratio score (the
    forget set's per-token details are kept for the membership attacks). With
    ``over_options`` (TOFU's real-authors and world-facts sets) the probability is
    normalised over the answer and its perturbed (wrong) options, and (as
    OpenUnlearning's ``ra_`` / ``wf_Truth_Ratio``) the truth ratio compares the
    perturbed options with the answer itself, whatever ``against`` says."""
    if over_options:
        against = "answer"
    s = score(model, tokenizer, qas, details=on_forget_set)
    greedy = generate(model, tokenizer, [qa.question for qa in qas], max_new_tokens=ROUGE_MAX_NEW_TOKENS)
    rouge = np.mean([M.rouge_l_recall(g[0], qa.answer) for g, qa in zip(greedy, qas)])
    ratios = truth_ratios(model, tokenizer, qas, against)
    prob = M.answer_probability(s.avg_nll)
    if over_options and qas and all(qa.perturbed for qa in qas):
        k = min(len(qa.perturbed) for qa in qas)
        wrong = np.stack([score(model, tokenizer, qas, [qa.perturbed[j] for qa in qas]).avg_nll for j in range(k)], 1)
        prob = M.option_probability(s.avg_nll, wrong)
    return {"prob": float(prob.mean()), "rouge": float(rouge),
            "truth_ratio": M.truth_ratio_score(ratios, on_forget_set) if len(ratios) else float("nan"),
            "_ratios": ratios, "_greedy": [g[0] for g in greedy], "_scores": s}


def evaluate_lm(model, tokenizer, split: LMSplit, reference: dict | None = None,
                leak_samples: int = 10, leak_k: int = 5, seed: int = 0,
                truth_ratio_against: str = "paraphrase", relearn: bool = False) -> dict:
    """TOFU / MUSE metrics of ``model`` on ``split``.

    Keys: ``forget_prob``, ``forget_rouge``, ``forget_truth_ratio`` (min(R, 1/R)),
    ``retain_*``, ``real_authors_*`` and ``general_*`` (TOFU's utility sets: retain,
    real authors, world facts; the last two with probabilities normalised over the
    answer options), ``model_utility`` (TOFU's harmonic mean of the 9 values; of the 6
    of retain and world facts when the split has no real-authors set, with a warning),
    ``mia_{loss,zlib,mink,minkpp}_auc``
    (forget = member vs holdout = non-member; 0.5 ideal), ``exact_memorization`` and
    ``extraction_strength`` (forget set), ``leak_at_1`` and ``leak_at_{k}`` (sampled at
    temperature 1; judge: the answer's key fact appears in the sample).
    With ``reference`` (the retain-only model's own ``evaluate_lm`` dict):
    ``forget_quality`` and ``log10_forget_quality``, ``privleak``, ``mia_reference_auc``.
    Keys starting with ``_`` hold per-example arrays for later comparisons.
    ``truth_ratio_against``: "paraphrase" (TOFU) or "answer" (see the corpus docstring).
    ``relearn``: also run :func:`relearn_attack` (``relearn_prob``, ``relearn_rouge``).
    """
    check_disjoint(split)
    against = truth_ratio_against
    forget = quality_block(model, tokenizer, split.forget, on_forget_set=True, against=against)
    retain = quality_block(model, tokenizer, split.retain_eval, on_forget_set=False, against=against)
    blocks = {"forget": forget, "retain": retain}
    if split.real_authors:
        blocks["real_authors"] = quality_block(model, tokenizer, split.real_authors, on_forget_set=False,
                                               against=against, over_options=True)
    else:
        warnings.warn("the split has no real-authors set: model utility is the harmonic mean of 6 values "
                      "(retain, world facts), not TOFU's 9", stacklevel=2)
    blocks["general"] = quality_block(model, tokenizer, split.general, on_forget_set=False, against=against,
                                      over_options=True)
    out: dict = {}
    for name, block in blocks.items():
        for key in ("prob", "rouge", "truth_ratio"):
            out[f"{name}_{key}"] = block[key]
    out["model_utility"] = M.harmonic_mean([block[k] for name, block in blocks.items() if name != "forget"
                                            for k in ("prob", "rouge", "truth_ratio")])
    f = forget["_scores"]
    h = score(model, tokenizer, split.holdout, details=True)
    texts = lambda qas: [answer_text(tokenizer, qa) for qa in qas]  # noqa: E731  (ZLib: the decoded answer, as OpenUnlearning)
    mink = lambda s: [M.min_k_score(lp) for lp in s.token_logprobs]  # noqa: E731
    minkpp = lambda s: [M.min_k_plus_plus_score(lp, mu, sd) for lp, mu, sd in  # noqa: E731
                        zip(s.token_logprobs, s.token_means, s.token_stds)]
    out["mia_loss_auc"] = M.mia_auc(M.loss_score(f.avg_nll), M.loss_score(h.avg_nll))
    out["mia_zlib_auc"] = M.mia_auc(M.zlib_score(f.avg_nll, texts(split.forget)), M.zlib_score(h.avg_nll, texts(split.holdout)))
    out["mia_mink_auc"] = M.mia_auc(mink(f), mink(h))
    out["mia_minkpp_auc"] = M.mia_auc(minkpp(f), minkpp(h))
    out["exact_memorization"] = float(np.mean([M.exact_memorization(p, t) for p, t in zip(f.predicted, f.target)]))
    out["extraction_strength"] = float(np.mean([M.extraction_strength(p, t) for p, t in zip(f.predicted, f.target)]))
    samples = generate(model, tokenizer, [qa.question for qa in split.forget], samples=leak_samples, seed=seed)
    leaked = [sum(M.leaks(s, qa.key or qa.answer) for s in group) for group, qa in zip(samples, split.forget)]
    out["leak_at_1"] = float(np.mean([M.leak_at_k(leak_samples, c, 1) for c in leaked]))
    out[f"leak_at_{leak_k}"] = float(np.mean([M.leak_at_k(leak_samples, c, leak_k) for c in leaked]))
    out["_forget_truth_ratios"] = forget["_ratios"]
    out["_forget_avg_nll"], out["_holdout_avg_nll"] = f.avg_nll, h.avg_nll
    out["_forget_greedy"] = forget["_greedy"]
    if split.forget_documents:
        out["verbmem_f"] = verbatim_memorisation(model, tokenizer, split.forget_documents)
    if relearn:
        out.update(relearn_attack(model, tokenizer, split, seed=seed))
    if reference is not None:
        if len(reference["_forget_truth_ratios"]) != len(split.forget):
            raise ValueError(f"the retain model's logs hold {len(reference['_forget_truth_ratios'])} forget truth "
                             f"ratios, the forget set has {len(split.forget)} questions: logs of another split?")
        quality = M.forget_quality(forget["_ratios"], reference["_forget_truth_ratios"])
        out["forget_quality"] = quality
        out["log10_forget_quality"] = float(np.log10(max(quality, 1e-300)))
        out["privleak"] = M.privleak(1 - out["mia_mink_auc"], 1 - reference["mia_mink_auc"])
        if "_forget_avg_nll" in reference:  # not in OpenUnlearning's retain logs
            out["mia_reference_auc"] = M.mia_auc(M.reference_score(f.avg_nll, reference["_forget_avg_nll"]),
                                                 M.reference_score(h.avg_nll, reference["_holdout_avg_nll"]))
        else:
            warnings.warn("the retain-model logs hold no per-example NLLs: mia_reference_auc is not computed",
                          stacklevel=2)
    return out


def retain_logs(scores: dict) -> dict:
    """What forget quality and PrivLeak need from a retain model's ``evaluate_lm`` dict,
    in OpenUnlearning's retain-log layout (``TOFU_EVAL.json``: ``forget_truth_ratio``
    with ``value_by_index`` scores, ``mia_min_k`` with its ``agg_value``), so either
    tool's logs serve the other; obliviate's per-example NLLs (for the Reference
    attack) go under ``obliviate``."""
    ratios = [float(r) for r in scores["_forget_truth_ratios"]]
    return {"forget_truth_ratio": {"agg_value": float(np.mean(ratios)),
                                   "value_by_index": {str(i): {"score": r} for i, r in enumerate(ratios)}},
            "mia_min_k": {"agg_value": float(scores["mia_mink_auc"])},
            "obliviate": {"forget_avg_nll": [float(v) for v in scores["_forget_avg_nll"]],
                          "holdout_avg_nll": [float(v) for v in scores["_holdout_avg_nll"]]}}


def read_retain_logs(path) -> dict:
    """A ``reference`` for :func:`evaluate_lm` from retain-model logs (ours, or
    OpenUnlearning's ``TOFU_EVAL.json`` of a retain model)."""
    import json
    from pathlib import Path

    path = Path(path)
    try:
        logs = json.loads(path.read_text())
        ratios = [v["score"] for v in logs["forget_truth_ratio"]["value_by_index"].values()]
        reference = {"_forget_truth_ratios": np.array(ratios, dtype=float),
                     "mia_mink_auc": float(logs["mia_min_k"]["agg_value"])}
    except FileNotFoundError:
        raise ValueError(f"retain logs {str(path)!r} do not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} is not a retain-model log (needs forget_truth_ratio.value_by_index and "
                         f"mia_min_k.agg_value): {type(err).__name__} {err}") from None
    extra = logs.get("obliviate", {})
    if "forget_avg_nll" in extra:
        reference["_forget_avg_nll"] = np.array(extra["forget_avg_nll"], dtype=float)
        reference["_holdout_avg_nll"] = np.array(extra["holdout_avg_nll"], dtype=float)
    return reference


def relearned(model, tokenizer, taught: Sequence[QA], epochs: int = 3, lr: float = 1e-3, seed: int = 0):
    """A copy of ``model`` fine-tuned on ``taught`` (the relearning attack's step)."""
    import copy

    from obliviate.lm.models import LMRecipe, fit
    from obliviate.lm.text import encode_qa

    attacked = copy.deepcopy(model)
    fit(attacked, tokenizer, [encode_qa(tokenizer, qa) for qa in taught],
        LMRecipe(epochs=epochs, lr=lr, batch_size=8, warmup_ratio=0.0), seed, device=next(model.parameters()).device)
    return attacked


def relearn_attack(model, tokenizer, split: LMSplit, epochs: int = 3, lr: float = 1e-3, seed: int = 0) -> dict:
    """Relearning attack (Hu et al. 2024; Lynch et al. 2024): fine-tune a copy of the
    model for a few epochs on the first half of the forget QA pairs, then measure answer
    probability and greedy ROUGE on the *other* half. A model that only hid the
    knowledge gets it back; compare with the retain-only model doing the same."""
    half = len(split.forget) // 2
    taught, probe = split.forget[:half], split.forget[half:]
    if not taught or not probe:
        raise ValueError("the relearning attack needs at least two forget examples")
    attacked = relearned(model, tokenizer, taught, epochs=epochs, lr=lr, seed=seed)
    greedy = generate(attacked, tokenizer, [qa.question for qa in probe])
    return {"relearn_prob": float(M.answer_probability(score(attacked, tokenizer, probe).avg_nll).mean()),
            "relearn_rouge": float(np.mean([M.rouge_l_recall(g[0], qa.answer) for g, qa in zip(greedy, probe)]))}


@torch.no_grad()
def continue_greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """Greedy continuation of ``prompt`` (special tokens as the tokenizer adds them),
    within the model's context: a model whose context cannot hold the prompt and
    ``max_new_tokens`` generates fewer and sees the prompt's end."""
    ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    context = model_context(model)
    if context is not None and len(ids) + max_new_tokens > context:  # a small model: fewer new tokens, then a cut
        warnings.warn(f"a MUSE prompt of {len(ids)} tokens and {max_new_tokens} new ones exceed the model's context "
                      f"of {context}: fewer new tokens, the prompt's start cut", stacklevel=2)
        max_new_tokens = min(max_new_tokens, context - 1)
        ids = ids[-(context - max_new_tokens):]
    device = next(model.parameters()).device
    out = model.generate(torch.tensor([ids], device=device), attention_mask=torch.ones(1, len(ids), device=device,
                         dtype=torch.long), max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, len(ids):], skip_special_tokens=True, clean_up_tokenization_spaces=True)


def verbatim_memorisation(model, tokenizer, documents: Sequence[QA], prompt_tokens: int = 32,
                          new_tokens: int = 32) -> float:
    """MUSE's VerbMem on raw-text documents: the model continues each document's first
    ``prompt_tokens`` tokens greedily for ``new_tokens`` tokens; the score is the mean
    ROUGE-L F1 against the document's true next ``new_tokens`` tokens (MUSE: 128-token
    continuations of its prompts, ROUGE-L F1; ours are shorter for tofu-mini's 96-token
    context). In [0, 1]; on the forget documents lower is better, toward the retain-only
    model's. Documents shorter than ``prompt_tokens`` + 1 tokens are refused."""
    scores = []
    for doc in documents:
        ids = tokenizer(doc.answer, add_special_tokens=False)["input_ids"]
        if len(ids) <= prompt_tokens:
            raise ValueError(f"a document of {len(ids)} tokens is too short for a {prompt_tokens}-token VerbMem prompt")
        prompt = tokenizer.decode(ids[:prompt_tokens])
        truth = tokenizer.decode(ids[prompt_tokens:prompt_tokens + new_tokens], skip_special_tokens=True)
        scores.append(M.rouge_l_f1(continue_greedy(model, tokenizer, prompt, new_tokens), truth))
    return float(np.mean(scores))


def check_disjoint(split: LMSplit) -> None:
    """Membership inference needs held-out examples that were never trained or forgotten."""
    forget = {(qa.question, qa.answer) for qa in split.forget}
    shared = [qa.question or qa.answer[:40] for qa in split.holdout if (qa.question, qa.answer) in forget]
    if shared:
        raise ValueError(f"the forget set and the holdout set overlap ({len(shared)} examples, e.g. {shared[0]!r}): "
                         "membership inference needs disjoint sets")


def public(scores: dict) -> dict:
    """The scalar metrics of an ``evaluate_lm`` dict (without the per-example arrays)."""
    return {k: v for k, v in scores.items() if not k.startswith("_")}
