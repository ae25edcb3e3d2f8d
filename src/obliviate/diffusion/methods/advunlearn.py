"""AdvUnlearn. Zhang, Chen, Jia, Zhang, Liu, Liu and Liu, "Defensive Unlearning with
Adversarial Training for Robust Concept Erasure in Diffusion Models", NeurIPS 2024
(reference: OPTML-Group/AdvUnlearn, ``train-scripts/AdvUnlearn.py``,
``utils/attack_util.py``).

ESD's erasure, trained against the attack that undoes it: before each step an
adversarial conditioning δ is searched (``attack_steps`` Adam steps at
``attack_lr``, warm-started from the last one: the reference's ``attack_init
latest``) so that the model being erased, prompted with c + δ, predicts what the
frozen original predicts for the concept c: min_δ ‖ε_θ(x_t, c+δ) − ε*(x_t, c)‖². The
erasure step then uses the adversarial prompt: ε_θ(x_t, c+δ) → ε*(x_t, ∅) −
η·(ε*(x_t, c) − ε*(x_t, ∅)), plus the utility-retaining regulariser ``retain_weight``
× ‖ε_θ(x_r, c_r) − ε*(x_r, c_r)‖² on retain prompts (the reference's ``reg`` mode;
its default ``iter`` takes that step separately after each erasure step).

Reference settings (Stable Diffusion v1.4): 1000 iterations at lr 1e-5, η 1, the
attack every iteration after 200 warm-up iterations, 30 steps at attack lr 1e-3 on one
prefix token's word embedding, retain weight 1 on COCO prompts, the text encoder
trained. Choices: the canvas model's prompt encoder is fixed, so the attack perturbs
the conditioning embedding (the reference's ``condition_embd`` option) and the UNet's
cross-attention is trained (its ``xattn`` option); x_t of the attack is the erasure
step's batch, drawn once per attack, where the reference redraws it per attack step;
the retain images are noised from data rather than sampled. Defaults for the canvas
UNet: 150 iterations, 30 of warm-up, 10 attack steps at lr 1e-2."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.diffusion.methods.esd import ESD


@register("advunlearn", track="diffusion", needs=("retain",), paper="Zhang et al., NeurIPS 2024",
          idea="ESD trained against an adversarial prompt found before every step, with a retain regulariser")
@dataclass
class AdvUnlearn(ESD):
    attack_steps: int = 10
    attack_lr: float = 1e-2
    warmup: int = 30          # erasure steps before the first attack
    attack_every: int = 1     # steps between attacks (the reference's adv_prompt_update_step)
    retain_weight: float = 1.0

    def setup(self, model, data, generator):
        super().setup(model, data, generator)
        self.delta = torch.zeros_like(self.c)
        self.step = 0

    def attack(self, model, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """δ after ``attack_steps`` Adam steps from the last δ (parameter gradients untouched)."""
        n = len(x_t)
        with torch.no_grad():
            wanted = self.original(x_t, t, encoder_hidden_states=self.c.expand(n, -1, -1)).sample
        delta = self.delta.clone().requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=self.attack_lr)
        for _ in range(self.attack_steps):
            loss = F.mse_loss(model.eps(x_t, t, (self.c + delta).expand(n, -1, -1)), wanted)
            (delta.grad,) = torch.autograd.grad(loss, [delta])
            opt.step()
        return delta.detach()

    def loss(self, model, data, generator):
        x_t, t, target = self.erase_batch(model, generator)
        if self.step >= self.warmup and (self.step - self.warmup) % self.attack_every == 0:
            self.delta = self.attack(model, x_t, t)
        self.step += 1
        erase = F.mse_loss(model.eps(x_t, t, (self.c + self.delta).expand(len(x_t), -1, -1)), target)
        r0, prompts, _ = data.retain.batch(self.batch_size, generator)
        x_r, t_r, _ = model.noisy(r0, generator)
        emb = model.encode(prompts)
        with torch.no_grad():
            kept = self.original(x_r, t_r, encoder_hidden_states=emb).sample
        return erase + self.retain_weight * F.mse_loss(model.eps(x_r, t_r, emb), kept)
