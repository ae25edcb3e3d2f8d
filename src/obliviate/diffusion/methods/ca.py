"""CA: Concept Ablation. Kumari et al., "Ablating Concepts in Text-to-Image Diffusion
Models", ICCV 2023.

Make the prompt with the concept behave like the anchor prompt without it:
‖ε_θ(x_t, c*) − sg ε_θ(x_t, c_anchor)‖² on x_t noised from images of the anchor
concept ("3 inverted" → "inverted"), updating cross-attention keys and values only.
``prior_weight`` adds the reference's optional prior-preservation term, the ordinary
denoising loss of the same anchor images under their anchor prompts
(``--with_prior_preservation``: "regularization loss on anchor category images"; its
README turns it on when the target and anchor prompts share words, as "3 inverted"
and "inverted" do; ``0`` turns it off).

Reference (nupurkmr9/concept-ablation, ``diffusers/train.py``): Stable Diffusion
v1.4, ``parameter_group=cross-attn`` (attn2 keys and values), lr 2e-6 scaled by the
batch size (4) and the number of GPUs, 100 steps for objects and styles (400 for
nudity), prior loss weight 1. The defaults here are for the 200k-parameter canvas
UNet (lr 1e-3, 150 iterations of 32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.diffusion.loop import EraseMethod


@register("ca", track="diffusion", needs=(), paper="Kumari et al., ICCV 2023",
          idea="match the concept prompt's noise prediction to an anchor prompt's on anchor images")
@dataclass
class ConceptAblation(EraseMethod):
    parameter_set: str = "kv"
    iterations: int = 150
    lr: float = 1e-3
    batch_size: int = 32
    prior_weight: float = 1.0  # the prior-preservation term on the anchor images (0: off)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prior_weight < 0:
            raise ValueError(f"ca.prior_weight must be >= 0, got {self.prior_weight}")

    def loss(self, model, data, generator):
        x0, anchors, idx = data.anchor.batch(self.batch_size, generator)
        anchor_emb = model.encode(anchors)
        x_t, t, _ = model.noisy(x0, generator)
        with torch.no_grad():
            target = model.eps(x_t, t, anchor_emb)
        ablated = model.encode([data.ablated[i] for i in idx.tolist()])
        loss = F.mse_loss(model.eps(x_t, t, ablated), target)
        if self.prior_weight:
            loss = loss + self.prior_weight * model.denoising_loss(x0, anchor_emb, generator)
        return loss
