"""The retain budget: retain- and union-driven epochs see max(RETAIN_FLOOR, retain_budget
× |forget|) retain examples, a fresh random subset each epoch, so a method's cost grows
with the forget set instead of the training set; small retain sets are passed whole."""

import torch
from torch.utils.data import TensorDataset

from obliviate.classify.data import UnlearnData
from obliviate.classify.loop import RETAIN_FLOOR, _with_loader
from obliviate.core.registry import build


def _data(n_forget: int, n_retain: int) -> UnlearnData:
    # the retain inputs are their own indices, so a batch says which examples it holds
    forget = TensorDataset(-torch.arange(1, n_forget + 1, dtype=torch.float32)[:, None], torch.zeros(n_forget).long())
    retain = TensorDataset(torch.arange(n_retain, dtype=torch.float32)[:, None], torch.ones(n_retain).long())
    return UnlearnData(forget, retain, num_classes=2)


def _seen(data: UnlearnData, drive: str, generator: torch.Generator) -> tuple[list[int], int, int]:
    retain_ids, forget_count, steps = [], 0, 0
    for batch in data.epoch(drive, 256, generator, use_forget=True, use_retain=True):
        steps += 1
        if batch.retain is not None:
            retain_ids += batch.retain[0][:, 0].long().tolist()
        if batch.forget is not None:
            forget_count += len(batch.forget[1])
    return retain_ids, forget_count, steps


def test_retain_epochs_take_a_fresh_subset_of_the_budget():
    method = build("ft", {}, "classifier")
    assert method.retain_budget == 4.0
    data = _with_loader(_data(1_000, 20_000), method, torch.nn.Linear(1, 2))
    assert data.retain_per_epoch == RETAIN_FLOOR  # 4 x 1000 is under the floor
    g = torch.Generator().manual_seed(0)
    first, _, steps = _seen(data, "retain", g)
    second, _, _ = _seen(data, "retain", g)
    assert len(first) == len(set(first)) == RETAIN_FLOOR  # no example twice within an epoch
    assert steps == data.steps_per_epoch("retain", 256) == -(-RETAIN_FLOOR // 256)
    assert set(first) != set(second)  # each epoch its own subset
    # the union epoch (RL, SalUn): every forget example, and the retain budget
    retain_ids, forget_count, steps = _seen(data, "union", g)
    assert (len(retain_ids), forget_count) == (RETAIN_FLOOR, 1_000)
    assert steps == data.steps_per_epoch("union", 256)


def test_the_budget_grows_with_the_forget_set_and_small_sets_pass_whole():
    method = build("rl", {}, "classifier")
    large = _with_loader(_data(3_000, 40_000), method, torch.nn.Linear(1, 2))
    assert large.retain_per_epoch == 12_000
    retain_ids, forget_count, _ = _seen(large, "union", torch.Generator().manual_seed(0))
    assert (len(retain_ids), forget_count) == (12_000, 3_000)
    small = _with_loader(_data(300, 5_000), method, torch.nn.Linear(1, 2))
    g, reference = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    ids, _, _ = _seen(small, "retain", g)
    assert sorted(ids) == list(range(5_000))
    # under the floor the budget draws nothing extra: the run's random stream is the one it always was
    _seen(_data(300, 5_000), "retain", reference)
    assert torch.equal(g.get_state(), reference.get_state())


def test_none_means_whole_passes_and_retrain_never_subsamples():
    whole = _with_loader(_data(1_000, 20_000), build("ft", {"retain_budget": "none"}, "classifier"),
                         torch.nn.Linear(1, 2))
    ids, _, _ = _seen(whole, "retain", torch.Generator().manual_seed(0))
    assert len(ids) == 20_000
    retrain = build("retrain", {}, "classifier")
    assert retrain.retain_budget is None and retrain.adapt_lr is False  # exact retraining: all of it, its own lr
