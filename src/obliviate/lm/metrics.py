"""Metrics of the language-model track (TOFU, MUSE, OpenUnlearning definitions), as pure
functions of per-example numbers and strings. ``obliviate.lm.evaluate`` computes
those numbers from a model.

Conventions: ℓ̄ is the mean answer-token NLL; a membership "score" is higher when
an example looks more like training data.
"""

from __future__ import annotations

import math
import re
import string
import zlib
from typing import Sequence

import numpy as np


def answer_probability(avg_nll: Sequence[float]) -> np.ndarray:
    """TOFU's probability of the answer, normalised per token: exp(−ℓ̄). Higher = the
    model knows the answer better (on the forget set, the target is the retain-only
    model's value)."""
    return np.exp(-np.asarray(avg_nll, dtype=float))


def option_probability(correct_avg_nll: Sequence[float], wrong_avg_nll: Sequence[Sequence[float]]) -> np.ndarray:
    """Answer probability normalised over the answer options, as TOFU / OpenUnlearning
    score the real-authors and world-facts sets: p_correct / (p_correct + Σ p_wrong),
    each p = exp(−ℓ̄) (per-token); higher is better. ``wrong_avg_nll``: one row of the
    wrong options' ℓ̄ per question."""
    correct = np.exp(-np.asarray(correct_avg_nll, dtype=float))
    wrong = np.exp(-np.asarray(wrong_avg_nll, dtype=float)).sum(axis=1)
    return correct / (correct + wrong)


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall of a generated answer against the true one (Lin 2004; TOFU uses
    the recall of greedy generations). In [0, 1]; higher = more of the answer reproduced."""
    return _scorer().score(reference, prediction)["rougeL"].recall


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of a generation against the reference (MUSE's VerbMem and KnowMem:
    ``rouge_score``'s ``rougeL`` fmeasure, no stemming). In [0, 1]."""
    return _scorer().score(reference, prediction)["rougeL"].fmeasure


_SCORER = None


def _scorer():
    global _SCORER
    if _SCORER is None:
        from rouge_score import rouge_scorer

        _SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return _SCORER


def truth_ratio(paraphrase_avg_nll: Sequence[float], perturbed_avg_nll: Sequence[Sequence[float]]) -> np.ndarray:
    """TOFU's truth ratio R = p̃_pert / p̃_para per question, p̃ = exp(−ℓ̄) and p̃_pert the
    geometric mean over the perturbed (wrong) answers: R = exp(ℓ̄_para − mean ℓ̄_pert).
    R < 1: the model prefers the correct paraphrase; R ≈ 1: it cannot tell."""
    para = np.asarray(paraphrase_avg_nll, dtype=float)
    pert = np.asarray(perturbed_avg_nll, dtype=float)
    return np.exp(para - pert.mean(axis=1))


def truth_ratio_score(ratios: Sequence[float], on_forget_set: bool) -> float:
    """TOFU's aggregate: mean(min(R, 1/R)) on the forget set (1 = cannot tell right from
    wrong, the retain-only model's behaviour), mean(max(0, 1 − R)) elsewhere (higher =
    prefers the truth)."""
    r = np.asarray(ratios, dtype=float)
    if on_forget_set:
        return float(np.mean(np.minimum(r, 1 / r)))
    return float(np.mean(np.maximum(0.0, 1 - r)))


