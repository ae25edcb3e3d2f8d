"""What every diffusion method gets (:class:`EraseData`) and the one fine-tuning loop
they share (:class:`EraseMethod`): a method says which parameters it trains and what
its loss is; seeding, the optimiser, progress and divergence checks live here."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from obliviate.core.devices import Precision, autocast, check_precision, grad_scaler
from obliviate.diffusion.models import Diffusion, is_cross_attention

PARAMETER_SETS = ("x", "u", "all", "kv")
PARAMETER_SET_TEXT = {"x": "cross-attention only",
                      "u": "linear and convolution layers outside cross-attention, time embedding and output",
                      "all": "every weight", "kv": "cross-attention keys and values"}
# The prefixes ESD-u leaves out besides cross-attention: the original code skipped the
# time embedding and the output block ("time_embed", "out."), the diffusers rewrite
# every normalisation layer; `u` trains what both versions train.
NOT_IN_U = ("time_embedding.", "add_embedding.", "class_embedding.", "conv_out.", "conv_norm_out.")


@dataclass
class Images:
    """Latents (images, for pixel-space models) with the prompt of each."""

    latents: torch.Tensor
    prompts: list[str]

    def __post_init__(self) -> None:
        if len(self.latents) != len(self.prompts):
            raise ValueError(f"{len(self.latents)} images but {len(self.prompts)} prompts")

    def __len__(self) -> int:
        return len(self.prompts)

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str], torch.Tensor]:
        idx = torch.randint(0, len(self), (size,), generator=generator)  # CPU draw: same on every device
        return self.latents[idx.to(self.latents.device)], [self.prompts[i] for i in idx.tolist()], idx

    def to(self, model: Diffusion) -> "Images":
        return Images(model.put(self.latents), self.prompts)


@dataclass
class EraseData:
    """Everything a diffusion method may use to erase one concept.

    ``concept`` is the concept's own prompt ("3", "Van Gogh") and ``guide`` what it
    should turn into (ESD, UCE; the empty prompt by default). ``forget`` holds images
    showing the concept with their prompts, and ``substitutes`` for each the prompt of
    a different concept in the same context (SalUn's target). ``anchor`` holds images
    of the anchor prompts (the forget prompts with the concept left out) and
    ``ablated`` for each the prompt with the concept put back (Concept Ablation's
    input). ``retain`` is what must keep working; ``preserve`` the prompts whose
    cross-attention outputs UCE keeps fixed."""

    concept: str
    forget: Images
    substitutes: list[str]
    anchor: Images
    ablated: list[str]
    retain: Images
    preserve: list[str]
    guide: str = ""

    def __post_init__(self) -> None:
        if len(self.forget) == 0:
            raise ValueError("the forget set is empty: no images show the concept")
        if len(self.substitutes) != len(self.forget) or len(self.ablated) != len(self.anchor):
            raise ValueError("substitutes must match the forget images and ablated prompts the anchor images")

    def to(self, model: Diffusion) -> "EraseData":
        """The images on ``model``'s device and in its dtype (moved once, not per step)."""
        return dataclasses.replace(self, forget=self.forget.to(model), anchor=self.anchor.to(model),
                                   retain=self.retain.to(model))


def check_parameter_set(parameter_set: str, where: str = "") -> None:
    if parameter_set not in PARAMETER_SETS:
        raise ValueError(f"unknown parameter set {parameter_set!r}{where}; use "
                         + ", ".join(f"{k} ({v})" for k, v in PARAMETER_SET_TEXT.items()))


def trainable(model: Diffusion, parameter_set: str) -> dict[str, nn.Parameter]:
    """The parameters a parameter set trains: ``x`` cross-attention (ESD-x), ``u`` the
    linear and convolution layers outside cross-attention, the time embedding and the
    output block (ESD-u: the weights both reference versions train, ``noxattn`` of
    the original code and ``esd-u`` of its diffusers rewrite), ``all``, ``kv``
    cross-attention keys/values (CA, UCE). Unknown sets raise, and a set that selects
    nothing raises too, so an optimiser can never silently train nothing (the ESD
    reference README names a set its code does not accept)."""
    check_parameter_set(parameter_set)
    layer_of = {f"{module_name}.{n}" if module_name else n: module
                for module_name, module in model.unet.named_modules()
                for n, _ in module.named_parameters(recurse=False)}
    chosen = {}
    for name, p in model.unet.named_parameters():
        cross = is_cross_attention(name)
        in_u = (not cross and isinstance(layer_of[name], (nn.Linear, nn.Conv2d))
                and not name.startswith(NOT_IN_U))
        keep = {"x": cross, "u": in_u, "all": True,
                "kv": cross and (".to_k." in name or ".to_v." in name)}[parameter_set]
        if keep:
            chosen[name] = p
    if not chosen:
        raise ValueError(f"parameter set {parameter_set!r} selects no parameters of this UNet")
    return chosen


@dataclass
class EraseMethod:
    """Base of the fine-tuning diffusion methods (hyperparameters are dataclass fields
    of the subclasses). Subclasses define ``loss`` and may override ``parameter_set``,
    ``setup`` and ``after_step``. ``precision`` (fp32, bf16, fp16) autocasts the loss,
    fp16 with a gradient scaler."""

    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        for name in ("lr", "iterations", "batch_size"):
            if getattr(self, name, 1) <= 0:
                raise ValueError(f"{self.method_name}.{name} must be positive, got {getattr(self, name)}")
        if hasattr(self, "parameter_set"):
            check_parameter_set(self.parameter_set, f" for {self.method_name}")
        check_precision(self.precision)

    def setup(self, model: Diffusion, data: EraseData, generator: torch.Generator) -> None:
        """Called once before the first step (frozen copies, masks, cached embeddings)."""

    def loss(self, model: Diffusion, data: EraseData, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, model: Diffusion) -> None:
        """Called after every optimiser step."""

    def parameters_to_train(self, model: Diffusion, chosen: dict[str, nn.Parameter]) -> dict[str, nn.Parameter]:
        """What the optimiser updates, asked after ``setup`` (default: the parameter set's)."""
        return chosen

    def wrap(self, model: Diffusion) -> Diffusion:
        """The model to return after training: ``model`` itself, or an inference-time
        model around it (UnGuide's guidance)."""
        return model

    def apply(self, model: Diffusion, data: EraseData, generator: torch.Generator,
              progress: Callable[[int, int, float], None] | None = None) -> dict:
        params = trainable(model, getattr(self, "parameter_set", "all"))
        for name, p in model.unet.named_parameters():
            p.requires_grad_(name in params)
        self.setup(model, data, generator)
        params = self.parameters_to_train(model, params)
        opt = torch.optim.Adam(params.values(), lr=self.lr)
        scaler = grad_scaler(model.device, self.precision)
        model.unet.train()
        losses = []
        try:
            for step in range(self.iterations):
                with autocast(model.device, self.precision):
                    loss = self.loss(model, data, generator).float()
                if not math.isfinite(loss.item()):
                    return {"diverged": True, "losses": losses}
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                self.after_step(model)
                losses.append(loss.item())
                if progress and (step + 1) % max(1, self.iterations // 20) == 0:
                    progress(step + 1, self.iterations, loss.item())
        finally:
            model.unet.eval()
            for p in model.unet.parameters():
                p.requires_grad_(True)
        return {"diverged": False, "losses": losses}


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` in eval mode whose parameters take no gradients."""
    twin = copy.deepcopy(module).eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


def timed(fn: Callable[[], dict]) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
