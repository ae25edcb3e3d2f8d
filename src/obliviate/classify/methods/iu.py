"""IU: influence unlearning, one Newton step with a WoodFisher inverse Hessian.
Koh & Liang, ICML 2017; Izzo et al., AISTATS 2021; as used by Jia et al. (NeurIPS 2023).

θ ← θ + s·(n_f / n)·H⁻¹ ∇L(D_f), where ∇L(D_f) is the mean forget-set gradient and
H = λI + (1/N) Σ g_i g_iᵀ the damped empirical Fisher of N (512) retain examples (the
WoodFisher approximation of the Hessian). H⁻¹v is exact via the Woodbury identity,
H⁻¹v = (v − Gᵀ (NλI + G Gᵀ)⁻¹ G v) / λ with G the N×P matrix of per-example
gradients: an N×N solve instead of a P×P one. ``scale`` (s) is the step size the
reference code also exposes (and tunes per setting). Choice: a backtracking
safeguard, as for any Newton step: while retain accuracy (on up to 1024 examples)
falls more than ``max_retain_drop`` points, the step is halved (up to 20 times,
after which no step is taken and the run is flagged as not forgetting).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.data import batches, sample, size
from obliviate.classify.grads import flat, per_sample_grads, summed_batch_grads, unflat
from obliviate.classify.loop import History, Method
from obliviate.core.devices import to_model
from obliviate.core.registry import register
from obliviate.classify.metrics import accuracy


def woodbury_inverse_hvp(per_example: torch.Tensor, v: torch.Tensor, damping: float) -> torch.Tensor:
    """(λI + GᵀG/N)⁻¹ v for G = ``per_example`` (N×P); the N×N system is solved in float64."""
    g = per_example
    n = g.shape[0]
    small = n * damping * torch.eye(n, dtype=torch.float64, device=g.device) + (g @ g.T).double()
    coef = torch.linalg.solve(small, (g @ v).double()).to(g.dtype)
    return (v - g.T @ coef) / damping


@register(
    "iu", track="classifier", needs=("forget", "retain", "labels"),
    paper="Koh & Liang 2017; Izzo et al. 2021",
    idea="one Newton step that removes the forget set's influence (WoodFisher Hessian)",
)
@dataclass
class InfluenceUnlearning(Method):
    scale: float = 1.0
    damping: float = 1e-3
    n_samples: int = 512
    max_retain_drop: float = 3.0

    def __post_init__(self) -> None:
        if not self.scale > 0 or not self.damping > 0 or self.n_samples < 1:
            raise ValueError("iu.scale and iu.damping must be > 0 and iu.n_samples >= 1")

    def apply(self, model, data, generator, progress=None) -> History:
        n_f, n_r = size(data.forget), size(data.retain)
        summed, _ = summed_batch_grads(model, data.forget, 512, lambda out, y: F.cross_entropy(out, y, reduction="sum"))
        v = flat(summed) / n_f
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        rows = []
        model.eval()
        for x, y in batches(sample(data.retain, self.n_samples, seed), 256, shuffle=False):
            rows.append(flat(per_sample_grads(model, *to_model(model, x, y), F.cross_entropy), batched=True))
        step = woodbury_inverse_hvp(torch.cat(rows), v, self.damping)
        delta = unflat(self.scale * n_f / (n_f + n_r) * step, summed)
        probe = sample(data.retain, 1024)
        start = {n: p.detach().clone() for n, p in model.named_parameters() if n in delta}
        before = accuracy(model, probe)
        for halving in [*range(20), None]:  # None: no step is safe, leave the model as it was
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in delta:
                        p.copy_(start[name] + (delta[name] / 2 ** halving if halving is not None else 0))
            if halving is None or before - accuracy(model, probe) <= self.max_retain_drop / 100:
                break
        return History()
