"""Attacks on an erased concept.

- A prompt-embedding attack in the spirit of UnlearnDiffAtk (Zhang et al., ECCV 2024):
  optimise the prompt embedding so that the unlearned model itself denoises images of
  the erased concept well (the model acts as its own diffusion classifier), then
  generate from that embedding. Continuous embeddings make it stronger than the
  paper's discrete-token search, so it bounds what a prompt can bring back.
- A fine-tuning relearning attack: a few denoising steps on images of the concept with
  their own prompts (as an adversary with a handful of images would; "Unlearning or
  Obfuscating?", Hu et al., ICLR 2025, for language models; the erased-concept
  revival of Suriyakumar et al., "Unstable Unlearning", 2024, for diffusion). A model
  that never learned the concept learns some of it too: compare with the retrained
  model under the same attack."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from obliviate.diffusion.models import Diffusion


def prompt_attack(model: Diffusion, start: torch.Tensor, target_latents: torch.Tensor,
                  generator: torch.Generator, steps: int = 40, lr: float = 0.1,
                  batch_size: int = 32) -> torch.Tensor:
    """An adversarial prompt embedding (shape of ``start``, (1, L, d)) minimising
    the denoising loss of ``target_latents`` (images of the erased concept)."""
    for p in model.unet.parameters():
        p.requires_grad_(False)
    delta = torch.zeros_like(start, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(target_latents), (batch_size,), generator=generator)
            x_t, t, noise = model.noisy(target_latents[idx], generator)
            loss = F.mse_loss(model.eps(x_t, t, (start + delta).expand(batch_size, -1, -1)), noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.unet.parameters():
            p.requires_grad_(True)
    return (start + delta).detach()


def relearned(model: Diffusion, images: torch.Tensor, embeddings: torch.Tensor, generator: torch.Generator,
              steps: int = 20, lr: float = 1e-4, batch_size: int = 16) -> Diffusion:
    """A copy of ``model`` fine-tuned for ``steps`` Adam steps of the denoising loss on
    ``images`` of the erased concept, each with its prompt embedding (``embeddings``,
    one per image)."""
    import copy

    attacked = copy.deepcopy(model)
    opt = torch.optim.Adam(attacked.unet.parameters(), lr=lr)
    attacked.unet.train()
    for _ in range(steps):
        idx = torch.randint(0, len(images), (batch_size,), generator=generator)
        loss = attacked.denoising_loss(images[idx], embeddings[idx.to(embeddings.device)], generator)
        opt.zero_grad()
        loss.backward()
        opt.step()
    attacked.unet.eval()
    return attacked
