"""Each classifier method's defining behaviour, and its defaults on digits class:3."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import obliviate
from obliviate.classify.data import Batch
from obliviate.classify.methods.rl import random_wrong_labels
from obliviate.core.registry import build
from obliviate.metrics import accuracy

METHODS = ["retrain", "ft", "ga", "neggrad_plus", "rl"]


@pytest.mark.parametrize("method", METHODS)
def test_defaults_forget_class_3_on_digits_without_hurting_other_classes(digits_class3, method):
    task, split, original, retrained = digits_class3
    hp = dict(task.recipe) if method == "retrain" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a healthy run raises no UnlearningWarning
        result = obliviate.unlearn(original, split.forget, split.retain, method=method, seed=0,
                                   holdout=split.val, **hp)
    before, after, target = (accuracy(m, split.forget) for m in (original, result.model, retrained))
    # forget accuracy moves at least half way from the original's to the retrained model's
    assert abs(after - target) <= 0.5 * abs(before - target), (before, after, target)
    # test accuracy on the other classes stays within 5 points of the retrained model's
    assert abs(accuracy(result.model, split.test) - accuracy(retrained, split.test)) <= 0.05
    assert result.ok and result.seconds > 0 and result.history


def test_ga_loss_is_negative_cross_entropy():
    model = nn.Linear(3, 4)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])
    loss = build("ga", {}).loss(model, Batch(forget=(x, y)))
    assert loss.item() == pytest.approx(-F.cross_entropy(model(x), y).item())


def test_neggrad_plus_loss_is_the_weighted_difference():
    model = nn.Linear(3, 4)
    xf, yf, xr, yr = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0]), torch.randn(6, 3), torch.tensor([1] * 6)
    loss = build("neggrad_plus", {"beta": 0.8}).loss(model, Batch(forget=(xf, yf), retain=(xr, yr)))
    expected = 0.8 * F.cross_entropy(model(xr), yr) - 0.2 * F.cross_entropy(model(xf), yf)
    assert loss.item() == pytest.approx(expected.item())


def test_random_wrong_labels_are_never_the_true_label_and_cover_the_others():
    y = torch.full((5000,), 3)
    wrong = random_wrong_labels(y, 10, torch.Generator().manual_seed(0))
    assert not (wrong == 3).any()
    assert set(wrong.tolist()) == set(range(10)) - {3}


def test_rl_trains_forget_examples_toward_wrong_labels_and_retain_toward_true_ones():
    method = build("rl", {})
    method._num_classes, method._generator = 10, torch.Generator().manual_seed(0)
    model = nn.Linear(2, 10)
    xf, yf, xr, yr = torch.randn(4, 2), torch.full((4,), 3), torch.randn(4, 2), torch.full((4,), 5)
    loss = method.loss(model, Batch(forget=(xf, yf), retain=(xr, yr)))
    # The retain part uses the true labels; the forget part never label 3.
    wrong = random_wrong_labels(torch.cat([yf, yr]), 10, torch.Generator().manual_seed(0))
    x = torch.cat([xf, xr])
    expected = F.cross_entropy(model(x), torch.cat([wrong[:4], yr]))
    assert loss.item() == pytest.approx(expected.item())


def test_retrain_reinitialises_every_weight(digits_class3):
    task, split, original, _ = digits_class3
    result = obliviate.unlearn(original, split.forget, split.retain, method="retrain", seed=0, epochs=1)
    for (name, a), b in zip(original.named_parameters(), result.model.parameters()):
        assert not torch.allclose(a, b), name


def test_retrain_refuses_a_model_it_cannot_reinitialise():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3)
            self.scale = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return self.lin(x) * self.scale

    data = TensorDataset(torch.randn(8, 2), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match="cannot re-initialise parameter\\(s\\) scale"):
        obliviate.unlearn(Scaled(), data, data, method="retrain")


def test_early_stopping_rolls_back_when_retain_accuracy_collapses(digits_class3):
    task, split, original, _ = digits_class3
    # A learning rate 100x the default makes GA collapse within one epoch.
    result = obliviate.unlearn(original, split.forget, split.retain, method="ga", lr=0.02, max_retain_drop=10)
    assert "rolled back" in result.stop_reason
    assert result.after["retain_acc"] >= result.before["retain_acc"] - 10
    # Without the guard the same run collapses, and says so.
    with pytest.warns(obliviate.UnlearningWarning, match="collapsed"):
        wrecked = obliviate.unlearn(original, split.forget, split.retain, method="ga", lr=0.02, early_stop=False,
                                   min_steps=0, adapt_lr=False)  # no small-data guard, no lr adaptation
    assert "collapsed" in wrecked.flags


def test_early_stopping_stops_at_the_retrained_model_target(digits_class3):
    task, split, original, _ = digits_class3
    result = obliviate.unlearn(original, split.forget, split.retain, method="ga", stop_slack=0)
    assert "target (0.0%)" in result.stop_reason
    assert result.after["forget_acc"] == 0.0
    assert len(result.history) < build("ga", {}).epochs
