"""ESD: Erased Stable Diffusion. Gandikota et al., "Erasing Concepts from Diffusion
Models", ICCV 2023.

Fine-tune ε_θ so that, for the concept c, it predicts the negatively guided noise of
the frozen original ε*:  ε_θ(x_t, c) → ε*(x_t, ∅) − η·(ε*(x_t, c) − ε*(x_t, ∅)),
on x_t from the model's own partial DDIM denoising of c (no data needed).
``parameter_set`` x trains cross-attention only (erases the word, keeps the rest),
u the linear and convolution layers outside cross-attention, the time embedding and
the output block (erases the concept more globally, at a cost; see
:func:`obliviate.diffusion.loop.trainable`).

Reference (rohitgandikota/erasing): the ICCV code trains Stable Diffusion v1.4 for
1000 iterations at lr 1e-5 with η = 1, one image per step; its diffusers rewrite
(``esd_sd.py``) 200 iterations at lr 5e-5 with η = 2. The defaults here are for the
200k-parameter canvas UNet (lr 1e-3, 150 iterations of 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.diffusion.loop import EraseMethod, frozen_copy


@register("esd", track="diffusion", needs=(), paper="Gandikota et al., ICCV 2023",
          idea="steer the concept's noise prediction away from it with negative guidance from the frozen original")
@dataclass
class ESD(EraseMethod):
    parameter_set: str = "x"  # x, u or all
    eta: float = 1.0  # negative-guidance strength
    iterations: int = 150
    lr: float = 1e-3
    batch_size: int = 16
    sample_steps: int = 10  # DDIM steps of the partial denoising that produces x_t
    guidance: float = 1.5  # guidance of that denoising

    def setup(self, model, data, generator):
        self.original = frozen_copy(model.unet)
        self.c, self.empty = model.encode([data.concept]), model.encode([data.guide])

    def erase_batch(self, model, generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_t from the model's own partial denoising of the concept, its timestep, and
        the negatively guided target of the frozen original."""
        n = self.batch_size
        stop = int(torch.randint(0, self.sample_steps, (), generator=generator))
        x_t, t = model.sample(self.c.expand(n, -1, -1), generator, steps=self.sample_steps,
                              guidance=self.guidance, stop_after=stop)
        c, empty = self.c.expand(n, -1, -1), self.empty.expand(n, -1, -1)
        with torch.no_grad():
            e_empty = self.original(x_t, t, encoder_hidden_states=empty).sample
            e_concept = self.original(x_t, t, encoder_hidden_states=c).sample
        return x_t, t, e_empty - self.eta * (e_concept - e_empty)

    def loss(self, model, data, generator):
        x_t, t, target = self.erase_batch(model, generator)
        return F.mse_loss(model.eps(x_t, t, self.c.expand(len(x_t), -1, -1)), target)
