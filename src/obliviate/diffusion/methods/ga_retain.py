"""Gradient ascent on the forget concept's denoising loss, with the ordinary
denoising loss on retain images to hold the rest (the NegGrad+ baseline of
classifier unlearning, applied to ε_θ). Used as a baseline in UnlearnCanvas and
SalUn (Fan et al., ICLR 2024).

The ascent term is bounded by ``max_forget_loss``: once the forget images are
denoised this badly the term stops pushing, otherwise it grows without limit and
takes the rest of the model with it.

Reference (OPTML-Group/Unlearn-Saliency, ``SD/train-scripts/gradient_ascent.py``):
Stable Diffusion v1.4, lr 1e-5, 10 epochs over the forget images in batches of 8,
α = 0.1 on the mean retain denoising loss, no bound on the ascent. The defaults here
are for the 200k-parameter canvas UNet (lr 2e-4, 150 iterations of 32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.core.registry import register
from obliviate.diffusion.loop import EraseMethod


@register("ga_retain", track="diffusion", needs=("forget", "retain"), paper="Fan et al., ICLR 2024 (baseline)",
          idea="ascend the denoising loss of the concept's images, descend it on retain images")
@dataclass
class GARetain(EraseMethod):
    parameter_set: str = "all"
    iterations: int = 150
    lr: float = 2e-4
    batch_size: int = 32
    retain_weight: float = 1.0
    max_forget_loss: float = 1.0  # ascent stops once the forget denoising loss reaches this (noise var = 1)

    def loss(self, model, data, generator):
        x0, prompts, _ = data.forget.batch(self.batch_size, generator)
        forget = model.denoising_loss(x0, model.encode(prompts), generator)
        r0, r_prompts, _ = data.retain.batch(self.batch_size, generator)
        retain = model.denoising_loss(r0, model.encode(r_prompts), generator)
        ascent = -torch.clamp(forget, max=self.max_forget_loss)
        return ascent + self.retain_weight * retain
