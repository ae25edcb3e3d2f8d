"""SalUn for diffusion models. Fan et al., "SalUn: Empowering Machine Unlearning via
Gradient-based Weight Saliency", ICLR 2024. Reference (OPTML-Group/Unlearn-Saliency,
SD/train-scripts): mask from ``generate_mask.py``, unlearning in ``random_label.py``;
Stable Diffusion v1.4 with all weights, Adam lr 1e-5, 5 epochs over the forget images
in batches of 8 (its README: α = 0.5 on the mean retain denoising loss; the DDPM/CIFAR
scripts use α = 1e-3 on a summed one). The defaults here are for the 200k-parameter
canvas UNet.

A mask keeps the ``keep`` share of weights with the largest |∂L_mask/∂θ| (one global
top-k), L_mask = ‖ε − ((1+w)·ε_θ(x_t, c_f) − w·ε_θ(x_t, ∅))‖² the denoising loss of the
forget images' classifier-free-guided prediction (w = ``mask_guidance``, 7.5 in both
reference scripts: the guided prediction amplifies what depends on the prompt, so the
mask picks weights tied to the concept rather than to denoising in general; ``0`` is
the plain denoising loss). The forget images' noise prediction under their own prompt is
pulled to that under another concept's prompt, ‖ε_θ(x_t, c_f) − sg ε_θ(x_t, c_other)‖²,
plus ``retain_weight`` × the denoising loss on retain images. Only masked weights
change: after every step the others are copied back, so Adam's momentum cannot move
them. ``keep=1`` is the same loss without a mask (the paper's ablation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.methods.salun import saliency_mask
from obliviate.core.registry import register
from obliviate.diffusion.loop import EraseMethod


@register("salun", track="diffusion", needs=("forget", "retain"), paper="Fan et al., ICLR 2024",
          idea="map the concept's images to another concept, on only the weights most salient for it")
@dataclass
class SalUn(EraseMethod):
    keep: float = 0.5  # share of weights that may change
    iterations: int = 150
    lr: float = 5e-4
    batch_size: int = 32
    retain_weight: float = 1.0
    saliency_batches: int = 8
    mask_guidance: float = 7.5  # w of the mask's guided prediction (1+w)·ε(c) − w·ε(∅)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.keep <= 1:
            raise ValueError(f"salun.keep must be in (0, 1], got {self.keep}")
        if self.mask_guidance < 0:
            raise ValueError(f"salun.mask_guidance must be >= 0, got {self.mask_guidance}")

    def mask_loss(self, model, x0, prompts, generator) -> torch.Tensor:
        """The denoising loss of the guided prediction whose gradient ranks the weights."""
        x_t, t, noise = model.noisy(x0, generator)
        return F.mse_loss(model.guided_eps(x_t, t, model.encode(prompts), 1 + self.mask_guidance), noise)

    def setup(self, model, data, generator):
        params = dict(model.unet.named_parameters())
        saliency = {n: torch.zeros_like(p) for n, p in params.items()}
        for _ in range(self.saliency_batches):
            x0, prompts, _ = data.forget.batch(self.batch_size, generator)
            model.unet.zero_grad(set_to_none=True)
            self.mask_loss(model, x0, prompts, generator).backward()
            for n, p in params.items():
                saliency[n] += p.grad.detach()
        model.unet.zero_grad(set_to_none=True)
        self.mask = saliency_mask({n: s.abs() for n, s in saliency.items()}, self.keep)
        self._frozen = {n: p.detach().clone() for n, p in params.items()}

    def loss(self, model, data, generator):
        x0, prompts, idx = data.forget.batch(self.batch_size, generator)
        x_t, t, _ = model.noisy(x0, generator)
        with torch.no_grad():
            target = model.eps(x_t, t, model.encode([data.substitutes[i] for i in idx.tolist()]))
        forget = F.mse_loss(model.eps(x_t, t, model.encode(prompts)), target)
        r0, r_prompts, _ = data.retain.batch(self.batch_size, generator)
        return forget + self.retain_weight * model.denoising_loss(r0, model.encode(r_prompts), generator)

    def after_step(self, model):
        if self.keep == 1:
            return
        with torch.no_grad():
            for name, p in model.unet.named_parameters():
                p.copy_(torch.where(self.mask[name], p, self._frozen[name]))
