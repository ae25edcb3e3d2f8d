"""Running one classifier method: validate the inputs, copy the model, seed, time,
and check the outcome (did it forget? did it collapse?)."""

from __future__ import annotations

import copy
import time
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from obliviate.classify.data import Data, UnlearnData, batches, gathered, labels, sample, size
from obliviate.classify.loop import LossMethod, ProgressFn, warm_up
from obliviate.core.devices import placement, resolve_device, to_model
from obliviate.core.registry import build, get_method
from obliviate.core.results import UnlearningWarning, UnlearnResult, health_flags
from obliviate.core.seeding import seed_everything

HEALTH_SAMPLE = 4096  # forget / retain examples the health checks score (fixed samples)


def unlearn_classifier(
    model: nn.Module, forget: Data, retain: Data | None, method: str, seed: int,
    hparams: dict[str, Any], progress: ProgressFn | None = None, holdout: Data | None = None,
    device: str | torch.device | None = None,
) -> UnlearnResult:
    """Unlearn on a copy of ``model`` placed on ``device`` (None: where ``model`` is).

    ``.seconds`` is the method's own time; ``.check_seconds`` the health checks around
    it and, for methods with early stopping, the monitor's checks during it."""
    info = get_method(method, "classifier")
    algorithm = build(method, hparams, "classifier")
    if "batch_size" in hparams and any(isinstance(d, DataLoader) for d in (forget, retain)):
        raise ValueError("batch_size conflicts with a DataLoader's own batching: pass Datasets, or drop batch_size")
    target = resolve_device(device) if device is not None else placement(model).device
    forget, retain, holdout = gathered(forget), gathered(retain), gathered(holdout)  # Subsets: gather once
    data = prepare(model, forget, retain, method, info.needs, holdout)
    work = copy.deepcopy(model).to(target)
    generator = seed_everything(seed)
    start = time.perf_counter()
    before = health(work, data)
    checks = time.perf_counter() - start
    if isinstance(algorithm, LossMethod):  # the one-shot methods never step an optimiser
        warm_up()
    start = time.perf_counter()
    history = algorithm.apply(work, data, generator, progress)
    seconds = time.perf_counter() - start - history.check_seconds - history.setup_seconds
    if history.model is not None:  # the method's result is another model (SISA's ensemble)
        work = history.model
    work.eval()
    start = time.perf_counter()
    diverged = history.diverged or not all(torch.isfinite(p).all() for p in work.parameters())
    after = health(work, data)
    checks += time.perf_counter() - start + history.check_seconds
    target_pct = 100 * data.target_forget_acc if data.target_forget_acc is not None else None
    flags = health_flags(before, after, diverged, target_pct)
    if history.rolled_back_to_start:
        flags.append("rolled_back")
    result = UnlearnResult(
        model=work, method=method, hparams=hparams_of(algorithm), seed=seed, seconds=seconds,
        history=history.losses, before=before, after=after,
        flags=flags, stop_reason=history.stop_reason, check_seconds=checks,
    )
    for message in result.warnings():
        warnings.warn(message, UnlearningWarning, stacklevel=4)
    return result


def prepare(model: nn.Module, forget: Data, retain: Data | None, method: str,
            needs: tuple[str, ...], holdout: Data | None = None) -> UnlearnData:
    """Validate model and data; one-line ``ValueError`` for anything that does not fit."""
    if forget is None or size(forget) == 0:
        raise ValueError("the forget set is empty: nothing to unlearn")
    if retain is not None and size(retain) == 0:
        raise ValueError("the retain set is empty: the forget set cannot be the whole training set")
    if retain is None and "retain" in needs:
        raise ValueError(f"method {method!r} needs a retain set (retain=... in Python, --retain on the command line)")
    x, _ = next(iter(batches(forget, 2, shuffle=False)))
    try:
        (x,) = to_model(model, x)
        with torch.no_grad():
            was_training = model.training
            model.eval()
            out = model(x)
            model.train(was_training)
    except Exception as err:
        raise ValueError(f"the model cannot run on the forget data: {type(err).__name__}: {err}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(x):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return logits of shape (batch, classes); got {shape}")
    num_classes = out.shape[1]
    if num_classes < 2:
        raise ValueError("the model outputs a single logit; obliviate needs (batch, classes) logits with classes >= 2")
    found = {}
    for name, data in (("forget", forget), ("retain", retain), ("holdout", holdout)):
        if data is None:
            continue
        y = found[name] = labels(data)
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(
                f"{name} labels span {int(y.min())}..{int(y.max())} but the model outputs "
                f"{num_classes} classes: model and data do not match")
    target = None
    if retain is not None:
        seen = torch.isin(found["forget"], found["retain"])
        if not seen.any():
            target = 0.0
        elif holdout is not None and size(holdout):
            from obliviate.classify.metrics import accuracy

            target = seen.float().mean().item() * accuracy(model, holdout)
    return UnlearnData(forget=forget, retain=retain, num_classes=num_classes, target_forget_acc=target)


def health(model: nn.Module, data: UnlearnData) -> dict[str, float]:
    """Forget and retain accuracy (percent; each on a fixed sample of at most 4096)."""
    from obliviate.classify.metrics import accuracy

    out = {"forget_acc": 100 * accuracy(model, sample(data.forget, HEALTH_SAMPLE))}
    retain = data.retain
    out["retain_acc"] = 100 * accuracy(model, sample(retain, HEALTH_SAMPLE)) if retain is not None else float("nan")
    return out


def hparams_of(algorithm) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(algorithm, f.name) for f in dataclasses.fields(algorithm)}
