"""The regression track: its task, metrics, loop and the Blindspot method's defining
property (Tarun et al., "Deep Regression Unlearning", ICML 2023)."""

import copy

import pytest
import torch

import obliviate
from obliviate.regress.loop import RegressionData, mse
from obliviate.regress.tasks import get_task


def test_the_track_is_a_plug_in_with_its_task_and_methods():
    assert {"diabetes"} <= {t["name"] for t in obliviate.tasks() if t["track"] == "regress"}
    assert {m["name"] for m in obliviate.methods("regress")} == {"retrain", "ft", "ga", "neggrad_plus", "blindspot"}


def test_diabetes_splits_and_refuses_bad_specs():
    task = get_task("diabetes")
    n = len(task.train)
    assert len(task.split("random:0.1").forget) == round(0.1 * n)
    low = task.split("range:0:100")
    targets = low.forget.tensors[1] * task.target_scale + task._data["targets"].mean()
    assert (targets < 100 + 1e-3).all() and len(low.retain) + len(low.forget) == n
    for bad in ("class:3", "random:2", "range:5", "range:1000:2000"):
        with pytest.raises(ValueError):
            task.split(bad)


def test_r2_is_scikit_learns():
    from sklearn.metrics import r2_score

    from obliviate.regress.metrics import r2, rmse

    y = torch.tensor([[3.0], [-0.5], [2.0], [7.0]])
    pred = torch.tensor([[2.5], [0.0], [2.0], [8.0]])
    assert r2(pred, y) == pytest.approx(r2_score(y.numpy(), pred.numpy()))  # 0.9486
    assert rmse(pred, y) == pytest.approx((0.375) ** 0.5)


def test_attention_map_of_vectors_and_of_feature_maps():
    from obliviate.regress.methods.blindspot import attention

    torch.testing.assert_close(attention(torch.tensor([[1.0, 2.0]])), torch.tensor([[1.0, 4.0]]) / 17 ** 0.5)
    maps = torch.zeros(1, 2, 1, 2)
    maps[0, 0, 0] = torch.tensor([1.0, 0.0])
    maps[0, 1, 0] = torch.tensor([3.0, 2.0])
    # channel mean of h²: (1 + 9) / 2 = 5 and (0 + 4) / 2 = 2, then L2-normalised
    torch.testing.assert_close(attention(maps), torch.tensor([[5.0, 2.0]]) / 29 ** 0.5)


def test_ascent_stops_once_the_forget_error_reaches_the_held_out_error():
    from obliviate.regress.methods.ga import GradientAscent

    task = get_task("diabetes")
    split = task.split("random:0.1")
    torch.manual_seed(0)
    model = task.make_model()
    from obliviate.regress.bench import train_from_scratch

    model, _ = train_from_scratch(task, task.train, 0)
    target = mse(model, split.val)
    history = GradientAscent().apply(model, RegressionData(split.forget, split.retain, target),
                                     torch.Generator().manual_seed(0))
    assert history.stop_reason and len(history.losses) < GradientAscent().epochs
    if history.stop_reason.startswith("forget"):
        assert mse(model, split.forget) >= target


def test_blindspot_teacher_never_sees_the_forget_set(monkeypatch):
    from obliviate.regress.methods import blindspot as module
    from obliviate.regress.methods.ft import FineTune

    task = get_task("diabetes")
    split = task.split("random:0.1")
    seen = []
    real = FineTune.loss
    monkeypatch.setattr(FineTune, "loss", lambda self, model, forget, retain: seen.append(retain[0]) or
                        real(self, model, forget, retain))
    method = module.Blindspot(epochs=0)
    method.apply(copy.deepcopy(task.make_model()), RegressionData(split.forget, split.retain),
                 torch.Generator().manual_seed(0))
    forget_rows = {tuple(r.tolist()) for r in split.forget.tensors[0]}
    assert seen and not any(tuple(r.tolist()) in forget_rows for batch in seen for r in batch)


def test_bench_rows_blindspot_moves_the_forget_error_toward_retraining(tmp_path):
    from obliviate import bench
    from obliviate.core.store import Store

    rows = bench.run(bench.plan("diabetes", "random:0.1", ["retrain", "blindspot"], [0]), Store(tmp_path),
                     show_progress=False)
    by = {r["method"]: r["metrics"] for r in rows}
    assert by["retrain"]["forget_rmse"] > by["original"]["forget_rmse"] + 5  # the original memorised them
    before = abs(by["original"]["forget_rmse"] - by["retrain"]["forget_rmse"])
    after = abs(by["blindspot"]["forget_rmse"] - by["retrain"]["forget_rmse"])
    assert after < 0.5 * before
    header, body = bench.table_cells(rows)
    assert header[:4] == ["method", "forget RMSE", "retain RMSE", "test RMSE"] and len(body) == 3
