"""Streaming forgetting: the stream:K:FRAC forget spec and bench's request-by-request scores."""

import pytest
import torch

from obliviate.classify.tasks import ForgetSpec, get_task, stream_step


def test_stream_spec_parses_and_refuses_bad_values():
    assert ForgetSpec.parse("stream:4:0.05").value == (4, 0.05)
    for bad in ("stream:4", "stream:0:0.1", "stream:20:0.1", "stream:x:0.1"):
        with pytest.raises(ValueError, match="stream"):
            ForgetSpec.parse(bad)


def test_stream_requests_are_disjoint_and_each_step_retains_what_no_request_deleted():
    task = get_task("digits")
    split = task.split("stream:3:0.05")
    n = len(task.train)
    sizes = [len(ids) for ids in split.stream_ids]
    assert sizes == [round(0.05 * n)] * 3
    union = torch.cat(split.stream_ids)
    assert len(union.unique()) == len(union) and torch.equal(union.sort().values, split.forget_ids)
    for k in (1, 2, 3):
        step = stream_step(task, split, k)
        assert torch.equal(step.forget_ids, split.stream_ids[k - 1])
        assert len(step.retain) == n - sum(sizes[:k]) and step.spec.text == f"stream:3:0.05@{k}"
    assert len(stream_step(task, split, 3).retain) == len(split.retain)


def test_bench_unlearns_the_requests_in_turn_and_scores_after_each(tmp_path):
    from obliviate import bench
    from obliviate.core.store import Store

    rows = bench.run(bench.plan("digits", "stream:3:0.05", ["retrain", "ft"], [0]), Store(tmp_path),
                     show_progress=False)
    ft = next(r for r in rows if r["method"] == "ft")
    assert [s["request"] for s in ft["stream"]] == [1, 2, 3]
    # the row's scores are those after the last request, against the model retrained without all of them
    assert ft["stream"][-1]["forget_acc"] == pytest.approx(ft["metrics"]["forget_acc"])
    assert ft["metrics"]["seconds"] == pytest.approx(sum(s["seconds"] for s in ft["stream"]))
    assert all(s["test_acc"] > 90 for s in ft["stream"])
