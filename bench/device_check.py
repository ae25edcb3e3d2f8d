"""Every method of every track on one device, against the same run on the CPU.

    .venv/bin/python bench/device_check.py --device cuda            # on a GPU machine (< 5 min)
    .venv/bin/python bench/device_check.py --device cpu --dtype float64 --quick   # the test suite's strict run

For each track a tiny built-in model (digits' SmallCNN trained on a subset; a 2-layer
GPT-2 on a small tofu-mini corpus; digits-canvas' UNet) is unlearned with every
registered method, once on the CPU in float32 (the reference) and once on
``--device`` in ``--dtype``. During the device run, forward pre-hooks on every
module assert that each input tensor is on the model's device and that each
floating input of a layer with parameters has the model's dtype: a tensor a method
created on the CPU (or in float32) fails there with the module's name. Afterwards
every parameter and buffer must still be on the device. Each method's scores (forget
/ retain accuracy for classifiers, answer probability for language models, denoising
loss for diffusion models) must match the CPU run within a tolerance.

One line per method; exit status 1 if any method failed or differed.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

TOLERANCE = {"classifier": 5.0, "lm": 5.0, "diffusion": 0.05}  # points (percent) / absolute loss
BUDGET = {  # small runs: the check is about where tensors live, not how well a method forgets
    "classifier": {"epochs": 2},
    "lm": {"epochs": 1.0},
    "diffusion": {"iterations": 2, "epochs": 1, "batch_size": 8},
}


@dataclass
class Line:
    track: str
    method: str
    status: str  # ok, DIFFERS, FAILED
    reference: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    def text(self) -> str:
        show = lambda d: " ".join(f"{k} {v:.3f}" for k, v in d.items())  # noqa: E731
        detail = self.error or f"cpu: {show(self.reference)} | device: {show(self.measured)}"
        return f"{self.track:<10} {self.method:<16} {self.status:<8} {self.seconds:6.1f} s  {detail}"


class DeviceGuard:
    """Forward pre-hooks asserting every input's device (and layer inputs' dtype)."""

    def __init__(self, modules: list[nn.Module], device: torch.device, dtype: torch.dtype):
        self.device, self.dtype, self.handles = device, dtype, []
        for root in modules:
            for name, module in root.named_modules():
                self.handles.append(module.register_forward_pre_hook(self._hook(name or type(root).__name__, module)))

    def _hook(self, name: str, module: nn.Module):
        has_params = any(True for _ in module.parameters(recurse=False))

        def check(_, inputs):
            for t in _tensors(inputs):
                if t.device.type != self.device.type or (self.device.index is not None and t.device != self.device):
                    raise AssertionError(f"{name} ({type(module).__name__}) got an input on {t.device}, "
                                         f"the model is on {self.device}")
                if has_params and t.is_floating_point() and t.dtype != self.dtype:
                    raise AssertionError(f"{name} ({type(module).__name__}) got a {t.dtype} input, "
                                         f"the model is {self.dtype}")
        return check

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


@contextmanager
def _guarded(modules: list[nn.Module], device: torch.device, dtype: torch.dtype, on: bool):
    """Device guards on ``modules`` while the block runs (the unlearning call's deep copy
    of the model copies the hooks too, so the copy that is trained is guarded)."""
    guard = DeviceGuard(modules, device, dtype) if on else None
    try:
        yield
    finally:
        if guard is not None:
            guard.remove()


def _budget(track: str, method: str) -> dict:
    """The track's small budget, limited to the hyperparameters ``method`` has."""
    from obliviate.core.registry import get_method

    defaults = get_method(method, track).defaults()
    return {k: v for k, v in BUDGET[track].items() if k in defaults}


def _left_on_another_device(modules: list[nn.Module], device: torch.device) -> list[str]:
    return [f"{type(m).__name__}.{n}" for m in modules for n, t in [*m.named_parameters(), *m.named_buffers()]
            if t.device.type != device.type]


# -- the tracks' tiny settings ---------------------------------------------------------

def classifier_setting(quick: bool):
    from torch.utils.data import Subset

    from obliviate.classify.tasks import get_task
    from obliviate.classify.training import train_from_scratch

    task = get_task("digits")
    n = 400 if quick else 1200
    train = Subset(task.train, list(range(n)))
    original, _ = train_from_scratch(task, train, seed=0)
    y = task.train.tensors[1][:n]
    forget = Subset(task.train, [i for i in range(n) if y[i] == 3])
    retain = Subset(task.train, [i for i in range(n) if y[i] != 3])
    return original, forget, retain, task.val


def classifier_run(setting, method: str, device: torch.device, dtype: torch.dtype, guard: bool):
    from obliviate.classify.unlearn import unlearn_classifier

    original, forget, retain, holdout = setting
    model = copy.deepcopy(original).to(device=device, dtype=dtype)
    with _guarded([model], device, dtype, guard):
        result = unlearn_classifier(model, forget, retain, method, 0, _budget("classifier", method), holdout=holdout,
                                    device=device)
    left = _left_on_another_device([result.model], device)
    return {"forget_acc": result.after["forget_acc"], "retain_acc": result.after["retain_acc"]}, left


