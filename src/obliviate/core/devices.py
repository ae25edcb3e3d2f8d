"""Devices and precision, for every track.

The rule: every tensor a method, loop, metric or attack creates is created on the
model's device and in its floating dtype (:func:`placement` / :func:`to_model`).
Randomness is drawn from CPU generators and then moved, so the same seed gives the
same numbers on every backend. The store always holds CPU tensors.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device | None, default: str = "cpu") -> torch.device:
    """``"auto"`` (CUDA when available, else MPS, else CPU), ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"mps"`` or a ``torch.device``; None means ``default``. A device
    that is not there raises a one-line ``ValueError``."""
    if isinstance(spec, torch.device):
        device = spec
    else:
        text = (default if spec is None else str(spec)).strip().lower()
        if text == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            if _mps_available():
                return torch.device("mps")
            return torch.device("cpu")
        try:
            device = torch.device(text)
        except RuntimeError:
            raise ValueError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} asked for, but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s)")
    elif device.type == "mps" and not _mps_available():
        raise ValueError(f"device {spec!r} asked for, but MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


@dataclass(frozen=True)
class Placement:
    """Where a model's tensors live: its device and its floating dtype."""

    device: torch.device
    dtype: torch.dtype

    def put(self, tensor: torch.Tensor, non_blocking: bool = False) -> torch.Tensor:
        """``tensor`` on this device; floating tensors also in this dtype (labels stay integers)."""
        if tensor.is_floating_point():
            return tensor.to(device=self.device, dtype=self.dtype, non_blocking=non_blocking)
        return tensor.to(device=self.device, non_blocking=non_blocking)


def placement(model: nn.Module | Any) -> Placement:
    """The device and floating dtype of ``model``'s first floating parameter (or buffer);
    CPU / float32 for a model without any."""
    tensors = list(model.parameters()) + list(model.buffers()) if isinstance(model, nn.Module) else []
    for t in tensors:
        if t.is_floating_point():
            return Placement(t.device, t.dtype)
    return Placement(tensors[0].device if tensors else torch.device("cpu"), torch.get_default_dtype())


def to_model(model: nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``tensors`` moved to ``model``'s device (floating ones in its dtype)."""
    where = placement(model)
    return tuple(where.put(t) for t in tensors)


def parse_dtype(value: str | torch.dtype) -> torch.dtype | str:
    """A floating torch dtype from its name ("bfloat16", "float16", "float32"), or "auto"
    (the checkpoint's own); a one-line ``ValueError`` otherwise."""
    if isinstance(value, torch.dtype) or value == "auto":
        return value
    found = getattr(torch, str(value), None)
    if not isinstance(found, torch.dtype) or not found.is_floating_point:
        raise ValueError(f"unknown torch_dtype {value!r}; use bfloat16, float16, float32 or auto")
    return found


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")


def autocast(device: torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (a null context for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPE[precision])


def grad_scaler(device: torch.device, precision: str):
    """A gradient scaler for fp16 (dynamic loss scaling), else None."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def is_main_process() -> bool:
    """False on every process but rank 0 under ``torchrun`` / ``accelerate launch``
    (``RANK`` set by the launcher, or an initialised process group): only the main
    process writes models, JSON and the store."""
    import os

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0
