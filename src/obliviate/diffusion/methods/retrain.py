"""Retrain: train the denoiser from scratch on the retain images only; the gold
standard every other method is measured against (and the slowest). Its settings
are the task's training recipe (for digits-canvas: 25 epochs, lr 4e-3, batch 128)."""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.core.registry import register
from obliviate.diffusion.models import drop_words, reinitialise_unet, train_denoiser


@register("retrain", track="diffusion", needs=("retain",), paper="exact unlearning baseline",
          idea="train from scratch without the concept's images")
@dataclass
class Retrain:
    epochs: int = 25
    lr: float = 4e-3
    batch_size: int = 128

    def apply(self, model, data, generator, progress=None) -> dict:
        seed = generator.initial_seed()
        reinitialise_unet(model.unet, seed)
        train_denoiser(model, data.retain.latents, data.retain.prompts, epochs=self.epochs, lr=self.lr,
                       batch_size=self.batch_size, seed=seed, drop=drop_words, progress=progress)
        return {"diverged": False, "losses": []}
