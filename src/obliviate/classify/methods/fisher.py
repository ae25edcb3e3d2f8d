"""Fisher forgetting. Golatkar et al., "Eternal Sunshine of the Spotless Net:
Selective Forgetting in Deep Networks", CVPR 2020.

No training: add Gaussian noise scaled by the inverse diagonal Fisher of the retain
set, θ ← θ + sqrt(α·v)·ε with v = min(1 / (F_r + 1e-8), v_max), ε ~ N(0, I).
Parameters the retain set does not need (small F_r) get the most noise, which
destroys what only the forget set relied on. As in the reference code, the
variance is capped at 1e3 (1e2 for the rows of the classification head), and for
class-level forgetting (``zero_class_head``) the rows of the classification head
that belong to forgotten classes are set to zero without noise; their biases go
below every other logit seen on the forget and retain sets (a zero logit alone still
wins where the other logits are negative).
Known limitation: on a model that has memorised its retain set the Fisher is tiny
everywhere (below 1e-3), every variance hits the cap and the noise is uniform;
there is no α between "nothing happens" and "the model collapses". Only the
class-head step then forgets (a class); random forgetting is flagged "did not
forget". Choices: F_r is the empirical Fisher (squared per-example gradients at the true
labels), which costs one gradient per example where the reference's expectation
over all classes costs one per class; the reference's extra averaging of the
variance over input dimensions and ×10 on 1-D parameters are not applied.

α is relative to the loss curvature of the user's model through
:func:`~obliviate.classify.loop.search_strength`: one noise draw is scaled, α
multiplied by 4 while forget accuracy is above the retrained-model target (when
known) and divided by 4 while retain accuracy falls more than ``max_retain_drop``
points, starting from ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.classify.data import labels, predict, sample
from obliviate.classify.grads import empirical_fisher
from obliviate.classify.models import find_head
from obliviate.classify.loop import History, Method, along, search_strength
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
    max_retain_drop: float = 3.0

    # searched by `obliviate tune`: the noise caps, and how much retain accuracy the α search may spend
    tune_params = ("max_var", "max_retain_drop")

    def __post_init__(self) -> None:
        if not self.alpha > 0 or not self.max_var > 0 or not self.head_max_var > 0:
            raise ValueError("fisher.alpha, max_var and head_max_var must be > 0")

    def apply(self, model, data, generator, progress=None) -> History:
        fisher = empirical_fisher(model, data.retain)
        gone = forgotten_classes(data) if self.zero_class_head else torch.zeros(0, dtype=torch.long)
        gone = gone.to(next(model.parameters()).device)
        _, _, head = find_head(model, data.num_classes)
        if len(gone):
            silence_classes(model, head, gone, data)
        unit_std = {}  # the noise at α = 1, one draw (on the CPU: the same on every device)
        for name, p in model.named_parameters():
            if name in fisher:
                cap = self.head_max_var if p.shape[0] == data.num_classes else self.max_var
                noise = torch.randn(p.shape, generator=generator).to(p)
                unit_std[name] = fisher_noise_std(fisher[name], 1.0, cap) * noise
                if p.shape[0] == data.num_classes:
                    unit_std[name][gone] = 0.0  # the forgotten classes' rows stay at zero

        noise = along(model, unit_std, factor=lambda alpha: alpha ** 0.5)
        self.strength, note = search_strength(model, data, noise, self.alpha, self.max_retain_drop, growth=4.0)
        return History(stop_reason=note)


@torch.no_grad()
def silence_classes(model: torch.nn.Module, head: torch.nn.Linear, gone: torch.Tensor, data) -> None:
    """The class-level head step: the forgotten classes' weight rows to zero, as in the
    reference, and their biases below every logit of the other classes on (samples of)
    the forget and retain sets. Zero alone leaves a logit of 0, which still wins
    wherever the other logits are negative (common in a ReLU network's head)."""
    head.weight[gone] = 0.0
    if head.bias is None:
        return
    keep = torch.ones(data.num_classes, dtype=torch.bool, device=gone.device)
    keep[gone] = False
    lowest = min(predict(model, sample(part, 1024))[0][:, :data.num_classes][:, keep.cpu()].min().item()
                 for part in (data.forget, data.retain))
    head.bias[gone] = min(lowest, 0.0) - 1.0


def forgotten_classes(data) -> torch.Tensor:
    """Classes of the forget set that have no example left in the retain set."""
    forget = labels(data.forget).unique()
    return forget[~torch.isin(forget, labels(data.retain))]
