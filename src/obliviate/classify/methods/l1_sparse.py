"""l1-sparse: fine-tune on the retain set with an l1 penalty whose weight decays
linearly. Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023.

Loss at epoch t (0-based) of T: CE(D_r) + α_t·‖θ‖₁ with α_t = α·(1 − t/T), the
schedule of the reference code (so the last epoch still has α/T; the weight reaches
0 at the end of training).

``prune`` > 0 selects the paper's "prune first, then unlearn" pipeline: one-shot
global magnitude pruning of the weight matrices and kernels (not biases) to that
sparsity, then ``recover_epochs`` of training the pruned model on the full training
set (forget ∪ retain, cross-entropy, the method's optimiser settings), so the sparse
model is as good as the original before unlearning starts and pruning damage is never
counted as forgetting; then the l1-sparse unlearning above. Pruned weights stay at
zero throughout. The reference (main_imp.py) rewinds the surviving weights to epoch 8
of the original training and retrains with the full recipe; a user's model has no
such checkpoint, so obliviate recovers from the pruned weights themselves (the
"fine-tuning" recovery of the pruning literature).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.loop import LossMethod, Phase, train_loop
from obliviate.classify.methods.ft import FineTune
from obliviate.core.registry import register


@register(
    "l1_sparse", track="classifier", needs=("retain", "labels"),
    paper="Jia et al., NeurIPS 2023",
    idea="fine-tune on the retain set with a decaying l1 penalty (optionally prune first)",
)
@dataclass
class L1Sparse(FineTune):
    alpha: float = 1e-4
    prune: float = 0.0
    recover_epochs: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha < 0:
            raise ValueError(f"l1_sparse.alpha must be >= 0, got {self.alpha}")
        if not 0 <= self.prune < 1:
            raise ValueError(f"l1_sparse.prune must be in [0, 1), got {self.prune}")
        if self.recover_epochs < 0:
            raise ValueError(f"l1_sparse.recover_epochs must be >= 0, got {self.recover_epochs}")

    def l1_weight(self, epoch: int) -> float:
        return self.alpha * (1 - epoch / self.epochs)

    def phases(self, epoch, data):
        weight = self.l1_weight(epoch)

        def loss(model, batch):
            x, y = batch.retain
            return F.cross_entropy(model(x), y) + weight * sum(p.abs().sum() for p in model.parameters())

        return [Phase(data, self.drive, loss)]

    def setup(self, model, data, generator):
        self.keep = magnitude_prune(model, self.prune) if self.prune > 0 else {}
        if self.keep and self.recover_epochs:
            recovery = _RecoverPruned(epochs=self.recover_epochs, lr=self.lr, batch_size=self.batch_size,
                                      optimizer=self.optimizer, momentum=self.momentum,
                                      weight_decay=self.weight_decay, precision=self.precision)
            recovery.keep = self.keep
            self.recovery_history = train_loop(model, recovery, data, generator)

    def after_step(self, model):
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.keep:
                    p.mul_(self.keep[name])


@dataclass
class _RecoverPruned(LossMethod):
    """Train a pruned model on the full training set, pruned weights held at zero."""

    drive = "union"

    def loss(self, model, batch):
        x, y, _ = batch.joined()
        return F.cross_entropy(model(x), y)

    def after_step(self, model):
        L1Sparse.after_step(self, model)


def magnitude_prune(model: torch.nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Zero the ``sparsity`` share of smallest-magnitude weights (tensors with ≥ 2 dims,
    one global threshold); return the masks of the weights kept."""
    weights = {n: p for n, p in model.named_parameters() if p.dim() >= 2}
    magnitudes = torch.cat([p.detach().abs().reshape(-1) for p in weights.values()])
    k = round(sparsity * magnitudes.numel())
    threshold = torch.kthvalue(magnitudes, k).values if k > 0 else magnitudes.min() - 1
    keep = {n: (p.detach().abs() > threshold).to(p.dtype) for n, p in weights.items()}
    with torch.no_grad():
        for n, p in weights.items():
            p.mul_(keep[n])
    return keep
