"""UnGuide. Polowczyk, Polowczyk, Malarz, Kasymov, Mazur, Tabor and Spurek, "UnGuide:
Learning to Forget with LoRA-Guided Diffusion Models", 2025 (reference:
piotrmwojcik/UnGuide; ``train.py``, ``compute_lora_diff.py``, ``autoguide.py``,
``generate_images.py``).

Two parts. Training: a rank-``lora_rank`` LoRA on the cross-attention keys and values
(the reference's ``attn2.to_k``, ``attn2.to_v``; scale α/r) learns ESD's negatively
guided target, the base weights frozen. Inference (UnGuidance,
:class:`UnGuidedDiffusion`): both models run under classifier-free guidance and
their predictions are mixed, ε = w·ε_base + (1 − w)·ε_LoRA, with w chosen per prompt
from how much the LoRA changed the prediction for it: the mean ‖ε_LoRA − ε_base‖ on
the base model's half-denoised samples of the prompt, against the same for the empty
prompt. Above it (the prompt carries the concept) w = ``w_concept`` (−1: the LoRA
dominates, pushed further from the base); below it w = ``w_other`` (2: the base
dominates, undoing the LoRA's side effects).

Reference settings (SD v1.4): rank 1, α 8, lr 3e-5, 200 iterations, η 2, the
difference at step 25 of 50 over 30 samples, w 2 / −1. Defaults for the canvas UNet:
rank 1, α 8, lr 1e-2 (a rank-1 update of a 200k-parameter UNet), 150 iterations of 16,
η 2, the difference at step 5 of 10 over 16 samples. Choice: the decision is
computed once per prompt embedding and cached (the reference computes it once per
prompt of its list)."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize

from obliviate.core.registry import register
from obliviate.diffusion.methods.esd import ESD
from obliviate.diffusion.models import Diffusion


class LowRankUpdate(nn.Module):
    """W ↦ W + (α/r)·B·A with B zero at the start (LoRA as a weight parametrisation)."""

    def __init__(self, weight: torch.Tensor, rank: int, alpha: float, generator: torch.Generator):
        super().__init__()
        out_features, in_features = weight.shape
        bound = 1 / in_features ** 0.5
        a = (torch.rand(rank, in_features, generator=generator) * 2 - 1) * bound
        self.A = nn.Parameter(a.to(weight))
        self.B = nn.Parameter(torch.zeros(out_features, rank, dtype=weight.dtype, device=weight.device))
        self.scale = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * self.B @ self.A


@dataclass
class UnGuidedDiffusion(Diffusion):
    """The LoRA-tuned model (``unet``) guided together with the base (``base_unet``)."""

    base_unet: nn.Module | None = None
    w_concept: float = -1.0
    w_other: float = 2.0
    probe_samples: int = 16
    probe_steps: int = 10
    probe_stop: int = 5
    decisions: dict = field(default_factory=dict)

    def base(self) -> Diffusion:
        return Diffusion(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Diffusion)} | {"unet": self.base_unet})

    @torch.no_grad()
    def change(self, emb: torch.Tensor) -> float:
        """Mean ‖ε_LoRA − ε_base‖ on the base model's half-denoised samples of ``emb`` (1, L, d)."""
        probe = emb.expand(self.probe_samples, -1, -1)
        x_t, t = self.base().sample(probe, torch.Generator().manual_seed(0), steps=self.probe_steps,
                                    stop_after=self.probe_stop)
        gap = self.unet(x_t, t, encoder_hidden_states=probe).sample - self.base_unet(x_t, t, encoder_hidden_states=probe).sample
        return float(gap.flatten(1).norm(dim=1).mean())

    def weights(self, emb: torch.Tensor) -> torch.Tensor:
        """w of each row's prompt embedding (cached by its value)."""
        if "" not in self.decisions:
            self.decisions[""] = self.change(self.encode([""]))
        out = []
        for row in emb.detach():
            key = hashlib.sha1(row.float().cpu().numpy().tobytes()).hexdigest()
            if key not in self.decisions:
                self.decisions[key] = self.change(row[None])
            out.append(self.w_concept if self.decisions[key] > self.decisions[""] else self.w_other)
        return self.put(torch.tensor(out)).view(-1, *[1] * len(self.latent_shape))

    def eps(self, x_t, t, emb):
        w = self.weights(emb)
        base = self.base_unet(x_t, t, encoder_hidden_states=emb).sample
        return w * base + (1 - w) * self.unet(x_t, t, encoder_hidden_states=emb).sample

    def guided_eps(self, x_t, t, emb, guidance):
        """UnGuidance: w·CFG(base) + (1 − w)·CFG(LoRA), w from the conditioning prompt."""
        w = self.weights(emb)
        empty = self.encode([""]).expand(len(emb), -1, -1)
        both_t = torch.cat([t, t]) if t.dim() else t
        guided = []
        for unet in (self.base_unet, self.unet):
            cond, uncond = unet(torch.cat([x_t, x_t]), both_t, encoder_hidden_states=torch.cat([emb, empty])).sample.chunk(2)
            guided.append(uncond + guidance * (cond - uncond))
        return w * guided[0] + (1 - w) * guided[1]


@register("unguide", track="diffusion", needs=(), paper="Polowczyk et al., 2025",
          idea="ESD through a rank-1 LoRA; at inference mix base and LoRA per prompt by how much the LoRA moved it")
@dataclass
class UnGuide(ESD):
    parameter_set: str = "kv"
    eta: float = 2.0
    lr: float = 1e-2
    lora_rank: int = 1
    lora_alpha: float = 8.0
    w_concept: float = -1.0
    w_other: float = 2.0
    probe_samples: int = 16  # samples per prompt of the change that decides w

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lora_rank < 1 or self.lora_alpha <= 0 or self.probe_samples < 1:
            raise ValueError("unguide: lora_rank and probe_samples must be >= 1 and lora_alpha > 0")

    def setup(self, model, data, generator):
        super().setup(model, data, generator)
        self.lora_seed = int(torch.randint(2**31 - 1, (), generator=generator))

    def parameters_to_train(self, model, chosen):
        modules = dict(model.unet.named_modules())
        generator = torch.Generator().manual_seed(self.lora_seed)
        lora = {}
        for name in [n for n in chosen if n.endswith(".weight")]:
            owner = modules[name.rsplit(".", 1)[0]]
            parametrize.register_parametrization(owner, "weight", LowRankUpdate(owner.weight, self.lora_rank,
                                                                                self.lora_alpha, generator))
            update = owner.parametrizations.weight[0]
            lora |= {f"{name}.A": update.A, f"{name}.B": update.B}
        for p in model.unet.parameters():
            p.requires_grad_(False)
        for p in lora.values():
            p.requires_grad_(True)
        return lora

    def wrap(self, model):
        for module in model.unet.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(Diffusion)}
        return UnGuidedDiffusion(**fields, base_unet=self.original, w_concept=self.w_concept, w_other=self.w_other,
                                 probe_samples=self.probe_samples, probe_steps=self.sample_steps,
                                 probe_stop=self.sample_steps // 2)