def lm_setting(quick: bool):
    from obliviate.core.store import Store
    from obliviate.lm.corpus import TofuCorpus
    from obliviate.lm.models import LMRecipe, TinyLM
    from obliviate.lm.task import TofuMiniTask

    import tempfile

    task = TofuMiniTask(corpus=TofuCorpus(n_people=10, n_holdout=4, questions_per_person=4, retain_eval_size=12),
                        model=TinyLM(hidden=32, layers=2, heads=2, intermediate=64),
                        recipe=LMRecipe(epochs=8 if quick else 20, lr=1e-2, batch_size=16), vocab_size=384)
    store = Store(tempfile.mkdtemp(prefix="obliviate-device-check-"))
    original, tokenizer, _ = task.model_for(store, "original", 0)
    split = task.split("forget10")
    return original, tokenizer, split


def lm_run(setting, method: str, device: torch.device, dtype: torch.dtype, guard: bool):
    from obliviate.lm.unlearn import unlearn_lm

    original, tokenizer, split = setting
    model = copy.deepcopy(original).to(device=device, dtype=dtype)
    with _guarded([model], device, dtype, guard):
        result = unlearn_lm(model, tokenizer, split.forget, split.retain, method, 0, dict(BUDGET["lm"]), device=device)
    left = _left_on_another_device([result.model], device)
    return {"forget_prob": result.after["forget_acc"], "retain_prob": result.after["retain_acc"]}, left


def diffusion_setting(quick: bool):
    from dataclasses import replace

    from obliviate.diffusion.loop import Images
    from obliviate.diffusion.task import CANVAS_TASKS

    task = CANVAS_TASKS["digits-canvas"]
    data = task.erase_data("object:3")
    n = 16
    cut = lambda imgs: Images(imgs.latents[:n], imgs.prompts[:n])  # noqa: E731
    data = replace(data, forget=cut(data.forget), substitutes=data.substitutes[:n], anchor=cut(data.anchor),
                   ablated=data.ablated[:n], retain=cut(data.retain))
    return task.new_model(), data


def diffusion_run(setting, method: str, device: torch.device, dtype: torch.dtype, guard: bool):
    import diffusers

    from obliviate.diffusion.unlearn import unlearn_diffusion

    diffusers.utils.logging.set_verbosity_error()  # it warns about casting a UNet with .to(dtype)
    model, data = setting
    model = copy.deepcopy(model)
    model.unet.to(dtype)
    model.encoder.to(dtype)
    model = model.to(device)
    with _guarded([model.unet], device, dtype, guard):
        result = unlearn_diffusion(model, data, method, 0, _budget("diffusion", method), device=device)
    left = _left_on_another_device([result.model.unet], device)
    return dict(result.after), left


TRACKS = {"classifier": (classifier_setting, classifier_run), "lm": (lm_setting, lm_run),
          "diffusion": (diffusion_setting, diffusion_run)}


def check(device: str = "cuda", dtype: str = "float32", quick: bool = False, tracks=None, methods=None,
          say=print) -> list[Line]:
    """Run the check; returns one :class:`Line` per method (and prints it)."""
    import obliviate
    from obliviate.core.devices import resolve_device

    target, precision = resolve_device(device), getattr(torch, dtype)
    lines = []
    for track, (make, run) in TRACKS.items():
        if tracks and track not in tracks:
            continue
        setting = make(quick)
        names = [m["name"] for m in obliviate.methods(track) if not methods or m["name"] in methods]
        for method in names:
            start = time.perf_counter()
            line = Line(track, method, "ok")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    line.reference, _ = run(setting, method, torch.device("cpu"), torch.float32, guard=False)
                    line.measured, left = run(setting, method, target, precision, guard=True)
                if left:
                    line.status, line.error = "FAILED", f"left on another device: {left[:3]}"
                else:
                    worst = max(abs(line.measured[k] - line.reference[k]) for k in line.reference)
                    if not worst <= TOLERANCE[track]:  # also catches NaN
                        line.status = "DIFFERS"
            except Exception as err:  # noqa: BLE001 - every method gets its line
                line.status = "FAILED"
                line.error = f"{type(err).__name__}: {err}".splitlines()[0][:300]
                if "-v" in sys.argv:
                    traceback.print_exc()
            line.seconds = time.perf_counter() - start
            lines.append(line)
            say(line.text())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64", "bfloat16"))
    parser.add_argument("--quick", action="store_true", help="smaller tiny models (the test suite's mode)")
    parser.add_argument("--tracks", help="comma-separated tracks (default: all)")
    parser.add_argument("--methods", help="comma-separated methods (default: all)")
    parser.add_argument("--json", help="write the lines to this file")
    parser.add_argument("-v", action="store_true", help="print tracebacks of failures")
    args = parser.parse_args()
    import platform

    torch.manual_seed(0)
    print(f"device check: {args.device} ({torch.cuda.get_device_name() if args.device.startswith('cuda') else platform.processor() or platform.machine()}), "
          f"{args.dtype}, torch {torch.__version__}")
    start = time.perf_counter()
    lines = check(args.device, args.dtype, args.quick, args.tracks and args.tracks.split(","),
                  args.methods and args.methods.split(","))
    bad = [x for x in lines if x.status != "ok"]
    print(f"{len(lines) - len(bad)} ok, {len(bad)} not ok, {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(x) for x in lines], f, indent=1)
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
