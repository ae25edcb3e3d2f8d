"""SLUG: single layer unlearning gradient. Cai, Tan and Asif, "Targeted Unlearning with
Single Layer Unlearning Gradient", ICML 2025.

One gradient computation, one layer updated:

1. the mean gradient of the cross-entropy on the forget set, g_f, and on (a sample of)
   the retain set, g_r, once, at the original weights;
2. for every weight matrix / kernel l (biases and normalisation parameters left out,
   as the reference): its importance ‖g_f,l‖ / ‖θ_l‖ and its gradient alignment
   |cos(g_f,l, g_r,l)|; the candidate layers are the Pareto front of high importance
   and low alignment (a layer is dropped when another has both a strictly lower
   alignment and a strictly higher importance: the reference's ``identify_pareto``,
   CSIPlab/SLUG ``pareto_analysis.py``);
3. for each candidate, the step θ_l + λ·g_f,l (ascent on the forget loss) with λ
   searched (the reference's binary search on a validation metric; here
   :func:`~obliviate.classify.loop.search_strength` against the retrained-model
   forget target with a ``max_retain_drop``-point retain guard), starting from
   λ₀ = ``relative_step`` · ‖θ_l‖ / ‖g_f,l‖; the candidate that lands closest to the
   target (then: with the least retain damage) is kept.

Choices: the reference unlearns CLIP and Stable Diffusion with their contrastive /
denoising losses and scores candidates with forget and utility metrics of those
models; obliviate uses the classifier's cross-entropy and forget / retain accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.data import sample
from obliviate.classify.grads import summed_batch_grads
from obliviate.classify.loop import History, Method, Monitor, along, search_strength, task_accuracy
from obliviate.core.registry import register


def pareto_front(importance: list[float], alignment: list[float]) -> list[int]:
    """Indices of the layers no other layer beats on both counts (strictly higher
    importance *and* strictly lower alignment), in input order."""
    return [i for i, (imp, cos) in enumerate(zip(importance, alignment))
            if not any(imp2 > imp and cos2 < cos for imp2, cos2 in zip(importance, alignment))]


def layer_scores(model: torch.nn.Module, forget_grad: dict[str, torch.Tensor],
                 retain_grad: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """{weight name: (importance ‖g_f‖/‖θ‖, alignment |cos(g_f, g_r)|)} for the weight
    matrices and kernels (parameters of two or more dimensions) with a forget gradient."""
    scores = {}
    for name, p in model.named_parameters():
        g_f, g_r = forget_grad.get(name), retain_grad.get(name)
        if p.dim() < 2 or g_f is None or g_r is None or not g_f.norm() > 0:
            continue
        importance = (g_f.norm() / p.detach().norm().clamp_min(1e-12)).item()
        alignment = F.cosine_similarity(g_f.flatten(), g_r.flatten(), dim=0, eps=1e-6).abs().item()
        scores[name] = (importance, alignment)
    return scores


@register(
    "slug", track="classifier", needs=("forget", "retain", "labels"),
    paper="Cai et al., ICML 2025",
    idea="one gradient, one layer: step the layer on the importance/alignment Pareto front that forgets best",
)
@dataclass
class SLUG(Method):
    relative_step: float = 0.05  # λ₀ moves the layer by this share of its norm
    max_retain_drop: float = 3.0
    batch_size: int = 256
    retain_samples: int = 4096

    tune_params = ("relative_step", "max_retain_drop")  # searched by `obliviate tune`

    def __post_init__(self) -> None:
        if not self.relative_step > 0 or self.batch_size < 1 or self.retain_samples < 1:
            raise ValueError("slug.relative_step must be > 0, batch_size and retain_samples >= 1")

    def apply(self, model, data, generator, progress=None) -> History:
        forget_sum, n_f = summed_batch_grads(model, data.forget, self.batch_size, F.cross_entropy)
        retain_sum, n_r = summed_batch_grads(model, sample(data.retain, self.retain_samples), self.batch_size,
                                             F.cross_entropy)
        g_f = {n: g / n_f for n, g in forget_sum.items()}
        g_r = {n: g / n_r for n, g in retain_sum.items()}
        scores = layer_scores(model, g_f, g_r)
        names = list(scores)
        if not names:
            raise ValueError("slug: no weight matrix has a forget gradient (the model fits the forget set exactly)")
        self.candidates = [names[i] for i in pareto_front([scores[n][0] for n in names],
                                                           [scores[n][1] for n in names])]
        params = dict(model.named_parameters())
        start = {n: params[n].detach().clone() for n in self.candidates}
        forget, retain = sample(data.forget, Monitor.SAMPLE), sample(data.retain, Monitor.SAMPLE)
        before_retain = task_accuracy(model, retain, data.num_classes)
        target = data.target_forget_acc if data.target_forget_acc is not None else 0.0
        results = []
        for name in self.candidates:
            lam0 = self.relative_step * (start[name].norm() / g_f[name].norm()).item()
            strength, note = search_strength(model, data, along(model, {name: g_f[name]}), lam0, self.max_retain_drop)
            miss = abs(task_accuracy(model, forget, data.num_classes) - target)
            damage = before_retain - task_accuracy(model, retain, data.num_classes)
            results.append((miss, damage, name, strength, note))
            with torch.no_grad():
                params[name].copy_(start[name])
        miss, damage, self.layer, self.strength, note = min(results, key=lambda r: (round(r[0], 3), r[1]))
        with torch.no_grad():
            params[self.layer].add_(self.strength * g_f[self.layer])
        return History(stop_reason=f"layer {self.layer} of {len(self.candidates)} on the Pareto front; {note}".rstrip("; "))
