import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

from obliviate.core.store import ModelKey, Store, default_home, write_text_atomic


def state(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.randn(3, generator=g)}


def test_home_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OBLIVIATE_HOME", str(tmp_path / "x"))
    assert default_home() == tmp_path / "x"
    assert Store().root == tmp_path / "x"
    assert Store(tmp_path / "y").root == tmp_path / "y"  # an explicit flag wins


def test_round_trip_of_weights_metadata_and_runs(tmp_path):
    store = Store(tmp_path / "home")
    key = ModelKey("digits", "retrain", "abc", 0, "class:3")
    assert store.load_model(key) is None
    assert not (tmp_path / "home").exists()  # reading creates nothing
    store.save_model(key, state(), {"seconds": 1.5})
    loaded, meta = store.load_model(key)
    assert meta == {"seconds": 1.5}
    for k, v in state().items():
        assert torch.equal(loaded[k], v)
    assert store.load_model(ModelKey("digits", "retrain", "abc", 1, "class:3")) is None
    store.record_runs("b1", [{"task": "digits", "forget": "class:3", "method": "ga", "seed": 0, "x": 1}])
    assert store.runs(task="digits")[0]["x"] == 1
    assert store.runs(task="mnist1d") == []
    assert [m["kind"] for m in store.models()] == ["retrain"]


def test_a_failure_mid_write_leaves_no_entry_and_no_temporary_file(tmp_path, monkeypatch):
    store = Store(tmp_path)
    key = ModelKey("t", "original", "r", 0)
    store.save_model(ModelKey("t", "original", "r", 1), state(1), {})

    def crash(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("obliviate.core.store.save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save_model(key, state(), {})
    monkeypatch.undo()
    assert store.load_model(key) is None
    assert store.load_model(ModelKey("t", "original", "r", 1)) is not None
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".tmp")]
    store.save_model(key, state(), {"again": True})  # the next run goes on
    assert store.load_model(key)[1] == {"again": True}
    store.save_model(key, state(2), {"third": True})  # a new version replaces the old file
    assert len(list((tmp_path / "models").glob(f"{key.digest()}-*"))) == 1


WRITER = textwrap.dedent("""
    import sys, torch
    from obliviate.core.store import ModelKey, Store
    store = Store(sys.argv[1])
    i = 0
    while True:
        big = {"w": torch.full((256, 1024), float(i))}  # 1 MB per entry
        store.save_model(ModelKey("t", "original", "r", i % 7), big, {"i": i})
        store.record_runs("b", [{"task": "t", "forget": "", "method": "m", "seed": i, "i": i}])
        i += 1
""")


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.1])
def test_a_killed_writer_leaves_a_readable_store(tmp_path, delay):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    time.sleep(delay + 1.5)  # import time, then some writes
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no entry may look damaged
        for seed in range(7):
            hit = store.load_model(ModelKey("t", "original", "r", seed))
            if hit is not None:  # every indexed entry is complete and consistent
                weights, meta = hit
                assert torch.all(weights["w"] == float(meta["i"]))
    runs = store.runs()
    assert [r["i"] for r in runs] == list(range(len(runs)))
    store.save_model(ModelKey("t", "original", "r", 0), state(), {"after": True})
    assert store.load_model(ModelKey("t", "original", "r", 0))[1] == {"after": True}


def test_a_damaged_file_counts_as_missing(tmp_path):
    store = Store(tmp_path)
    key = ModelKey("t", "original", "r", 0)
    store.save_model(key, state(), {})
    [path] = (tmp_path / "models").glob(f"{key.digest()}-*.safetensors")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="damaged"):
        assert store.load_model(key) is None


def test_loading_never_unpickles(tmp_path):
    store = Store(tmp_path)
    key = ModelKey("t", "original", "r", 0)
    store.save_model(key, state(), {})
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    [path] = (tmp_path / "models").glob(f"{key.digest()}-*.safetensors")
    path.write_bytes(pickle.dumps(Evil()))
    import hashlib
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(tmp_path / "index.sqlite") as db:  # make the index trust the file
        db.execute("UPDATE models SET sha256 = ?", (sha,))
    with pytest.warns(UserWarning):
        assert store.load_model(key) is None
    assert not marker.exists()


def test_write_text_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
