"""UCE: Unified Concept Editing. Gandikota et al., "Unified Concept Editing in
Diffusion Models", WACV 2024.

No training: every cross-attention key and value projection W is replaced by the
closed-form minimiser of

    λ‖W' − W‖² + Σ_e ‖W' c_e − W c_g‖² + s·Σ_p ‖W' c_p − W c_p‖²,

W' = (λW + Σ W c_g c_eᵀ + s·Σ W c_p c_pᵀ) (λI + Σ c_e c_eᵀ + s·Σ c_p c_pᵀ)⁻¹,

where c_e are the concept prompt's token embeddings, c_g the guide prompt's at the
same positions and c_p the preserved prompts' (every other object and style).
A closed form: no learning rate and no iterations, on any UNet size; λ = 0.5 is the
value in FORMULAS (the reference's regulariser), preserve scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from obliviate.core.registry import register
from obliviate.diffusion.loop import trainable


def uce_solution(W: torch.Tensor, erase: torch.Tensor, guide: torch.Tensor, preserve: torch.Tensor,
                 lam: float, preserve_scale: float) -> torch.Tensor:
    """The UCE edit of one projection ``W`` (out × d); ``erase``/``guide`` (n_e × d) are
    paired rows, ``preserve`` (n_p × d). Computed in float64."""
    W64, E, G, P = (a.double() for a in (W, erase, guide, preserve))
    eye = torch.eye(W64.shape[1], dtype=torch.float64, device=W.device)
    lhs = lam * W64 + (G @ W64.T).T @ E + preserve_scale * W64 @ P.T @ P
    gram = lam * eye + E.T @ E + preserve_scale * P.T @ P
    return torch.linalg.solve(gram, lhs.T).T.to(W.dtype)


@register("uce", track="diffusion", needs=(), paper="Gandikota et al., WACV 2024",
          idea="closed-form edit of cross-attention keys/values: the concept's tokens map to the guide's")
@dataclass
class UCE:
    lam: float = 0.5  # pull towards the original weights
    preserve_scale: float = 1.0

    tune_params: ClassVar[tuple[str, ...]] = ("lam", "preserve_scale")  # closed form: no lr or steps to search

    def __post_init__(self) -> None:
        if self.lam <= 0 or self.preserve_scale < 0:
            raise ValueError("uce.lam must be positive and uce.preserve_scale non-negative")

    def apply(self, model, data, generator=None, progress=None) -> dict:
        erase, guide = model.encode([data.concept])[0], model.encode([data.guide])[0]
        preserve = model.encode(data.preserve).flatten(0, 1) if data.preserve else erase[:0]
        with torch.no_grad():
            for name, p in trainable(model, "kv").items():
                if name.endswith(".weight"):
                    p.copy_(uce_solution(p, erase, guide, preserve, self.lam, self.preserve_scale))
        return {"diverged": False, "losses": []}
