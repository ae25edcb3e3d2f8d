"""Run one registered diffusion method on a copy of a model."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any, Callable

import torch

from obliviate.core.devices import resolve_device
from obliviate.core.registry import build
from obliviate.core.results import UnlearningWarning, UnlearnResult
from obliviate.core.seeding import seed_everything
from obliviate.diffusion.loop import EraseData, timed
from obliviate.diffusion.models import Diffusion


def copy_model(model: Diffusion) -> Diffusion:
    """A copy whose UNet can be changed without touching ``model``'s (the frozen
    prompt encoder and VAE are shared)."""
    return dataclasses.replace(model, unet=copy.deepcopy(model.unet))


def unlearn_diffusion(model: Diffusion, data: EraseData, method: str, seed: int = 0,
                      hparams: dict[str, Any] | None = None,
                      progress: Callable[[int, int, float], None] | None = None,
                      device: str | torch.device | None = None, precision: str | None = None) -> UnlearnResult:
    """Erase ``data.concept`` from a copy of ``model`` with a method of the diffusion track.

    The result's ``flags`` contain "diverged" when the loss or the weights became
    non-finite. ``before``/``after`` hold the denoising loss of forget and retain
    images under their prompts (same noise before and after): a proxy that needs no
    judge; whether the concept is really gone needs judges (see
    :func:`obliviate.diffusion.evaluate.evaluate_canvas` for the built-in task).

    ``device`` (None: where ``model`` is) places the copy that is trained;
    ``precision`` (fp32, bf16, fp16) is the training loop's autocast, for the
    fine-tuning methods (a closed-form method refuses it)."""
    hparams = dict(hparams or {})
    if precision is not None:
        hparams["precision"] = precision
    algo = build(method, hparams, "diffusion")
    if device is not None:
        model = model.to(resolve_device(device))
    data = data.to(model)
    work = copy_model(model)
    before = denoising_losses(model, data)
    generator = seed_everything(seed)
    out, seconds = timed(lambda: algo.apply(work, data, generator, progress))
    if hasattr(algo, "wrap"):  # an inference-time model around the trained one (UnGuide)
        work = algo.wrap(work)
    diverged = out["diverged"] or any(not torch.isfinite(p).all() for p in work.unet.parameters())
    flags = ["diverged"] if diverged else []
    if diverged:
        warnings.warn(f"{method}: diverged (non-finite loss or weights)", UnlearningWarning, stacklevel=2)
    after = denoising_losses(work, data) if not diverged else {}
    return UnlearnResult(model=work, method=method, hparams=dataclasses.asdict(algo), seed=seed,
                         seconds=seconds, history=out["losses"], before=before, after=after, flags=flags)


@torch.no_grad()
def denoising_losses(model: Diffusion, data: EraseData, n: int = 64, seed: int = 0) -> dict[str, float]:
    """Mean ε-prediction loss of (up to ``n``) forget and retain images under their own
    prompts, with fixed noise and timesteps. Erasing raises the first, not the second."""
    out = {}
    for name, images in (("forget_loss", data.forget), ("retain_loss", data.retain)):
        g = torch.Generator().manual_seed(seed)
        k = min(n, len(images))
        out[name] = model.denoising_loss(images.latents[:k], model.encode(images.prompts[:k]), g).item()
    return out
