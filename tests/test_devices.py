"""Devices, dtypes and precision: what breaks on a GPU breaks here first.

Every method of every track runs on a float64 model (bench/device_check.py in quick
mode), with forward hooks asserting that every input is on the model's device and
every floating layer input has the model's dtype: a method that creates a tensor
without taking the model's device and dtype fails there, as it would on CUDA.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import obliviate
from obliviate.core.devices import placement, resolve_device
from obliviate.core.store import ModelKey, Store

ROOT = Path(__file__).resolve().parent.parent


def _device_check():
    if "device_check" not in sys.modules:  # bench/ is not a package: load the script as a module
        spec = importlib.util.spec_from_file_location("device_check", ROOT / "bench" / "device_check.py")
        module = sys.modules["device_check"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["device_check"]


@pytest.mark.slow
@pytest.mark.parametrize("track", ["classifier", "lm", "diffusion"])
def test_every_method_runs_on_a_float64_model_and_matches_float32(track):
    lines = _device_check().check("cpu", "float64", quick=True, tracks=[track], say=lambda text: None)
    names = {m["name"] for m in obliviate.methods(track)}
    assert {x.method for x in lines} == names  # every registered method was run
    bad = [x.text() for x in lines if x.status != "ok"]
    assert not bad, "\n".join(bad)


def test_the_guard_names_the_module_that_got_a_wrong_input():
    check = _device_check()
    model = nn.Sequential(nn.Linear(3, 2)).double()
    guard = check.DeviceGuard([model], torch.device("cpu"), torch.float64)
    try:
        model(torch.zeros(1, 3, dtype=torch.float64))  # right dtype: passes
        with pytest.raises(AssertionError, match=r"0 \(Linear\) got a torch.float32 input, the model is torch.float64"):
            model(torch.zeros(1, 3))
    finally:
        guard.remove()
    model(torch.zeros(1, 3, dtype=torch.float64))


def test_device_names_resolve_or_fail_in_one_line():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else
                                           "mps" if torch.backends.mps.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available on this machine"):
            resolve_device("cuda:1")


def test_unlearn_keeps_the_model_where_it_is_and_moves_only_the_copy(digits_class3):
    _, split, original, _ = digits_class3
    model = original.double()  # the caller's model stays float64 on the CPU, untouched
    try:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        result = obliviate.unlearn(model, split.forget, split.retain, method="rl", epochs=1, device="cpu")
        assert placement(result.model) == placement(model)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    finally:
        original.float()


def test_precision_autocasts_the_loop_and_one_shot_methods_refuse_it(digits_class3):
    _, split, original, _ = digits_class3
    fp32 = obliviate.unlearn(original, split.forget, split.retain, method="ft", epochs=1)
    bf16 = obliviate.unlearn(original, split.forget, split.retain, method="ft", epochs=1, precision="bf16")
    fp16 = obliviate.unlearn(original, split.forget, split.retain, method="ft", epochs=1, precision="fp16")
    assert bf16.hparams["precision"] == "bf16" and fp16.hparams["precision"] == "fp16"
    assert bf16.history != fp32.history  # the loss really ran in bfloat16
    assert abs(bf16.history[0] - fp32.history[0]) < 0.05 and abs(fp16.history[0] - fp32.history[0]) < 0.05
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # weights stay fp32 (autocast)
    with pytest.raises(ValueError, match="unknown hyperparameter 'precision' for method 'ssd'"):
        obliviate.unlearn(original, split.forget, split.retain, method="ssd", precision="bf16")
    with pytest.raises(ValueError, match="ft.precision must be one of 'fp32', 'bf16', 'fp16'"):
        obliviate.unlearn(original, split.forget, split.retain, method="ft", precision="fp8")


def test_streamed_datasets_with_workers_give_the_same_model(own_blobs):
    model, forget, retain, _ = own_blobs
    plain = obliviate.unlearn(model, forget, retain, method="rl", epochs=2)
    workers = obliviate.unlearn(model, forget, retain, method="rl", epochs=2, num_workers=2, pin_memory=False)
    for a, b in zip(plain.model.parameters(), workers.model.parameters()):
        assert torch.equal(a, b)


def test_a_tensor_subset_is_gathered_once_and_gives_the_same_numbers(digits_class3):
    from obliviate.classify.data import gathered

    _, split, original, _ = digits_class3
    x, y = split.retain.tensors
    half = Subset(split.retain, list(range(0, len(y), 2)))
    as_tensors = gathered(half)
    assert isinstance(as_tensors, TensorDataset) and torch.equal(as_tensors.tensors[0], x[::2])
    a = obliviate.unlearn(original, split.forget, half, method="ga", epochs=2, early_stop=False)
    b = obliviate.unlearn(original, split.forget, as_tensors, method="ga", epochs=2, early_stop=False)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_the_store_keeps_cpu_tensors_and_only_the_main_process_writes(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    key = ModelKey("t", "original", "r", 0)
    store.save_model(key, {"w": torch.ones(2, dtype=torch.float64)}, {"seconds": 1.0})
    state, _ = store.load_model(key)
    assert state["w"].device.type == "cpu" and state["w"].dtype == torch.float64
    monkeypatch.setenv("RANK", "1")  # another process of torchrun / accelerate launch
    other = Store(tmp_path / "other")
    other.save_model(key, {"w": torch.ones(2)}, {"seconds": 1.0})
    other.record_runs("b", [{"task": "t", "forget": "f", "method": "m", "seed": 0}])
    assert not (tmp_path / "other").exists()


def test_cli_device_flag_is_checked_before_any_work(tmp_path, capsys):
    from obliviate.cli import main

    code = main(["--home", str(tmp_path / "h"), "bench", "--task", "digits", "--forget", "class:3",
                 "--methods", "ft", "--device", "quantum"])
    assert code == 2 and "unknown device 'quantum'" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()
