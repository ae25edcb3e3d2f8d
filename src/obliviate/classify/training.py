"""Training a task's model from scratch with its recipe (the original and the retrained
reference), and caching those models in the store."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable

import torch
from torch import nn

from obliviate.classify.data import UnlearnData
from obliviate.classify.loop import warm_up
from obliviate.core.devices import resolve_device
from obliviate.core.registry import build
from obliviate.core.seeding import seed_everything
from obliviate.core.store import ModelKey, Store


def forget_key(split: Any) -> str:
    """A stable name of a split's forget set for the store (ids files are named by content)."""
    if split.spec.kind == "ids":
        digest = hashlib.sha256(split.forget_ids.numpy().tobytes()).hexdigest()[:16]
        return f"ids:{digest}"
    return split.spec.text


def train_from_scratch(task: Any, data, seed: int, progress: Callable[[int, int, float], None] | None = None,
                       device: str | torch.device | None = None) -> tuple[nn.Module, float]:
    """Train ``task``'s model (a :class:`~obliviate.classify.tasks.ClassifierTask`) on
    ``data`` with the task's recipe (the ``retrain`` method), on ``device`` (default CPU)."""
    torch.manual_seed(seed)
    model = task.make_model().to(resolve_device(device))
    recipe = build("retrain", task.recipe, "classifier")
    generator = seed_everything(seed)
    warm_up()
    start = time.perf_counter()
    recipe.apply(model, UnlearnData(forget=data, retain=data, num_classes=task.num_classes), generator, progress)
    return model, time.perf_counter() - start


def cached_model(store: Store, task: Any, kind: str, seed: int, split: Any, progress=None,
                 device: str | torch.device | None = None) -> tuple[nn.Module, float, bool]:
    """The original (``kind="original"``) or retrained reference model for ``seed``,
    from the store or trained now and stored, on ``device``. Returns (model, training
    seconds, cached?)."""
    own_train = getattr(split, "train", None) is not None  # the original trains on the split's data (poison)
    key = ModelKey(task.name, kind, task.recipe_digest(), seed,
                   "" if kind == "original" and not own_train else forget_key(split))
    hit = store.load_model(key)
    if hit is not None:
        state, meta = hit
        model = task.make_model()
        model.load_state_dict(state)
        model.to(resolve_device(device)).eval()
        return model, float(meta["seconds"]), True
    data = split.retain if kind == "retrain" else split.train if own_train else task.train
    model, seconds = train_from_scratch(task, data, seed, progress, device)
    store.save_model(key, model.state_dict(),
                     {"seconds": seconds, "recipe": task.recipe, "n_train": len(data), "forget": key.forget})
    return model, seconds, False


def load_weights(task, path) -> nn.Module:
    """``task``'s model with the weights of a ``.safetensors`` file (one-line errors for a
    missing file or weights of another architecture)."""
    from pathlib import Path

    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    model = task.make_model()
    state = load_file(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"{path} does not hold {task.name}'s {type(model).__name__} weights: {first}") from None
    return model.eval()
