"""SCD (DoCo): concept domain correction with a concept-preserving gradient. Wu, Zhou,
Xu, Wang and Yang, "Unlearning Concepts in Diffusion Model via Concept Domain
Correction and Concept Preserving Gradient", AAAI 2025 (no code from the authors; the
training step was checked against the public re-implementation in
justinhylee135/CUIG, ``UnlearningMethods/DoCo/train_doco.py``).

Instead of matching one noise prediction (CA), the *distribution* of what the model
makes of the concept prompt is aligned with the anchor's, adversarially: on x_t
noised from anchor images ("5 inverted" drawn, prompt "inverted"), a discriminator
learns to tell the frozen original's clean-image prediction under the anchor prompt
(label 0) from the model's under the concept prompt ("3 inverted", label 1); the
model learns to make the latter pass as the former (generator loss BCE(D(x̂₀), 0),
after ``warmup`` discriminator-only steps), while a prior-preservation loss keeps
its ordinary denoising of the anchor images under their own prompts. The concept
preserving gradient (CPG): where the generator gradient g_u points against the
preservation gradient g_r (g_u·g_r < 0), its conflicting component is removed,
g_u ← g_u − (g_u·g_r / ‖g_r‖²) g_r, and the step follows g_u + λ·g_r.

Reference settings (SD v1.4, CUIG's README): 1000 steps with 500 of discriminator
warm-up, lr 5e-5 (UNet) and 5e-4 (PatchGAN discriminator), batch 4, prior loss weight
1, gradient clipping. Choices: the discriminator is a three-layer PatchGAN on the
canvas latents (the reference's runs it on pixels or latents); x̂₀ is the
scheduler's clean-image prediction clamped to [−1, 1] (its ``clip_sample``);
timesteps uniform (the reference's ``--use_random_latent`` fixes t = 999); defaults for
the canvas UNet: 200 iterations of 32, 50 of warm-up, lr 1e-3, cross-attention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.core.registry import register
from obliviate.diffusion.loop import EraseMethod, frozen_copy


def patch_discriminator(channels: int, width: int = 32) -> nn.Module:
    """A small PatchGAN: one logit per patch of the latent."""
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(2 * width, 1, 3, padding=1))


def preserving_gradient(unlearn: list[torch.Tensor], preserve: list[torch.Tensor],
                        weight: float = 1.0) -> list[torch.Tensor]:
    """CPG: g_u without its component against g_r when they conflict, plus λ·g_r."""
    dot = sum((u * r).sum() for u, r in zip(unlearn, preserve))
    norm = sum((r * r).sum() for r in preserve)
    if dot < 0 and norm > 0:
        unlearn = [u - (dot / norm) * r for u, r in zip(unlearn, preserve)]
    return [u + weight * r for u, r in zip(unlearn, preserve)]


@register("scd", track="diffusion", needs=(), paper="Wu et al., AAAI 2025",
          idea="adversarially align the concept prompt's outputs with the anchor's; project out conflicting gradients")
@dataclass
class SCD(EraseMethod):
    parameter_set: str = "x"
    iterations: int = 200
    lr: float = 1e-3
    batch_size: int = 32
    discriminator_lr: float = 5e-4
    warmup: int = 50            # discriminator-only steps before the generator loss joins
    prior_weight: float = 1.0   # λ of the prior-preservation loss

    def setup(self, model, data, generator):
        self.original = frozen_copy(model.unet)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=generator)))
            self.discriminator = patch_discriminator(model.latent_shape[0]).to(device=model.device, dtype=model.dtype)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=self.discriminator_lr)
        self.step = 0

    def clean_prediction(self, model, x_t, t, eps) -> torch.Tensor:
        alpha = model.scheduler.alphas_cumprod.to(x_t.device)[t].view(-1, *[1] * (x_t.dim() - 1)).to(x_t.dtype)
        return ((x_t - (1 - alpha).sqrt() * eps) / alpha.sqrt()).clamp(-1, 1)

    def loss(self, model, data, generator):
        x0, anchor_prompts, idx = data.anchor.batch(self.batch_size, generator)
        x_t, t, noise = model.noisy(x0, generator)
        anchor = model.encode(anchor_prompts)
        target = model.encode([data.ablated[i] for i in idx.tolist()])
        with torch.no_grad():
            anchor_domain = self.clean_prediction(model, x_t, t, self.original(x_t, t, encoder_hidden_states=anchor).sample)
        concept_domain = self.clean_prediction(model, x_t, t, model.eps(x_t, t, target))
        bce = F.binary_cross_entropy_with_logits
        real, fake = self.discriminator(anchor_domain), self.discriminator(concept_domain.detach())
        d_loss = bce(real, torch.zeros_like(real)) + bce(fake, torch.ones_like(fake))
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        preserve = F.mse_loss(model.eps(x_t, t, anchor), noise)
        self.step += 1
        if self.step <= self.warmup:
            return self.prior_weight * preserve
        judged = self.discriminator(concept_domain)
        unlearn = bce(judged, torch.zeros_like(judged))
        params = [p for p in model.unet.parameters() if p.requires_grad]
        g_u = torch.autograd.grad(unlearn, params, retain_graph=True)
        g_r = torch.autograd.grad(preserve, params)
        combined = preserving_gradient(list(g_u), list(g_r), self.prior_weight)
        # a loss whose value is the objective's and whose gradient is the CPG direction
        surrogate = sum((p * g.detach()).sum() for p, g in zip(params, combined))
        return surrogate - surrogate.detach() + (unlearn + self.prior_weight * preserve).detach()
