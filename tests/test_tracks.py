"""A track is a plug-in: registering one object makes bench, tasks, tables, the report and
the CLI reach it, with no change to any of them."""

import pytest

import obliviate
from obliviate import bench, report, suite
from obliviate.core import track as tracks
from obliviate.core.rows import summary_cells
from obliviate.core.track import Track, register_track, track_for_model, track_named


class Plan:
    def __init__(self, task, forget, methods, seeds):
        self.task, self.forget, self.methods, self.seeds, self.tuned = type("T", (), {"name": task}), forget, \
            methods, seeds, {}


class CoinTrack(Track):
    """A toy track: a 'model' is a biased coin, unlearning moves its bias toward 0.5."""

    name = "coins"
    description = "biased coins"
    tradeoff_axes = (("bias", "fairness", "bias", "fairness"),)

    def owns_model(self, model):
        return isinstance(model, float)

    def task_names(self):
        return ("coin",)

    def tasks(self):
        return [{"name": "coin", "track": self.name, "description": "one biased coin", "forget_specs": "heads"}]

    def plan_bench(self, task, forget, methods, seeds, hparams, device=None):
        if forget != "heads":
            raise ValueError(f"unknown forget spec {forget!r} for coin; use heads")
        return Plan(task, forget, methods, seeds)

    def run_bench(self, plan, store, *, show_progress=True, console=None):
        rows = []
        for seed in plan.seeds:
            for i, method in enumerate(plan.methods):
                bias = 0.9 / (i + 1) + 0.01 * seed
                rows.append({"task": "coin", "forget": plan.forget, "method": method, "seed": seed, "flags": [],
                             "metrics": {"bias": bias, "fairness": 1 - abs(bias - 0.5), "seconds": 0.1}})
        return rows

    def table_cells(self, rows):
        return summary_cells(rows, [("bias", "bias", 2), ("fairness", "fairness", 2)])

    def distance_to_retrain(self, row):
        return abs(row["metrics"]["bias"] - 0.5), "|bias − 0.5|"


@pytest.fixture
def coins():
    register_track(CoinTrack())
    yield
    del tracks._TRACKS["coins"]


def test_a_registered_track_is_reached_by_every_command(coins, tmp_path):
    assert "coin" in {t["name"] for t in obliviate.tasks()}
    assert track_for_model(0.7).name == "coins" and track_named("coins").description == "biased coins"
    plan = bench.plan("coin", "heads", ["original", "flip"], [0, 1])
    rows = bench.run(plan, store=None)
    header, body = bench.table_cells(rows)
    assert header == ["method", "bias", "fairness", "time(s)", "flags"]
    assert body[1][:2] == ["flip", "0.46±0.01"]
    html = report.build_report(rows)
    assert "id='tradeoff'" in html and "id='time-vs-gap'" in html and "|bias − 0.5|" in html
    with pytest.raises(ValueError, match="obliviate eval does not run on the coins track"):
        suite.plan_eval("coin", "heads", ["flip"], "full", 4)
    with pytest.raises(ValueError, match="unknown forget spec 'tails' for coin"):
        bench.plan("coin", "tails", ["flip"], [0])


def test_unknown_tasks_list_every_tracks_tasks():
    with pytest.raises(ValueError, match="unknown task 'cifar11'; valid tasks: digits, mnist1d, cifar10, cifar100, imagefolder, tofu-mini, tofu-mini-text, digits-canvas"):
        bench.plan("cifar11", "class:3", ["ft"], [0])
