"""Residual-knowledge attacks on digits class:3: a model whose head alone hides the
class (features intact) must show the original's residue, the retrained model less."""

import copy

import pytest
import torch

from obliviate.classify.models import find_head
from obliviate.classify.residual import probe_recovery, relearn_attack


@pytest.fixture(scope="module")
def head_only(digits_class3):
    _, _, original, _ = digits_class3
    model = copy.deepcopy(original)
    _, _, head = find_head(model)
    with torch.no_grad():  # forget accuracy 0, features untouched
        head.weight[3] = 0.0
        head.bias[3] = -10.0
    return model


def test_head_only_forgetting_hides_accuracy_not_knowledge(digits_class3, head_only):
    from obliviate.metrics import accuracy

    _, split, original, retrained = digits_class3
    assert accuracy(head_only, split.forget) < 0.05
    hidden, kept, fresh = (probe_recovery(m, split.forget, split.retain) for m in (head_only, original, retrained))
    assert hidden == kept  # identical features give identical probes
    assert hidden["probe_acc"] > fresh["probe_acc"] + 0.2 and hidden["knn_acc"] > fresh["knn_acc"] + 0.2


def test_relearning_is_fast_for_hidden_knowledge_slow_after_retraining(digits_class3):
    import warnings

    from obliviate.classify.unlearn import unlearn_classifier

    _, split, original, retrained = digits_class3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ga = unlearn_classifier(original, split.forget, split.retain, "ga", 0, {}, holdout=split.val).model
    hidden, fresh = relearn_attack(ga, split.forget), relearn_attack(retrained, split.forget)
    assert hidden["steps_to_recover"] <= 5 and fresh["steps_to_recover"] >= 10  # measured: 3 and 18
    assert len(fresh["curve"]) == 30 and fresh["curve"][0] < 0.05


def test_attacks_refuse_too_small_forget_sets(digits_class3):
    from torch.utils.data import Subset

    _, split, original, _ = digits_class3
    with pytest.raises(ValueError, match="needs more than shots=5"):
        probe_recovery(original, Subset(split.forget, range(5)), split.retain)
