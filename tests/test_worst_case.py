"""worst:FRAC forget sets: deterministic, inside the candidate pool, and harder than random."""

import pytest
import torch

from obliviate.classify.training import train_from_scratch
from obliviate.classify.tasks import get_task
from obliviate.metrics import accuracy


@pytest.fixture(scope="module")
def splits():
    task = get_task("mnist1d")  # a memorising MLP: digits' CNN generalises to almost every example
    return task, task.split("worst:0.05"), task.split("random:0.05")


def test_worst_case_set_is_deterministic_and_sized(splits):
    from obliviate.classify import worstcase

    task, worst, random_ = splits
    assert len(worst.forget_ids) == len(random_.forget_ids)
    worstcase._CACHE.clear()
    assert torch.equal(task.split("worst:0.05").forget_ids, worst.forget_ids)


def test_worst_case_examples_are_the_ones_retraining_gets_wrong(splits):
    task, worst, random_ = splits
    on_worst, _ = train_from_scratch(task, worst.retain, seed=1)
    on_random, _ = train_from_scratch(task, random_.retain, seed=1)
    # a model that never saw them still gets typical random examples right, memorised ones
    # much less often (measured: 68% against 41%)
    assert accuracy(on_worst, worst.forget) < accuracy(on_random, random_.forget) - 0.15


@pytest.mark.parametrize("spec,message", [("worst:0.7", "FRAC must be in \\(0, 0.5\\)"), ("worst:x", "a number")])
def test_bad_worst_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        get_task("digits").split(spec)

