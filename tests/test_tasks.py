import pytest
import torch

from obliviate.classify.training import train_from_scratch
from obliviate.classify.tasks import ForgetSpec, get_task
from obliviate.metrics import accuracy


def rows(ds):
    return {tuple(x.flatten().tolist()) for x in ds.tensors[0]}


@pytest.mark.parametrize("name, n_train, n_val, n_test", [("digits", 1293, 144, 360), ("mnist1d", 3600, 400, 1000)])
def test_built_in_tasks_have_fixed_disjoint_train_val_test_splits(name, n_train, n_val, n_test):
    task = get_task(name)
    assert (len(task.train), len(task.val), len(task.test)) == (n_train, n_val, n_test)
    assert not rows(task.val) & rows(task.test)
    assert not rows(task.train) & rows(task.val)
    assert set(task.train.tensors[1].tolist()) == set(range(10))


def test_class_spec_splits_train_and_test_by_class():
    task = get_task("digits")
    split = task.split("class:3")
    assert set(split.forget.tensors[1].tolist()) == {3}
    assert 3 not in split.retain.tensors[1].tolist()
    assert len(split.forget) + len(split.retain) == len(task.train)
    assert 3 not in split.test.tensors[1].tolist() and set(split.forget_test.tensors[1].tolist()) == {3}
    assert 3 not in split.val.tensors[1].tolist() and len(split.forget_val) > 0
    assert split.forget_class == 3


def test_random_spec_is_the_same_set_every_time_and_disjoint_from_retain():
    task = get_task("mnist1d")
    a, b = task.split("random:0.1"), task.split("random:0.1")
    assert torch.equal(a.forget_ids, b.forget_ids)
    assert len(a.forget) == 360 and len(a.retain) == 3240
    assert not rows(a.forget) & rows(a.retain)
    assert a.forget_test is None and len(a.test) == 1000


def test_ids_spec_reads_indices_and_comments(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("# users who asked\n5\n0\n\n17  # late request\n")
    split = get_task("digits").split(f"ids:{path}")
    assert split.forget_ids.tolist() == [0, 5, 17]
    x, y = get_task("digits").train.tensors
    assert torch.equal(split.forget.tensors[0], x[[0, 5, 17]])


@pytest.mark.parametrize("content, message", [
    ("1\n2\n5000\n", r"forget ids out of range .*\[5000\].*1293 examples"),
    ("-1\n", r"out of range"),
    ("1\n2\n1\n", r"duplicated forget ids .*\[1\]"),
    ("# nobody\n", r"the forget set is empty"),
    ("3\nabc\n", r"'abc' is not an integer"),
    ("\n".join(map(str, range(1293))), r"whole training set"),
])
def test_bad_ids_files_are_refused(tmp_path, content, message):
    path = tmp_path / "ids.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        get_task("digits").split(f"ids:{path}")


@pytest.mark.parametrize("spec, message", [
    ("class:10", "out of range"), ("class:x", "integer"), ("random:1.5", r"\(0, 1\)"),
    ("random:0", r"\(0, 1\)"), ("stuff:1", "unknown forget spec kind"), ("class3", "bad forget spec"),
    ("ids:/nonexistent/file", "does not exist"),
])
def test_bad_forget_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        get_task("digits").split(spec)


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'cifar'.*digits, mnist1d"):
        get_task("cifar")


def test_mnist1d_random_forgetting_has_a_real_generalisation_gap():
    """The retrained model must do at least 10 points worse on a random 10% forget set
    than the original, or random forgetting would test nothing."""
    task = get_task("mnist1d")
    split = task.split("random:0.1")
    original, _ = train_from_scratch(task, task.train, seed=0)
    retrained, _ = train_from_scratch(task, split.retain, seed=0)
    gap = accuracy(original, split.forget) - accuracy(retrained, split.forget)
    assert gap >= 0.10, gap
    assert accuracy(original, split.retain) > 0.99  # it memorises its training set


def test_spec_text_round_trips():
    assert ForgetSpec.parse("random:0.25").value == 0.25
    assert ForgetSpec.parse("class:7").text == "class:7"
