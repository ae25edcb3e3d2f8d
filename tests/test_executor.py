"""One executor for independent trainings: serial, local processes, Ray. Same seeds give
the same numbers on every backend, and only the driver writes the store."""

import os

import pytest
import torch

from obliviate import bench, suite
from obliviate.core.executor import Processes, Ray, Serial, make_executor
from obliviate.core.store import ModelKey, Store, collecting_writes
from obliviate.exact import SISAEnsemble


def _write_from_a_job(args):
    root, seed = args
    torch.manual_seed(seed)
    Store(root).save_model(ModelKey("t", "original", "r", seed), {"w": torch.randn(3)}, {"pid": os.getpid()})
    return os.getpid()


def test_store_writes_in_a_job_are_collected_and_written_by_the_driver(tmp_path):
    with collecting_writes() as writes:  # what a worker does
        _write_from_a_job((str(tmp_path), 0))
    assert not (tmp_path / "index.sqlite").exists() and len(writes) == 1
    pids = Processes(2).map(_write_from_a_job, [(str(tmp_path), s) for s in range(4)])
    assert os.getpid() not in pids  # the jobs ran elsewhere ...
    store = Store(tmp_path)
    for seed in range(4):  # ... and their writes reached the store through this process
        state, meta = store.load_model(ModelKey("t", "original", "r", seed))
        torch.manual_seed(seed)
        assert torch.equal(state["w"], torch.randn(3)) and meta["pid"] in pids


def test_bad_executor_options_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown backend 'spark'"):
        make_executor("spark")
    with pytest.raises(ValueError, match="--address is the Ray cluster's: it needs --backend ray"):
        make_executor("processes", 2, "10.0.0.1:6379")
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        make_executor("processes", 0)
    assert isinstance(make_executor("serial"), Serial) and isinstance(make_executor("serial", 3), Processes)
    assert make_executor("processes", 2).threads == max(1, os.cpu_count() // 2)  # the cores shared, not oversubscribed
    with pytest.raises(ValueError, match="--threads must be >= 1"):
        make_executor("serial", threads=0)


def _metrics(rows):
    """Every number of the rows but wall times."""
    return [(r["method"], r.get("seed"), {k: v for k, v in r["metrics"].items() if "seconds" not in k},
             r.get("forget_confidence")) for r in rows]


@pytest.fixture
def one_thread():
    """The serial runs at one torch thread, as the parallel jobs below: torch's CPU kernels
    split reductions by thread, so the thread count is part of what makes numbers equal."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def serial_eval(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan = suite.plan_eval("digits", "class:3", ["retrain", "ssd"], "challenge", n_models=4)
        return plan, suite.run_eval(plan, Store(tmp_path_factory.mktemp("serial")))
    finally:
        torch.set_num_threads(before)


def test_eval_on_local_processes_gives_the_serial_numbers(serial_eval, tmp_path, one_thread):
    plan, rows = serial_eval
    with Processes(2, threads=1) as executor:
        parallel = suite.run_eval(plan, Store(tmp_path), executor=executor)
    assert _metrics(parallel) == _metrics(rows)
    assert len(Store(tmp_path).models()) == 1 + 8  # the original and 2 x 4 retrained models, written here


def test_bench_seeds_on_local_processes_give_the_serial_rows_recorded_as_one_run(tmp_path, one_thread):
    plan = bench.plan("digits", "class:3", ["retrain", "ssd"], [0, 1])
    serial = bench.run(plan, Store(tmp_path / "a"), show_progress=False)
    with Processes(2, threads=1) as executor:
        parallel = bench.run(plan, Store(tmp_path / "b"), show_progress=False, executor=executor)
    assert _metrics(parallel) == _metrics(serial)
    assert _metrics(Store(tmp_path / "b").latest_runs("digits", "class:3")) == _metrics(serial)


def test_sisa_shards_on_local_processes_give_the_serial_ensemble(one_thread):
    from torch import nn
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    data = TensorDataset(torch.randn(120, 4, generator=g) + nn.functional.one_hot(y, 4).float() * 2, y)
    make = lambda: SISAEnsemble(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), 3, 3, 2,  # noqa: E731
                                dict(epochs=4, batch_size=16), seed=3)
    serial = make().fit(data)
    with Processes(2, threads=1) as executor:
        parallel = make().fit(data, executor=executor)
    assert all(torch.equal(a, b) for a, b in zip(serial.state_dict().values(), parallel.state_dict().values()))
    assert serial.manifests() == parallel.manifests()


def test_eval_on_a_local_ray_instance_gives_the_serial_numbers(serial_eval, tmp_path, one_thread):
    pytest.importorskip("ray", reason="the [ray] extra (CI installs it)")
    plan, rows = serial_eval
    with Ray(workers=2, threads=1) as executor:
        parallel = suite.run_eval(plan, Store(tmp_path), executor=executor)
    assert _metrics(parallel) == _metrics(rows)
    with pytest.raises(ValueError, match="cannot connect to the Ray cluster at 127.0.0.1:9"):
        Ray(address="127.0.0.1:9")


def test_tune_trials_in_parallel_rounds_give_the_serial_search(tmp_path, one_thread):
    from obliviate.tune import tune

    store = Store(tmp_path)
    serial = tune("digits", "class:3", "ssd", 4, store=store, parallel_trials=2)
    with Processes(2, threads=1) as executor:
        parallel = tune("digits", "class:3", "ssd", 4, store=store, parallel_trials=2, executor=executor)
    assert parallel == serial and serial["_tuned"]["ssd"]["parallel_trials"] == 2
    assert len(serial["_tuned"]["ssd"]["trial_gaps"]) == 4
    with pytest.raises(ValueError, match="--parallel-trials must be >= 1"):
        tune("digits", "class:3", "ssd", 4, store=store, parallel_trials=0)
