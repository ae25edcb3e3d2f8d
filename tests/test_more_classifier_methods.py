"""The second ring of classifier methods: each one's defining property, checked on
hand-built cases against the paper's / reference code's definition."""

import copy

import pytest
import torch

from obliviate.core.registry import build
from obliviate.classify.data import UnlearnData
from obliviate.classify.methods.negmerge import NegMerge, sign_consensus_merge
from obliviate.classify.methods.task_vector import forget_task_vector
from obliviate.metrics import accuracy


def test_sign_consensus_merge_keeps_the_mean_only_where_every_sign_agrees():
    # the reference (mgradyn/negmerge, negmerge.py): |Σ sign(τ_i)| == n, then Σ τ_i / n; a zero agrees with nothing
    t1 = {"w": torch.tensor([1.0, -2.0, 0.0, 3.0, 0.5])}
    t2 = {"w": torch.tensor([3.0, -1.0, 1.0, -1.0, 0.5])}
    t3 = {"w": torch.tensor([2.0, -3.0, 1.0, 2.0, 0.0])}
    merged = sign_consensus_merge([t1, t2, t3])["w"]
    assert torch.equal(merged, torch.tensor([2.0, -2.0, 0.0, 0.0, 0.0]))


def test_negmerge_learning_rates_span_the_grid_geometrically():
    assert NegMerge(variants=3, lr=0.01, spread=4.0).learning_rates() == pytest.approx([0.0025, 0.01, 0.04])
    with pytest.raises(ValueError, match="variants must be >= 2"):
        NegMerge(variants=1)


@pytest.mark.parametrize("method", ["task_vector", "negmerge"])
def test_task_negation_moves_the_weights_only_along_minus_the_task_vector(digits_class3, method):
    task, split, original, retrained = digits_class3
    algorithm = build(method, {}, "classifier")
    data = UnlearnData(split.forget, split.retain, 10, target_forget_acc=0.0)
    unlearned = copy.deepcopy(original)
    algorithm.apply(unlearned, data, torch.Generator().manual_seed(0))
    # recompute the task vector(s) from the same generator state: the result is θ0 − λ·τ, nothing else
    generator = torch.Generator().manual_seed(0)
    model = copy.deepcopy(original)
    if method == "task_vector":
        tau = forget_task_vector(model, data, generator, epochs=algorithm.epochs, lr=algorithm.lr,
                                 batch_size=algorithm.batch_size)
    else:
        tau = sign_consensus_merge([forget_task_vector(model, data, generator, epochs=algorithm.epochs, lr=lr,
                                                       batch_size=algorithm.batch_size)
                                    for lr in algorithm.learning_rates()])
        kept = sum(int((t != 0).sum()) for t in tau.values()) / sum(t.numel() for t in tau.values())
        assert 0 < kept < 1 and kept == pytest.approx(algorithm.kept)
    assert algorithm.strength > 0
    before = dict(original.named_parameters())
    for name, p in unlearned.named_parameters():
        torch.testing.assert_close(p.detach(), before[name].detach() - algorithm.strength * tau[name])
    assert accuracy(unlearned, split.forget) <= 0.05 < accuracy(original, split.forget)
