"""NegMerge. Kim, Han and Choe, "NegMerge: Sign-Consensual Weight Merging for Machine
Unlearning", ICML 2025.

Task negation (``task_vector``) depends on how the forget set was fine-tuned. NegMerge
fine-tunes ``variants`` copies with different hyperparameters, and merges their task
vectors elementwise: where every τ_i has the same sign the merged τ is their mean,
elsewhere 0 (mgradyn/negmerge, ``negmerge.py``: ``|Σ sign(τ_i)| == n``). The model
is θ0 − λ·τ_merged, λ searched as for ``task_vector``.

Choice: the variants differ in learning rate (a geometric grid from ``lr / spread``
to ``lr · spread``) and in data order; the paper's image-classification runs vary
the fine-tuning's augmentations as well, which the built-in tasks do not have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.classify.loop import History, Method
from obliviate.classify.methods.task_vector import forget_task_vector, negate
from obliviate.core.registry import register


def sign_consensus_merge(task_vectors: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Mean of the task vectors where all of them share a sign (a zero agrees with
    nothing but zeros), 0 elsewhere."""
    merged = {}
    for name in task_vectors[0]:
        stacked = torch.stack([tv[name] for tv in task_vectors])
        agree = torch.sign(stacked).sum(0).abs() == len(task_vectors)
        merged[name] = torch.where(agree, stacked.mean(0), torch.zeros_like(stacked[0]))
    return merged


@register(
    "negmerge", track="classifier", needs=("forget", "retain", "labels"),
    paper="Kim et al., ICML 2025",
    idea="negate the merge of several forget-set task vectors, keeping only elements whose signs agree",
)
@dataclass
class NegMerge(Method):
    variants: int = 5
    epochs: int = 10
    lr: float = 0.01
    spread: float = 3.0  # the variants' learning rates span [lr / spread, lr · spread]
    batch_size: int = 32
    scale: float = 1.0
    max_retain_drop: float = 5.0

    def __post_init__(self) -> None:
        if self.variants < 2:
            raise ValueError(f"negmerge.variants must be >= 2 (one is task_vector), got {self.variants}")
        if self.epochs < 1 or not self.lr > 0 or not self.spread >= 1 or not self.scale > 0:
            raise ValueError("negmerge.epochs must be >= 1, lr and scale > 0, spread >= 1")

    def learning_rates(self) -> list[float]:
        n = self.variants
        return [self.lr * self.spread ** (2 * i / (n - 1) - 1) for i in range(n)]

    def apply(self, model, data, generator, progress=None) -> History:
        vectors = [forget_task_vector(model, data, generator, epochs=self.epochs, lr=lr, batch_size=self.batch_size)
                   for lr in self.learning_rates()]
        merged = sign_consensus_merge(vectors)
        self.kept = sum(int((t != 0).sum()) for t in merged.values()) / sum(t.numel() for t in merged.values())
        self.strength, note = negate(model, data, merged, self.scale, self.max_retain_drop)
        return History(stop_reason=note)
