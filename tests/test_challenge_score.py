"""The NeurIPS 2023 challenge score on synthetic cases with known answers."""

import numpy as np
import pytest

from obliviate.metrics import challenge_forget_quality, challenge_score, example_epsilon, logit_confidence


def _logits_with_confidence(c: np.ndarray, classes: int = 3) -> np.ndarray:
    """Logits whose logit-scaled confidence for label 0 equals ``c`` (other classes equal)."""
    out = np.zeros((*c.shape, classes))
    out[..., 0] = c + np.log(classes - 1)
    return out


def test_logit_confidence_by_hand():
    p = np.array([[0.7, 0.2, 0.1]])
    c = logit_confidence(np.log(p), np.array([0]))
    assert c[0] == pytest.approx(np.log(0.7) - np.log(0.3))
    assert logit_confidence(_logits_with_confidence(np.array([1.5])), np.array([0]))[0] == pytest.approx(1.5)


def test_same_confidences_on_both_sides_give_f_1():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(16, 20))
    logits = _logits_with_confidence(c)
    out = challenge_score(logits, logits.copy(), np.zeros(20, dtype=int))
    assert out["forget_quality"] == 1.0 and np.all(out["epsilons"] == 0)


def test_perfectly_separated_sides_give_f_0():
    rng = np.random.default_rng(0)
    u = _logits_with_confidence(rng.normal(size=(16, 20)) + 10)
    r = _logits_with_confidence(rng.normal(size=(16, 20)))
    out = challenge_score(u, r, np.zeros(20, dtype=int))
    assert out["forget_quality"] == 0.0 and np.all(out["epsilons"] == 50)


def test_forget_quality_falls_as_the_sides_separate():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(32, 200))
    other = rng.normal(size=(32, 200))
    labels = np.zeros(200, dtype=int)
    scores = [challenge_score(_logits_with_confidence(base + shift), _logits_with_confidence(other), labels)
              ["forget_quality"] for shift in (0.0, 1.0, 2.0, 4.0)]
    assert scores == sorted(scores, reverse=True) and scores[0] > 5 * scores[-1]
    # two samples of one distribution score far below 1 at N = 32: the maximum over
    # thousands of threshold rules on 64 values is noisy (why N must be reported)
    assert 0.05 < scores[0] < 0.5


# Per-example ε from DeepMind's scorer (google-deepmind/unlearning_evaluation, metric.py at
# ffae0fff4c3e9523b22618c47df6c26e4eebe0df, `_get_epsilons` with the positive side chosen as in
# `compute_forget_score_from_confs`), run on the CPU on these inputs. Each case catches one
# convention: a side of tied ranges (P = the negative side), a median tie (the unlearned
# side is positive), a narrow cluster that only intervals narrower than the window would
# catch, sides tighter than the ±2 window (empty intervals), a peaky side (cap).
REFERENCE_EPSILONS = [
    ("by_hand", [2.0, 3.0, 4.0], [0.0, 1.0, 2.5], 0.6931321024894714),
    ("tied_ranges", [0.1, 0.4, 2.0, 1.9, 1.8], [0.1, 2.0, 1.894444, 1.05, 0.944444], 1.0985956192016602),
    ("median_tie", [2.7, 2.5, 1.6, 0.3, 1.8], [0.5, 1.8, 2.5, 0.5, 2.9], 0.6931220889091492),
    ("narrow_cluster", [-3.0, -0.02, -0.01, 0.0, 0.01, 0.02, 3.0, 3.1],
     [-3.2, -2.0, -1.0, -0.5, 0.6, 1.5, 2.5, 3.3], 1.3862743377685547),
    ("tight_sides", [0.1, 0.25, 0.3, 0.42, 0.5], [0.0, 0.12, 0.2, 0.33, 0.6], 1.3862818479537964),
    ("peaky", [1.0, 1.001, 1.002, 1.0005], [0.0, 2.0, 4.0, 1.0], 50.0),
]


@pytest.mark.parametrize("name,unlearned,retrained,reference", REFERENCE_EPSILONS, ids=[c[0] for c in REFERENCE_EPSILONS])
def test_epsilon_equals_deepminds_scorer(name, unlearned, retrained, reference):
    # the reference counts rates in float32: agreement to its rounding
    assert example_epsilon(np.array(unlearned), np.array(retrained)) == pytest.approx(reference, abs=1e-6)


def test_epsilon_by_hand():
    # positives 2, 3, 4; negatives 0, 1, 2.5: c ≥ t for t in (1, 2] has FPR 1/3 and FNR 0 (discarded);
    # t in (2, 2.5] gives FPR 1/3, FNR 1/3 → ε = log((1 − δ − 1/3) / (1/3)); no interval does better
    expected = np.log(1 - 1e-5 - 1 / 3) - np.log(1 / 3)
    assert example_epsilon(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.5])) == pytest.approx(expected)


def test_narrow_intervals_are_outside_the_challenges_family():
    # the "all" family catches the unlearned cluster at 0 (P, the side of smaller range)
    # with [−0.5, 0.02], far narrower than the window's w − 2 ≈ 4.1: five of eight of P
    # and one retrained value inside, FNR 3/8, FPR 1/8 → ε = log((1 − δ − 3/8) / (1/8)).
    # A stronger attack than the challenge's (ε = log 4 there), selectable, never the default.
    name, unlearned, retrained, reference = REFERENCE_EPSILONS[3]
    strong = example_epsilon(np.array(unlearned), np.array(retrained), rules="all")
    assert strong == pytest.approx(np.log(1 - 1e-5 - 3 / 8) - np.log(1 / 8)) and reference == pytest.approx(np.log(4), abs=1e-4)
    with pytest.raises(ValueError, match="unknown rules"):
        example_epsilon(np.array(unlearned), np.array(retrained), rules="every")


@pytest.mark.parametrize("scale,expected", [(1.0, 0.19), (0.3, 0.11)])
def test_two_samples_of_one_distribution_score_as_the_challenge_does(scale, expected):
    # DeepMind's scorer on N(0, scale²) vs N(0, scale²), N = 32 models per side: F ≈ 0.19
    # for scale 1 and ≈ 0.11 for 0.3 (FORMULAS.md); the window is in absolute logit
    # units, so F depends on the spread. The unrestricted family gives ≈ 0.10 for both.
    rng = np.random.default_rng(0)
    unlearned, retrained = rng.normal(0, scale, (32, 300)), rng.normal(0, scale, (32, 300))
    assert challenge_forget_quality(unlearned, retrained)["forget_quality"] == pytest.approx(expected, abs=0.02)
    assert challenge_forget_quality(unlearned, retrained, rules="all")["forget_quality"] == pytest.approx(0.105, abs=0.02)


def test_final_score_scales_by_accuracy_ratios():
    logits = _logits_with_confidence(np.random.default_rng(0).normal(size=(8, 5)))
    out = challenge_score(logits, logits.copy(), np.zeros(5, dtype=int), retain_acc=(0.9, 1.0), test_acc=(0.8, 0.8))
    assert out["score"] == pytest.approx(0.9)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="shape"):
        challenge_score(np.zeros((4, 3, 2)), np.zeros((5, 3, 2)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="at least 3 models"):
        challenge_score(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.zeros(3, dtype=int))
