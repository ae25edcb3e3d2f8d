"""U-LiRA and tug-of-war on hand-built cases."""

import numpy as np
import pytest

from obliviate.metrics import tug_of_war, ulira


def test_tug_of_war_by_hand():
    r = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9}
    assert tug_of_war(r, r) == 1.0
    u = {"forget_acc": 0.1, "retain_acc": 0.95, "test_acc": 0.9}
    assert tug_of_war(u, r) == pytest.approx(0.9 * 0.95 * 1.0)
    with pytest.raises(ValueError, match="missing"):
        tug_of_war({"forget_acc": 0.1}, r)


def test_ulira_cannot_tell_one_distribution_apart():
    rng = np.random.default_rng(0)
    out = ulira(rng.normal(size=(16, 200)), rng.normal(size=(16, 200)))
    assert abs(out["auc"] - 0.5) < 0.05 and abs(out["accuracy"] - 0.5) < 0.06


def test_ulira_recognises_unlearned_models_per_example():
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 3, size=200)  # per-example levels: a population threshold would fail
    u = offsets + 1.0 + 0.3 * rng.normal(size=(16, 200))
    r = offsets + 0.3 * rng.normal(size=(16, 200))
    out = ulira(u, r)
    assert out["auc"] > 0.95 and out["accuracy"] > 0.85
    # the same shift is much harder to see without per-example calibration
    from sklearn.metrics import roc_auc_score

    population = roc_auc_score(np.r_[np.ones(u.size), np.zeros(r.size)], np.r_[u.ravel(), r.ravel()])
    assert population < 0.7


def test_ulira_refuses_too_few_models():
    with pytest.raises(ValueError, match="at least 4 models"):
        ulira(np.zeros((3, 5)), np.zeros((3, 5)))


def test_tpr_at_fpr_follows_the_lira_reference_convention():
    from obliviate.core.metrics import tpr_at_fpr

    negatives = np.arange(100.0)  # 0 … 99
    positives = np.array([100.5, 99.5, 98.5, 50.0])
    truth = np.concatenate([np.ones(4), np.zeros(100)])
    scores = np.concatenate([positives, negatives])
    # LiRA's plot.py: tpr[np.where(fpr < 0.01)[0][-1]]: strictly below 1% FPR no negative may pass,
    # so the threshold stops at 99.5 (TPR 2/4); a "<=" reading would admit 99 and give 3/4
    assert tpr_at_fpr(truth, scores, 0.01) == 0.5
    assert tpr_at_fpr(truth, scores, 0.03) == 0.75  # 98.5 passes with 2 negatives (99, 98): FPR 2% < 3%
    with pytest.raises(ValueError, match="positive and negative"):
        tpr_at_fpr(np.ones(3), np.arange(3.0), 0.01)


def test_ulira_low_fpr_rates_and_the_worst_examples():
    rng = np.random.default_rng(0)
    same = ulira(rng.normal(size=(16, 100)), rng.normal(size=(16, 100)))
    assert same["tpr_at_1pct"] < 0.05 and same["tpr_at_01pct"] < 0.02  # chance: about the FPR
    u, r = rng.normal(size=(16, 100)), rng.normal(size=(16, 100))
    u[:, 7] += 8.0  # one example the unlearned models give away
    out = ulira(u, r)
    assert out["worst_examples"][0] == 7 and len(out["worst_examples"]) == 10
    assert out["example_accuracy"][7] == 1.0
    assert out["worst_decile_accuracy"] > same["worst_decile_accuracy"]
    apart = ulira(rng.normal(size=(8, 50)) + 30, rng.normal(size=(8, 50)))
    assert apart["tpr_at_1pct"] == 1.0 and apart["tpr_at_01pct"] == 1.0


def test_paired_and_welch_p_values_by_hand():
    from obliviate.core.metrics import paired_p_value, welch_p_value

    # d = (1, 2, 3): mean 2, sd 1, t = 2√3 on 2 df; the t(2) CDF is ½ + t / (2√(2 + t²)) → p = 0.07418
    assert paired_p_value([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx(0.07418, abs=1e-5)
    assert paired_p_value([1.0, 2.0], [1.0, 2.0]) == 1.0 and paired_p_value([2.0, 3.0], [1.0, 2.0]) == 0.0
    assert np.isnan(paired_p_value([1.0], [0.0]))
    # Welch: means 1 and 11, variances 2 and 2, n = 2: t = −10/√2, Welch df = 2 → p = 2(1 − F(7.071)) = 0.01942
    assert welch_p_value([0.0, 2.0], [10.0, 12.0]) == pytest.approx(0.01942, abs=1e-5)
    assert welch_p_value([5.0, 5.0], [5.0, 5.0]) == 1.0


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    from obliviate.core.metrics import bootstrap_ci

    values = [3.0, 7.0, 4.0, 9.0, 5.0]
    low, high = bootstrap_ci(values)
    assert low < np.mean(values) < high and (low, high) == bootstrap_ci(values)
    assert 3.0 <= low and high <= 9.0
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(np.isnan(bootstrap_ci([1.0])))


def test_klom_by_hand_and_its_direction():
    from obliviate.core.metrics import klom

    # one example, 2 bins over [0, 1]: retrained margins all in the low bin, unlearned half and half
    retrained = np.array([[0.0], [0.0], [0.2], [0.4]])
    unlearned = np.array([[0.0], [0.4], [0.6], [1.0]])
    # counts (4, 0) and (2, 2), plus ½ each: p = (4.5, 0.5)/5, q = (2.5, 2.5)/5
    p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    assert klom(unlearned, retrained, bins=2)[0] == pytest.approx(0.9 * np.log(1.8) + 0.1 * np.log(0.2))
    assert klom(retrained, retrained, bins=2)[0] == 0.0
    rng = np.random.default_rng(0)
    same = klom(rng.normal(size=(16, 50)), rng.normal(size=(16, 50)))  # eval's N
    apart = klom(rng.normal(size=(16, 50)) + 5, rng.normal(size=(16, 50)))
    assert np.percentile(same, 95) < 0.5 < 1.5 < np.percentile(apart, 5)


def test_example_threshold_tpr_by_hand():
    from obliviate.core.metrics import example_threshold_tpr

    # example 0: unlearned models all above every retrained one: a threshold catches all with no false positive
    # example 1: the sides interleave: 2 of 4 unlearned lie above every retrained model, then a retrained one
    # example 2: unlearned models below (the other direction): all caught
    u = np.array([[5.0, 3.0, -5.0], [6.0, 1.0, -6.0], [7.0, 0.2, -7.0], [8.0, 0.1, -8.0]])
    r = np.array([[0.0, 0.5, 0.0], [1.0, 0.0, 1.0], [2.0, -1.0, 2.0], [3.0, -2.0, 3.0]])
    assert example_threshold_tpr(u, r, 0.01) == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    same = np.zeros((4, 2))
    assert example_threshold_tpr(same, same, 0.01) == 0.0
