"""Corrective unlearning (Goel et al., TMLR 2024): the poison:FRAC:KNOWN forget spec."""

import pytest
import torch

from obliviate.classify.tasks import POISON_TARGET, ForgetSpec, add_trigger, get_task


def test_poison_spec_parses_and_refuses_bad_values():
    assert ForgetSpec.parse("poison:0.1:0.5").value == (0.1, 0.5)
    for bad, message in (("poison:0.1", "two numbers"), ("poison:0.6:0.5", "FRAC must be in"),
                         ("poison:0.1:0", "KNOWN in"), ("poison:a:b", "two numbers")):
        with pytest.raises(ValueError, match=message):
            ForgetSpec.parse(bad)


def test_trigger_is_a_corner_patch_for_images_and_the_last_features_otherwise():
    images = torch.zeros(2, 1, 4, 4)
    patched = add_trigger(images, 9.0)
    assert patched[:, :, 2:, 2:].eq(9.0).all() and patched.sum() == 2 * 4 * 9.0 and images.sum() == 0
    vectors = add_trigger(torch.zeros(2, 10), 5.0)
    assert vectors[:, -3:].eq(5.0).all() and vectors[:, :-3].eq(0).all()


def test_poison_split_identifies_part_of_the_poison_and_keeps_the_rest_in_the_retain_set():
    task = get_task("digits")
    split = task.split("poison:0.1:0.5")
    x, y = task.train.tensors
    px, py = split.train.tensors
    changed = torch.nonzero((px != x).flatten(1).any(1) | (py != y)).flatten()
    assert len(changed) == round(0.1 * len(y))  # the poisoned examples
    assert (y[changed] != POISON_TARGET).all() and (py[changed] == POISON_TARGET).all()
    assert len(split.forget_ids) == round(0.5 * len(changed)) and set(split.forget_ids.tolist()) <= set(changed.tolist())
    fx, fy = split.forget.tensors
    assert (fy == POISON_TARGET).all() and fx[:, :, -2:, -2:].eq(x.max()).all()
    # the unidentified poison is still in the retain set, and everything else is too
    assert len(split.retain) == len(y) - len(split.forget_ids)
    rx, _ = split.retain.tensors
    assert rx[:, :, -2:, -2:].eq(x.max()).all(-1).all(-1).flatten().sum() >= len(changed) - len(split.forget_ids)
    tx, ty = split.triggered_test.tensors
    assert (ty != POISON_TARGET).all() and tx[:, :, -2:, -2:].eq(x.max()).all()
    class_split = task.split("class:3")
    assert split.holdout is None and class_split.holdout is class_split.val


def test_the_original_learns_the_backdoor_and_retraining_without_half_of_it_keeps_it(tmp_path):
    from obliviate import bench
    from obliviate.core.store import Store

    rows = bench.run(bench.plan("digits", "poison:0.1:0.5", ["retrain", "rl"], [0]), Store(tmp_path),
                     show_progress=False)
    by = {r["method"]: r["metrics"] for r in rows}
    assert by["original"]["attack_success"] > 90  # the backdoor works
    assert by["retrain"]["attack_success"] > 80  # the unknown half keeps it alive (Goel et al.'s finding)
    assert by["rl"]["attack_success"] < by["retrain"]["attack_success"] - 20
    assert by["rl"]["triggered_acc"] > by["original"]["triggered_acc"] + 20
    header, _ = bench.table_cells(rows)
    assert "TA(triggered)" in header and "ASR" in header
