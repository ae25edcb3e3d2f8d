"""Pure evaluation metrics on arrays, shared by every track: the SVC MIA attack, the
Average Gap, the NeurIPS 2023 challenge score, tug-of-war and U-LiRA.

Accuracy-type functions return fractions in [0, 1] (like scikit-learn);
``evaluate()`` reports them in percent ("points"), as the papers do.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

GAP_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")


def svc_mia_efficacy(member: np.ndarray, nonmember: np.ndarray, target: np.ndarray) -> float:
    """MIA-efficacy from one-dimensional attack features (pure, on arrays).

    Train an SVC (rbf kernel, C=3, gamma="auto") to tell ``member`` features (label 1)
    from ``nonmember`` features (label 0), then return the share of ``target``
    examples it predicts to be non-members. Definition and settings of Jia et al.,
    "Model Sparsity Can Simplify Machine Unlearning" (NeurIPS 2023), reused by SalUn
    (Fan et al., ICLR 2024).
    """
    from sklearn.svm import SVC

    member = np.asarray(member, dtype=np.float64).reshape(-1, 1)
    nonmember = np.asarray(nonmember, dtype=np.float64).reshape(-1, 1)
    target = np.asarray(target, dtype=np.float64).reshape(-1, 1)
    if len(member) == 0 or len(nonmember) == 0:
        raise ValueError("svc_mia_efficacy needs member and non-member examples to train the attack")
    if len(target) == 0:
        return float("nan")
    features = np.concatenate([member, nonmember])
    is_member = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    attack = SVC(C=3, gamma="auto", kernel="rbf").fit(features, is_member)
    return float(1.0 - attack.predict(target).mean())


def member_rate_at_fpr(target: np.ndarray, nonmember: np.ndarray, fpr: float = 0.05) -> float:
    """Share of ``target`` examples a threshold attack calls "member" when its threshold
    lets through at most ``fpr`` of known non-members: the attack's true-positive rate at
    that false-positive rate on ``target`` (Carlini et al., "Membership Inference
    Attacks From First Principles", S&P 2022, report TPR at low FPR). Scores: higher =
    more member-like (a model's confidence in the true label). The threshold is the
    (k+1)-th largest non-member score, k = floor(fpr · n), and "member" means strictly
    above it, so at most k non-members pass. For deleted examples, lower is better (the
    target is what a model that never saw them shows, about ``fpr``)."""
    if not 0 <= fpr < 1:
        raise ValueError(f"fpr must be in [0, 1), got {fpr}")
    ordered = np.sort(np.asarray(nonmember, dtype=float))[::-1]
    if not len(ordered) or not len(target):
        raise ValueError("member_rate_at_fpr needs target and non-member scores")
    threshold = ordered[int(np.floor(fpr * len(ordered)))]
    return float(np.mean(np.asarray(target, dtype=float) > threshold))


def avg_gap(scores: Mapping[str, float], reference: Mapping[str, float],
            keys: Sequence[str] = GAP_KEYS) -> float:
    """Average Gap: mean over ``keys`` of abs(score − reference score).

    The reference is the retrained model; lower is better, 0 is ideal. In the units
    of the inputs: with :func:`obliviate.evaluate`'s percentages it is in points, as
    in Fan et al. (SalUn), ICLR 2024 (the gap of UA = 1 − forget accuracy equals the
    gap of forget accuracy).
    """
    missing = [k for k in keys if k not in scores or k not in reference]
    if missing:
        raise ValueError(f"avg_gap: missing score(s) {missing}")
    return float(np.mean([abs(scores[k] - reference[k]) for k in keys]))


# -- NeurIPS 2023 machine-unlearning challenge ------------------------------------------

def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The challenge's logit-scaled confidence c = log(p_y + 1e-45) − log(Σ_{k≠y} p_k + 1e-45),
    elementwise over leading axes; ``logits`` (..., classes), ``labels`` (examples,)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    onehot = np.eye(z.shape[-1], dtype=bool)[np.asarray(labels)]
    p_y = np.where(onehot, p, 0.0).sum(-1)
    p_other = np.where(onehot, 0.0, p).sum(-1)
    return np.log(p_y + 1e-45) - np.log(p_other + 1e-45)


CHALLENGE_DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100  # grid density of DeepMind's scorer, points per logit unit
INTERVAL_WINDOW = 2.0  # DeepMind's scorer: interval ends within ±2 logit units of max(P) and of r − w


def _epsilon_table(n_pos: int, n_neg: int, delta: float) -> np.ndarray:
    """ε of a rule as a function of its counts: table[a, b] for a of ``n_pos`` positives
    and b of ``n_neg`` negatives predicted positive. Follows DeepMind's scorer: FPR = FNR
    = 0 ⇒ ∞; exactly one of them 0 ⇒ NaN (the rule is discarded); else
    max(log(1 − δ − FPR) − log FNR, log(1 − δ − FNR) − log FPR) clipped at 0, where a
    logarithm of a non-positive number counts as missing (NaN when both are)."""
    fnr = 1.0 - np.arange(n_pos + 1)[:, None] / n_pos
    fpr = np.arange(n_neg + 1)[None, :] / n_neg
    fnr, fpr = np.broadcast_arrays(fnr, fpr)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(1 - delta - fpr) - np.log(fnr)
        b = np.log(1 - delta - fnr) - np.log(fpr)
        eps = np.clip(np.fmax(a, b), 0, None)
    eps[(fpr == 0) != (fnr == 0)] = np.nan
    eps[(fpr == 0) & (fnr == 0)] = np.inf
    return eps


def _counts_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")


def _counts_within(sorted_values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How many values lie in each [left[i, j], right[i]], flattened."""
    at_most_right = np.searchsorted(sorted_values, right, side="right")[:, None]
    below_left = np.searchsorted(sorted_values, left.ravel(), side="left").reshape(left.shape)
    return np.maximum(at_most_right - below_left, 0).ravel()  # the window family includes empty intervals (l > r)


def _window_intervals(peaky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepMind's interval family for the peakier side P (range w): right ends r on a
    linspace over [max P − 2, max P + 2] at 100 points per unit, and for each r the left
    ends on a linspace over [r − w − 2, r − w + 2] (400 points). Returns left ends
    (rights, lefts) and right ends (rights,)."""
    width = peaky.max() - peaky.min()
    # the same floating-point steps as the reference, so grid points land where its do
    low, high = peaky.min() + width - INTERVAL_WINDOW, peaky.max() + INTERVAL_WINDOW
    right = np.linspace(low, high, int(np.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    steps = int(np.ceil(2 * INTERVAL_WINDOW * THRESHOLDS_PER_UNIT))
    left = np.linspace(right - width - INTERVAL_WINDOW, right - width + INTERVAL_WINDOW, steps, axis=1)
    return left, right


def _interval_epsilon(peaky: np.ndarray, other: np.ndarray, left: np.ndarray, right: np.ndarray,
                      delta: float) -> float:
    """The best interval rule "l ≤ c ≤ r ⇒ the peakier side" (both sides sorted). ε is
    symmetric in (FPR, FNR), so the peakier side can always play the positive class."""
    table = _epsilon_table(len(peaky), len(other), delta)
    return _best_epsilon(table, _counts_within(peaky, left, right), _counts_within(other, left, right))


def _best_epsilon(table: np.ndarray, pos_hits: np.ndarray, neg_hits: np.ndarray) -> float:
    eps = table[pos_hits, neg_hits]
    return float(np.nanmax(eps)) if not np.all(np.isnan(eps)) else 0.0


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = CHALLENGE_DELTA,
                    cap: float = EPSILON_CAP, rules: str = "challenge") -> float:
    """The challenge's per-example ε from one example's confidences over N unlearned and N
    retrained models (see :func:`challenge_score`): 0 = no rule tells the two sides apart,
    ``cap`` = perfectly separable (lower is better for an unlearning method).

    The positive side is the one with the larger median (the unlearned side on a tie).
    If the smaller spread (max − min) is under 1% of the larger, ε = ``cap``. Otherwise ε
    is the largest over two rule families, as DeepMind's scorer has them
    (google-deepmind/unlearning_evaluation, metric.py): single thresholds c ≥ t ⇒
    positive, t on a linspace from the lowest to the highest value with ceil(100 · range)
    points; and intervals l ≤ c ≤ r ⇒ P, P the side with the smaller range w (the
    negative side on a tie), r on a linspace over max P ± 2 at 100 points per unit and,
    for each r, l on a linspace over r − w ± 2 (400 points): intervals of width w ± 2
    near P. ``rules="all"`` instead tries every interval with ends on the grid lo + k/100
    (narrow ones included): a stronger attack that usually gives a higher ε (a lower F)
    than the challenge, for a stricter audit; its numbers are not comparable with the
    challenge's. Computed in float64 (the reference builds
    its single-threshold grid in float32; counts differ only for a confidence within
    float32 rounding of a grid point)."""
    if rules not in ("challenge", "all"):
        raise ValueError(f"unknown rules {rules!r}: use 'challenge' (DeepMind's scorer) or 'all'")
    u, r = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    spread_pos, spread_neg = np.ptp(pos), np.ptp(neg)
    largest, smallest = max(spread_pos, spread_neg), min(spread_pos, spread_neg)
    if largest > 0 and smallest / largest < 0.01:
        return cap
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    peaky, other = (pos_sorted, neg_sorted) if spread_pos < spread_neg else (neg_sorted, pos_sorted)
    if rules == "all":
        thresholds, left, right = _every_grid_rule(pos, neg)
    else:
        lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
        thresholds = np.linspace(lo, hi, int(np.ceil((hi - lo) * THRESHOLDS_PER_UNIT)))
        left, right = _window_intervals(peaky)
    table = _epsilon_table(len(pos), len(neg), delta)
    eps = _best_epsilon(table, _counts_at_least(pos_sorted, thresholds), _counts_at_least(neg_sorted, thresholds))
    eps = max(eps, _interval_epsilon(peaky, other, left, right, delta))
    return float(min(eps, cap))


def _every_grid_rule(pos: np.ndarray, neg: np.ndarray,
                     grid: int = THRESHOLDS_PER_UNIT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rules="all"``: thresholds, and left / right ends of every interval, on the grid
    lo + k/grid, reduced to the distinct splits that grid realises (found exactly)."""
    values = np.concatenate([pos, neg])
    lo, hi = values.min(), values.max()
    last = int(np.floor((hi - lo) * grid + 1e-9))
    lower = np.unique(np.clip(np.concatenate([[0], np.floor((values - lo) * grid + 1e-9) + 1]), 0, last + 1))
    upper = np.unique(np.clip(np.ceil((values - lo) * grid - 1e-9), 0, last))
    t_lo, t_hi = lo + lower / grid, lo + upper / grid
    left = np.broadcast_to(t_lo[None, :], (len(t_hi), len(t_lo)))  # empty intervals count 0 inside: discarded
    return t_lo, left, t_hi


def challenge_score(unlearned_logits: np.ndarray, retrained_logits: np.ndarray, labels: np.ndarray, *,
                    retain_acc: tuple[float, float] | None = None, test_acc: tuple[float, float] | None = None,
                    delta: float = CHALLENGE_DELTA, rules: str = "challenge") -> dict:
    """The NeurIPS 2023 machine-unlearning challenge score (Triantafillou et al., 2024;
    DeepMind's evaluation code is the definition).

    ``unlearned_logits`` and ``retrained_logits``: arrays (N models, forget examples,
    classes) from N unlearned and N retrained models (different seeds, same forget
    set). For each forget example, ε is the strongest (δ = 1e-5) hypothesis test
    telling the two sides apart from the logit-scaled confidence; ε is bucketed in
    steps of 0.5 up to ceil(ln(N − 1)) and bucket k is worth 2^−k (beyond: 0).
    ``forget_quality`` F is the mean worth over examples: 1 = indistinguishable from
    retraining, 0 = separable on every example (higher is better). With
    ``retain_acc`` = (unlearned, retrained) and ``test_acc`` likewise (mean accuracies
    over the models), ``score`` = F · RA_u/RA_r · TA_u/TA_r. Compare methods only at
    the same N: small N lowers F even for identical distributions (the maximum over
    many thresholds is noisy). ``rules`` picks the decision-rule family
    (:func:`example_epsilon`): "challenge" (default) is DeepMind's scorer's, "all" a
    stronger attack whose F is lower and not comparable with the challenge's."""
    u, r = np.asarray(unlearned_logits), np.asarray(retrained_logits)
    if u.ndim != 3 or u.shape != r.shape:
        raise ValueError(f"logits must both have shape (models, examples, classes), got {u.shape} and {r.shape}")
    out = challenge_forget_quality(logit_confidence(u, labels), logit_confidence(r, labels), delta, rules)
    if retain_acc is not None and test_acc is not None:
        out["score"] = challenge_final_score(out["forget_quality"], retain_acc, test_acc)
    return out


def challenge_final_score(forget_quality: float, retain_acc: tuple[float, float],
                          test_acc: tuple[float, float]) -> float:
    """The challenge's final score F · RA_u/RA_r · TA_u/TA_r from forget quality and the
    (unlearned, retrained) mean accuracies, any unit; higher is better."""
    return forget_quality * (retain_acc[0] / retain_acc[1]) * (test_acc[0] / test_acc[1])


def challenge_forget_quality(unlearned_conf: np.ndarray, retrained_conf: np.ndarray, delta: float = CHALLENGE_DELTA,
                             rules: str = "challenge") -> dict:
    """The challenge's forget quality F from any per-example score: arrays (N models,
    forget examples) for N unlearned and N retrained models. Per example, ε of the
    strongest threshold test (:func:`example_epsilon`), bucketed in steps of 0.5 up to
    ceil(ln(N − 1)), bucket k worth 2^−k; F = mean worth in [0, 1], higher is better
    (1 = indistinguishable from retraining). :func:`challenge_score` feeds it
    logit-scaled confidences; the language-model track feeds it each answer's mean
    token log-likelihood (same role: how sure the model is of the forgotten label)."""
    u, r = np.asarray(unlearned_conf, dtype=np.float64), np.asarray(retrained_conf, dtype=np.float64)
    if u.ndim != 2 or u.shape != r.shape:
        raise ValueError(f"confidences must both have shape (models, examples), got {u.shape} and {r.shape}")
    n = u.shape[0]
    if n < 3:
        raise ValueError(f"the challenge score needs at least 3 models per side, got {n}")
    eps = np.array([example_epsilon(u[:, i], r[:, i], delta, rules=rules) for i in range(u.shape[1])])
    n_buckets = int(2 * np.ceil(np.log(n - 1)))
    bucket = np.floor(eps / 0.5).astype(int)
    worth = np.where(bucket < n_buckets, 2.0 ** -bucket.astype(float), 0.0)
    return {"forget_quality": float(worth.mean()), "epsilons": eps, "n_models": n}


def example_threshold_tpr(unlearned_conf: np.ndarray, retrained_conf: np.ndarray, fpr: float) -> float:
    """The challenge's per-example threshold attacks at a low false-positive rate: for
    each forget example, a single threshold on its score (either direction) tells the
    N unlearned models (positives) from the N retrained ones (negatives); its
    :func:`tpr_at_fpr` at ``fpr``, the better direction, averaged over the examples.
    Lower is better (``fpr`` is chance). With fewer than 1/``fpr`` retrained models an
    FPR below ``fpr`` admits no false positive at all, so at eval's N = 16 the 1% and
    0.1% values coincide: the share of unlearned models a threshold catches with no
    retrained model on its side."""
    u, r = np.asarray(unlearned_conf, dtype=np.float64), np.asarray(retrained_conf, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != r.shape[1]:
        raise ValueError(f"example_threshold_tpr needs (models, examples) arrays, got {u.shape} and {r.shape}")
    truth = np.concatenate([np.ones(len(u)), np.zeros(len(r))])
    rates = []
    for j in range(u.shape[1]):
        scores = np.concatenate([u[:, j], r[:, j]])
        rates.append(0.0 if np.ptp(scores) == 0 else
                     max(tpr_at_fpr(truth, scores, fpr), tpr_at_fpr(truth, -scores, fpr)))
    return float(np.mean(rates))


def tug_of_war(unlearned: Mapping[str, float], retrained: Mapping[str, float]) -> float:
    """Tug-of-war (ToW): Π over forget, retain and test accuracy of (1 − |acc_u − acc_r|),
    accuracies as fractions in [0, 1]. 1 = the same accuracies as the retrained model
    (higher is better). Zhao et al., "What makes unlearning hard and what to do about
    it", NeurIPS 2024."""
    keys = ("forget_acc", "retain_acc", "test_acc")
    missing = [k for k in keys if k not in unlearned or k not in retrained]
    if missing:
        raise ValueError(f"tug_of_war: missing accuracy {missing}")
    return float(np.prod([1 - abs(unlearned[k] - retrained[k]) for k in keys]))


def tpr_at_fpr(truth: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """True-positive rate of a score threshold attack at false-positive rate below
    ``fpr`` (higher score = "positive"). The LiRA reference's convention (Carlini et
    al., S&P 2022, ``plot.py``: ``tpr[np.where(fpr < x)[0][-1]]`` on scikit-learn's ROC
    curve): the best TPR among thresholds whose FPR is *strictly* below ``fpr``.
    Direction: for an attack telling unlearned from retrained models, lower is better
    (``fpr`` itself is chance)."""
    from sklearn.metrics import roc_curve

    truth, scores = np.asarray(truth), np.asarray(scores, dtype=np.float64)
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    if truth.min() == truth.max():
        raise ValueError("tpr_at_fpr needs positive and negative examples")
    false_pos, true_pos, _ = roc_curve(truth, scores)
    return float(true_pos[np.where(false_pos < fpr)[0][-1]])


WORST_SHARE = 0.10  # the worst decile of examples (Hayes et al. report the attack per example)


def ulira(unlearned_conf: np.ndarray, retrained_conf: np.ndarray, seed: int = 0, splits: int = 8) -> dict:
    """U-LiRA: a per-example likelihood-ratio test telling unlearned from retrained models
    (Hayes et al., "Inexact unlearning needs more careful evaluations to avoid a false
    sense of privacy", SaTML 2025).

    ``unlearned_conf`` and ``retrained_conf``: logit-scaled confidences (models,
    forget examples) of N unlearned and N retrained models. For each of ``splits``
    random halvings, the shadow half of each side gives per-example Gaussians (mean,
    std) of "unlearned" and "retrained" confidences; every target model's confidence
    on every example is scored by the log-likelihood ratio. Returns, averaged over
    halvings: ``auc`` (ROC AUC over target (model, example) pairs), ``accuracy``
    (LR > 1 ⇒ "unlearned"), ``tpr_at_1pct`` and ``tpr_at_01pct`` (TPR at FPR below
    1% and 0.1%, :func:`tpr_at_fpr`: the regime the paper argues matters), the
    per-example ``example_accuracy`` (share of target models the test gets right on
    each example) and ``worst_decile_accuracy`` (its mean over the 10% of examples
    where the test does best) with their indices ``worst_examples``. AUC and accuracy:
    0.5 means the attack cannot tell (ideal; lower is not better than 0.5), 1 means
    every unlearned model is recognised; the TPRs' ideal is their FPR."""
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    u, r = np.asarray(unlearned_conf, dtype=np.float64), np.asarray(retrained_conf, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != r.shape[1] or min(len(u), len(r)) < 4:
        raise ValueError(f"ulira needs (models, examples) arrays with at least 4 models a side, "
                         f"got {u.shape} and {r.shape}")
    rng = np.random.default_rng(seed)
    aucs, accs, low1, low01 = [], [], [], []
    per_example = np.zeros(u.shape[1])
    for _ in range(splits):
        pu, pr = rng.permutation(len(u)), rng.permutation(len(r))
        su, tu = u[pu[: len(u) // 2]], u[pu[len(u) // 2:]]
        sr, tr = r[pr[: len(r) // 2]], r[pr[len(r) // 2:]]
        mu_in, mu_out = su.mean(0), sr.mean(0)
        sd_in, sd_out = su.std(0) + 1e-3, sr.std(0) + 1e-3  # floor: constant confidences stay finite
        lr = lambda c: norm.logpdf(c, mu_in, sd_in) - norm.logpdf(c, mu_out, sd_out)  # noqa: E731
        lr_u, lr_r = lr(tu), lr(tr)
        scores = np.concatenate([lr_u.ravel(), lr_r.ravel()])
        truth = np.concatenate([np.ones(tu.size), np.zeros(tr.size)])
        separable = np.ptp(scores) > 0
        aucs.append(roc_auc_score(truth, scores) if separable else 0.5)
        accs.append(float(((scores > 0) == truth).mean()))
        low1.append(tpr_at_fpr(truth, scores, 0.01) if separable else 0.0)
        low01.append(tpr_at_fpr(truth, scores, 0.001) if separable else 0.0)
        per_example += ((lr_u > 0).sum(0) + (lr_r <= 0).sum(0)) / (len(tu) + len(tr))
    per_example /= splits
    worst = np.argsort(-per_example, kind="stable")[: max(1, int(np.ceil(WORST_SHARE * len(per_example))))]
    return {"auc": float(np.mean(aucs)), "accuracy": float(np.mean(accs)),
            "tpr_at_1pct": float(np.mean(low1)), "tpr_at_01pct": float(np.mean(low01)),
            "example_accuracy": per_example.tolist(), "worst_decile_accuracy": float(per_example[worst].mean()),
            "worst_examples": worst.tolist()}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment between two representations of the same n
    examples (rows): ‖ỸᵀX̃‖²_F / (‖X̃ᵀX̃‖_F · ‖ỸᵀỸ‖_F), X̃ and Ỹ the column-centred
    features (Kornblith et al., "Similarity of Neural Network Representations
    Revisited", ICML 2019; the reference notebook's ``feature_space_linear_cka``,
    unbiased=False). 1: the same representation up to rotation and scale; 0: unrelated.
    Used as in "Are We Truly Forgetting?" (2025): on the forget set, an unlearned
    model's features should be as far from the original's as a retrained model's are."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"linear_cka needs two (examples, features) arrays over the same >= 2 examples, "
                         f"got {x.shape} and {y.shape}")
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = np.linalg.norm(y.T @ x) ** 2
    norms = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / norms) if norms > 0 else 0.0


def bootstrap_ci(values: Sequence[float], level: float = 0.95, resamples: int = 9999,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``values`` (seeds or
    models), through ``scipy.stats.bootstrap`` (``method="percentile"``, seeded: the
    same interval every run). (nan, nan) for fewer than two values. With 3 seeds the
    interval cannot leave [min, max]: read it as the spread the seeds allow, not as
    coverage."""
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return float("nan"), float("nan")
    if np.ptp(data) == 0:
        return float(data[0]), float(data[0])
    result = bootstrap((data,), np.mean, confidence_level=level, n_resamples=resamples, method="percentile",
                       random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_p_value(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p-value of the paired t-test (``scipy.stats.ttest_rel``) that ``values``
    and ``reference`` (e.g. a method's and the retrained model's forget accuracy, paired
    by seed) have the same mean. Small p: the method ends somewhere retraining does not.
    Differences without spread: 1 if all zero, 0 otherwise (the t statistic is
    infinite); nan for fewer than two pairs."""
    from scipy.stats import ttest_rel

    a, b = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_p_value needs pairs, got {a.shape} and {b.shape}")
    if len(a) < 2:
        return float("nan")
    diff = a - b
    if np.ptp(diff) == 0:
        return 1.0 if diff[0] == 0 else 0.0
    return float(ttest_rel(a, b).pvalue)


def welch_p_value(values: Sequence[float], reference: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (``scipy.stats.ttest_ind``, unequal variances)
    that two independent samples (N unlearned and N retrained models: no natural
    pairing) have the same mean. Both samples without spread: 1 if equal, 0 otherwise;
    nan for fewer than two values a side."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if min(len(a), len(b)) < 2:
        return float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a[0] == b[0] else 0.0
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def klom(unlearned_margins: np.ndarray, retrained_margins: np.ndarray, bins: int | None = None,
         pseudo_count: float = 0.5) -> np.ndarray:
    """KLoM, KL divergence of margins (Georgiev et al., "Attribute-to-Delete", ICLR 2025,
    appendix E.1): per example, KL(P_retrained ‖ P_unlearned) between the distributions,
    over N models each, of the margin z_y − logsumexp_{j≠y} z_j (the logit-scaled
    confidence of :func:`logit_confidence` is the same number). Each distribution is a
    histogram over ``bins`` equal bins spanning both samples (default ⌈√N⌉, N the
    smaller side) with ``pseudo_count`` added to every bin (Krichevsky–Trofimov): with
    the 8–16 models a side ``eval`` trains, 20 bins and a tiny smoothing put
    identical distributions at KL ≈ 4 (empty bins dominate); √N bins and half-counts
    keep them near 0.1. This is our estimator of the paper's binned KL; the authors'
    code was not available to us. Returns one value per example, ≥ 0, lower is
    better (0: margins distributed as the retrained models'); tables report the mean
    and the 95th percentile over the forget set."""
    u, r = np.asarray(unlearned_margins, dtype=np.float64), np.asarray(retrained_margins, dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1] or min(len(u), len(r)) < 2:
        raise ValueError(f"klom needs (models, examples) arrays over the same examples with at least 2 models a "
                         f"side, got {u.shape} and {r.shape}")
    bins = bins or int(np.ceil(np.sqrt(min(len(u), len(r)))))
    out = np.empty(u.shape[1])
    for j in range(u.shape[1]):
        low, high = min(u[:, j].min(), r[:, j].min()), max(u[:, j].max(), r[:, j].max())
        if high == low:
            out[j] = 0.0
            continue
        edges = np.linspace(low, high, bins + 1)
        p = np.histogram(r[:, j], edges)[0] + pseudo_count
        q = np.histogram(u[:, j], edges)[0] + pseudo_count
        p, q = p / p.sum(), q / q.sum()
        out[j] = float(np.sum(p * np.log(p / q)))
    return out
