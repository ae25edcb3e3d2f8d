"""The denoiser every diffusion method works on, for the built-in canvas and for a
real Stable Diffusion pipeline alike.

:class:`Diffusion` holds a ``diffusers`` UNet2DConditionModel, its noise schedule, a
frozen prompt encoder and (for latent models) a VAE. Methods only use
``encode``, ``eps``, ``noisy``, ``denoising_loss`` and ``sample``, so a method
written against the 200k-parameter canvas UNet runs unchanged on Stable Diffusion.
"""

from __future__ import annotations

import copy

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

CROSS_ATTENTION = "attn2"  # diffusers' name for the cross-attention blocks (attn1 = self-attention)


def tiny_unet(sample_size: int = 8, cross_attention_dim: int = 32, channels: tuple[int, ...] = (32, 64)):
    """A UNet2DConditionModel small enough to train on two CPU cores in minutes,
    with the same block types (and parameter names) as Stable Diffusion's."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=channels, norm_num_groups=8, cross_attention_dim=cross_attention_dim,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )


def noise_schedule(steps: int = 1000):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=steps, beta_schedule="squaredcos_cap_v2")


@dataclass
class Diffusion:
    """A text-conditioned denoiser ε_θ(x_t, t, c) with what methods need around it."""

    unet: nn.Module
    encoder: Callable[[list[str]], torch.Tensor]
    scheduler: Any  # a diffusers DDPM-style scheduler defining the forward process
    latent_shape: tuple[int, ...]
    vae: nn.Module | None = None
    latent_scale: float = 1.0
    extra: dict = field(default_factory=dict)  # e.g. the pipeline it came from

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def put(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the UNet's device (floating tensors in its dtype)."""
        if tensor.is_floating_point():
            return tensor.to(device=self.device, dtype=self.dtype)
        return tensor.to(self.device)

    def to(self, device: torch.device | str) -> "Diffusion":
        """This model on ``device``: itself when already there, else a copy (UNet, VAE and
        prompt encoder moved; the caller's model stays where it is)."""
        device = torch.device(device)
        if self.device == device:
            return self
        moved = copy.deepcopy(self)
        for module in (moved.unet, moved.vae, moved.encoder if isinstance(moved.encoder, nn.Module) else None):
            if module is not None:
                module.to(device)
        return moved

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        return self.put(self.encoder(list(prompts)).detach())

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t, encoder_hidden_states=emb).sample

    def guided_eps(self, x_t: torch.Tensor, t: torch.Tensor, emb: torch.Tensor, guidance: float) -> torch.Tensor:
        """Classifier-free guidance from the empty prompt: ε(∅) + g·(ε(c) − ε(∅)), both
        predictions in one batched call (g = 1 is the plain conditional prediction)."""
        if guidance == 1.0:
            return self.eps(x_t, t, emb)
        empty = self.encode([""]).expand(len(emb), -1, -1)
        both_t = torch.cat([t, t]) if t.dim() else t  # a 0-d timestep is broadcast by the UNet
        cond, uncond = self.eps(torch.cat([x_t, x_t]), both_t, torch.cat([emb, empty])).chunk(2)
        return uncond + guidance * (cond - uncond)

    def noisy(self, x0: torch.Tensor, generator: torch.Generator, t: torch.Tensor | None = None):
        """(x_t, t, ε) for clean latents ``x0`` at random (or given) timesteps."""
        # drawn on the CPU from the caller's generator: the same numbers on every device
        if t is None:
            t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x0),), generator=generator)
        x0 = self.put(x0)
        noise, t = self.put(torch.randn(x0.shape, generator=generator)), t.to(x0.device)
        return self.scheduler.add_noise(x0, noise, t), t, noise

    def denoising_loss(self, x0: torch.Tensor, emb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The standard ε-prediction loss, mean over elements."""
        x_t, t, noise = self.noisy(x0, generator)
        return F.mse_loss(self.eps(x_t, t, emb), noise)

    @torch.no_grad()
    def to_latents(self, images: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return images
        return self.vae.encode(images).latent_dist.mean * self.latent_scale

    @torch.no_grad()
    def to_images(self, latents: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return latents.clamp(-1, 1)
        return self.vae.decode(latents / self.latent_scale).sample.clamp(-1, 1)

    @torch.no_grad()
    def sample(self, emb: torch.Tensor, generator: torch.Generator | None, steps: int = 10, guidance: float = 1.5,
               stop_after: int | None = None, batch_size: int = 512,
               noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """DDIM sampling with classifier-free guidance from the empty prompt (the
        canvas UNet draws its most recognisable images at 10 steps and guidance 1.5;
        stronger guidance over-saturates a model this small).

        Returns (latents, timestep): the clean latents, or with ``stop_after=k`` the
        partially denoised x_t after k of ``steps`` steps and its timestep (ESD trains
        on those). ``noise``: the starting latents (one per embedding) instead of a draw
        from ``generator``."""
        from diffusers import DDIMScheduler

        sampler = DDIMScheduler.from_config(self.scheduler.config)
        sampler.set_timesteps(steps)
        if noise is None:
            noise = torch.randn((len(emb), *self.latent_shape), generator=generator)  # CPU draw, then moved
        x = self.put(noise)
        timesteps = sampler.timesteps[: stop_after if stop_after is not None else steps]
        for t in timesteps:
            parts = [self.guided_eps(x[start:start + batch_size], t, emb[start:start + batch_size], guidance)
                     for start in range(0, len(x), batch_size)]
            x = sampler.step(torch.cat(parts), t, x).prev_sample
        if stop_after is not None and stop_after < steps:
            return x, sampler.timesteps[stop_after].expand(len(x)).to(x.device)
        return x, torch.zeros(len(x), dtype=torch.long, device=x.device)


def is_cross_attention(name: str) -> bool:
    """True for parameters of cross-attention blocks (ESD-x, UCE and CA edit these)."""
    return f".{CROSS_ATTENTION}." in name


def train_denoiser(model: Diffusion, latents: torch.Tensor, prompts: list[str], *, epochs: int, lr: float,
                   batch_size: int, seed: int, drop: Callable[[str, torch.Generator], str] | None = None,
                   progress: Callable[[int, int, float], None] | None = None) -> float:
    """Train ε_θ from scratch-or-current weights with the denoising loss; ``drop``
    rewrites a prompt (e.g. leaves words out) so classifier-free guidance works.
    Returns the wall time in seconds."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.unet.parameters(), lr=lr, weight_decay=0.0)
    steps = epochs * ((len(latents) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.unet.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(latents), generator=g)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            texts = [prompts[j] for j in idx.tolist()]
            if drop is not None:
                texts = [drop(p, g) for p in texts]
            loss = model.denoising_loss(latents[idx], model.encode(texts), g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.unet.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if progress:
            progress(epoch + 1, epochs, total / len(latents))
    model.unet.eval()
    return time.perf_counter() - start


def drop_words(text: str, generator: torch.Generator, p_empty: float = 0.1, p_word: float = 0.15) -> str:
    """Classifier-free-guidance dropout: the whole prompt with probability ``p_empty``,
    otherwise each word with probability ``p_word`` (so "3" and "inverted" alone,
    and the empty prompt, all become meaningful prompts)."""
    if torch.rand((), generator=generator).item() < p_empty:
        return ""
    words = text.split()
    kept = [w for w in words if torch.rand((), generator=generator).item() >= p_word]
    return " ".join(kept)


def reinitialise_unet(unet: nn.Module, seed: int) -> None:
    """Fresh random weights for ``unet`` (same config), deterministic in ``seed``."""
    torch.manual_seed(seed)
    fresh = type(unet).from_config(unet.config)
    unet.load_state_dict(fresh.state_dict())