def forget_quality(unlearned_ratios: Sequence[float], retain_model_ratios: Sequence[float]) -> float:
    """TOFU's forget quality: the p-value of the two-sample Kolmogorov–Smirnov test
    between the forget-set truth ratios of the unlearned model and of the model trained
    without the forget set. In (0, 1]; higher = indistinguishable from the retain-only
    model. It spans hundreds of orders of magnitude: report log10 too."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(unlearned_ratios), np.asarray(retain_model_ratios)).pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """TOFU's model utility aggregates (probability, ROUGE, truth ratio on each utility
    set) with the harmonic mean; 0 if any value is 0. Higher is better."""
    v = np.asarray(values, dtype=float)
    if np.any(v <= 0):
        return 0.0
    return float(len(v) / np.sum(1.0 / v))


def mia_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """AUC of a membership attack: the probability that a member (forget example) scores
    higher than a non-member (holdout example). 0.5 = cannot tell (a model that never
    saw the forget set); 1 = the forget set is still recognisably training data."""
    from sklearn.metrics import roc_auc_score

    m, n = np.asarray(member_scores, dtype=float), np.asarray(nonmember_scores, dtype=float)
    labels = np.r_[np.ones(len(m)), np.zeros(len(n))]
    return float(roc_auc_score(labels, np.r_[m, n]))


def loss_score(avg_nll: Sequence[float]) -> np.ndarray:
    """LOSS attack (Yeom et al. 2018): −ℓ̄."""
    return -np.asarray(avg_nll, dtype=float)


def zlib_score(avg_nll: Sequence[float], texts: Sequence[str]) -> np.ndarray:
    """ZLib attack (Carlini et al. 2021): −ℓ̄ / zlib-compressed length of the text (bytes);
    higher = more likely a member. As OpenUnlearning, ``texts`` are the answers whose
    loss ℓ̄ is (not prompt + answer)."""
    lengths = np.array([len(zlib.compress(t.encode("utf-8"))) for t in texts], dtype=float)
    return -np.asarray(avg_nll, dtype=float) / lengths


def min_k_score(token_logprobs: Sequence[float], k: float = 0.4) -> float:
    """Min-K% Prob (Shi et al., ICLR 2024): mean of the n_k lowest of n token log-probs,
    n_k = max(1, floor(k·n)) as MUSE and OpenUnlearning count (rounding down: 6 tokens
    at k = 0.4 use 2, not 3); higher = more likely a member."""
    lp = np.sort(np.asarray(token_logprobs, dtype=float))
    n = max(1, int(math.floor(k * len(lp))))
    return float(lp[:n].mean())


def min_k_plus_plus_score(token_logprobs: Sequence[float], means: Sequence[float], stds: Sequence[float],
                          k: float = 0.4) -> float:
    """Min-K%++ (Zhang et al., 2024): Min-K% on z-scores (log p(x_t) − μ_t)/σ_t, with μ_t, σ_t
    the mean and standard deviation of log p over the model's next-token distribution;
    σ_t² is clamped at 1e-6 (σ_t ≥ 1e-3), as OpenUnlearning does."""
    variance = np.maximum(np.asarray(stds, dtype=float) ** 2, 1e-6)
    z = (np.asarray(token_logprobs, dtype=float) - np.asarray(means, dtype=float)) / np.sqrt(variance)
    return min_k_score(z, k)


def reference_score(avg_nll: Sequence[float], reference_avg_nll: Sequence[float]) -> np.ndarray:
    """Reference attack (Carlini et al. 2021): −(ℓ̄ − ℓ̄_ref), the loss relative to a
    reference model's."""
    return -(np.asarray(avg_nll, dtype=float) - np.asarray(reference_avg_nll, dtype=float))


def privleak(auc_unlearned: float, auc_retrained: float) -> float:
    """MUSE's PrivLeak = (AUC_u − AUC_r) / AUC_r × 100, where both AUCs follow MUSE's
    convention: the Min-K% attack with *held-out* data labelled positive, i.e.
    1 − :func:`mia_auc`. A model that still remembers the forget set has AUC near 0
    and PrivLeak near −100; ideal 0; positive means it over-forgot. Shi et al., "MUSE", 2024."""
    return (auc_unlearned - auc_retrained) / auc_retrained * 100.0


def exact_memorization(predicted: Sequence[int], target: Sequence[int]) -> float:
    """Share of answer tokens whose teacher-forced argmax prediction is the true token
    (Tirumala et al. 2022). In [0, 1]; lower = less memorised."""
    p, t = np.asarray(predicted), np.asarray(target)
    return float((p == t).mean()) if len(t) else float("nan")


def extraction_strength(predicted: Sequence[int], target: Sequence[int],
                        convention: str = "openunlearning") -> float:
    """1 − k*/|y|, with k* the first position from which every remaining teacher-forced
    argmax token matches the answer (Carlini et al. 2021; OpenUnlearning). Higher = more
    of the answer is extractable from a prefix of itself; 1 = all of it.

    ``convention``: "openunlearning" (default, what published numbers use) searches k*
    in 0..|y|−1 only, so an answer whose last token is not matched still scores 1/|y|;
    "paper" lets k* = |y| there, scoring 0."""
    if convention not in ("openunlearning", "paper"):
        raise ValueError(f"unknown extraction-strength convention {convention!r}: use 'openunlearning' or 'paper'")
    p, t = np.asarray(predicted), np.asarray(target)
    n = len(t)
    if not n:
        return float("nan")
    k = n
    while k > 0 and p[k - 1] == t[k - 1]:
        k -= 1
    if convention == "openunlearning":
        k = min(k, n - 1)
    return 1.0 - k / n


def leak_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Leak@k from n samples of which c leak: 1 − C(n−c, k)/C(n, k), the
    probability that at least one of k samples leaks (as pass@k, Chen et al. 2021)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"leak_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces: what the leak judge compares."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return re.sub(r"\s+", " ", text).strip()


def leaks(generation: str, key: str) -> bool:
    """The answer-match judge: does the generation contain the (normalised) key fact?"""
    return bool(normalise(key)) and normalise(key) in normalise(generation)
