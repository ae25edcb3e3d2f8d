"""Fisher forgetting. Golatkar et al., "Eternal Sunshine of the Spotless Net:
Selective Forgetting in Deep Networks", CVPR 2020.

No training: add Gaussian noise scaled by the inverse diagonal Fisher of the retain
set, θ ← θ + sqrt(α·v)·ε with v = min(1 / (F_r + 1e-8), v_max), ε ~ N(0, I).
Parameters the retain set does not need (small F_r) get the most noise, which
destroys what only the forget set relied on. As in the reference code, the
variance is capped at 1e3 (1e2 for the rows of the classification head), and for
class-level forgetting (``zero_class_head``) the rows of the classification head
that belong to forgotten classes are set to zero without noise.
Known limitation: on a model that has memorised its retain set the Fisher is tiny
everywhere (below 1e-3), every variance hits the cap and the noise is uniform;
there is no α between "nothing happens" and "the model collapses". Only the
class-head step then forgets (a class); random forgetting is flagged "did not
forget". Choices: F_r is the empirical Fisher (squared per-example gradients at the true
labels), which costs one gradient per example where the reference's expectation
over all classes costs one per class; the reference's extra averaging of the
variance over input dimensions and ×10 on 1-D parameters are not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.classify.data import labels
from obliviate.classify.grads import empirical_fisher
from obliviate.classify.models import find_head
from obliviate.classify.loop import History, Method
from obliviate.core.registry import register


def fisher_noise_std(fisher: torch.Tensor, alpha: float, cap: float) -> torch.Tensor:
    """Standard deviation of the noise: sqrt(α · min(1 / (F + 1e-8), cap))."""
    return (alpha * (1.0 / (fisher + 1e-8)).clamp(max=cap)).sqrt()


@register(
    "fisher", track="classifier", needs=("retain", "labels"),
    paper="Golatkar et al., CVPR 2020",
    idea="add noise where the retain set's Fisher information is small (no training)",
)
@dataclass
class FisherForgetting(Method):
    alpha: float = 1e-6
    max_var: float = 1e3
    head_max_var: float = 1e2
    zero_class_head: bool = True

    def __post_init__(self) -> None:
        if not self.alpha > 0 or not self.max_var > 0 or not self.head_max_var > 0:
            raise ValueError("fisher.alpha, max_var and head_max_var must be > 0")

    def apply(self, model, data, generator, progress=None) -> History:
        fisher = empirical_fisher(model, data.retain)
        gone = forgotten_classes(data) if self.zero_class_head else torch.zeros(0, dtype=torch.long)
        gone = gone.to(next(model.parameters()).device)
        _, _, head = find_head(model, data.num_classes)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name not in fisher:
                    continue
                cap = self.head_max_var if p.shape[0] == data.num_classes else self.max_var
                noise = torch.randn(p.shape, generator=generator).to(p)  # drawn on the CPU: same on every device
                p.add_(fisher_noise_std(fisher[name], self.alpha, cap) * noise)
            for p in head.parameters():
                p[gone] = 0.0
        return History()


def forgotten_classes(data) -> torch.Tensor:
    """Classes of the forget set that have no example left in the retain set."""
    forget = labels(data.forget).unique()
    return forget[~torch.isin(forget, labels(data.retain))]
