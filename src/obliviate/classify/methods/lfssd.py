"""LFSSD: loss-free SSD. Foster et al., "Loss-Free Machine Unlearning", ICLR 2024 Tiny
Papers.

SSD with the Fisher importance replaced by a label-free sensitivity: the mean over
examples of |∂‖f(x)‖²/∂θ|, the gradient of the squared l2 norm of the model's
output (as in Memory Aware Synapses). Labels are never used, so it works on
unlabelled forget data. It keeps SSD's α and λ: the paper's variant is free of
labels and of the loss, not of hyperparameters; ``importance_batch_size=N`` takes
|∂‖f(x)‖²/∂θ| of batch means instead, as SSD's option does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from obliviate.classify.grads import LossFn
from obliviate.classify.methods.ssd import SSD
from obliviate.core.registry import register


def output_norm(logits, labels):
    """‖f(x)‖², averaged over the batch; the labels are ignored."""
    return logits.pow(2).sum(1).mean()


@register(
    "lfssd", track="classifier", needs=("forget", "retain"),
    paper="Foster et al., ICLR 2024 Tiny Papers",
    idea="SSD with a label-free importance: sensitivity of the output norm",
)
@dataclass
class LFSSD(SSD):
    importance_loss: ClassVar[LossFn] = staticmethod(output_norm)
    importance_transform: ClassVar = staticmethod(torch.abs)
