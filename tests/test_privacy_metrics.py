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
