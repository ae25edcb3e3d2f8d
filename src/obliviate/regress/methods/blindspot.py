"""Blindspot unlearning. Tarun, Chundawat, Mandal and Kankanhalli, "Deep Regression
Unlearning", ICML 2023.

A *blindspot* model (same architecture, fresh weights) is trained briefly on the retain
set only, so it has never seen the forget set. The original is then trained on
batches of forget ∪ retain with, as the reference code (``unlearn.py``):

- forget examples: L1 distance to the blindspot model's predictions, plus
  β · Σ_layers ‖a(h) − a(h_blindspot)‖² (attention transfer on every ReLU's output,
  a(h) = normalise(mean over channels of h²); β = 50);
- retain examples: L1 distance to the labels;
- weighted by the batch's forget share c: c · forget term + (1 − c) · retain term.

Choices: the reference's activations are convolutional maps (attention = the channel
mean of h², one value per position); an MLP's hidden layer has no positions, so a(h)
is the normalised h² itself (each unit a position). The blindspot model trains
``blindspot_epochs`` (5) epochs with the task's learning rate on the retain set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.classify.models import reinitialise
from obliviate.core.registry import register
from obliviate.regress.loop import RegressionData, RegressionLossMethod
from obliviate.regress.models import forward_with_activations


def attention(h: torch.Tensor) -> torch.Tensor:
    """Attention map of activations (Zagoruyko and Komodakis): the L2-normalised mean over
    channels of h² for maps (N, C, ...), the L2-normalised h² for vectors (N, units)."""
    squared = h.pow(2)
    flat = squared.mean(1).flatten(1) if h.dim() > 2 else squared
    return F.normalize(flat, dim=1)


def attention_difference(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return (attention(h) - attention(g)).pow(2).mean()


@register("blindspot", track="regress", needs=("forget", "retain", "labels"), paper="Tarun et al., ICML 2023",
          idea="pull forget outputs and activations to a partly trained model that never saw them")
@dataclass
class Blindspot(RegressionLossMethod):
    epochs: int = 20
    lr: float = 1e-3
    attention_weight: float = 50.0  # β
    blindspot_epochs: int = 5

    drive = "union"

    def setup(self, model, data, generator):
        blind = copy.deepcopy(model)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        reinitialise(blind)
        from obliviate.regress.methods.ft import FineTune

        FineTune(epochs=self.blindspot_epochs, lr=self.lr).apply(
            blind, RegressionData(data.forget, data.retain), generator)
        self.blindspot = blind.eval().requires_grad_(False)

    def loss(self, model, forget, retain):
        terms, sizes = [], []
        if forget is not None:
            x, _ = forget
            out, acts = forward_with_activations(model, x)
            with torch.no_grad():
                target, blind_acts = forward_with_activations(self.blindspot, x)
            at = sum(attention_difference(a, b) for a, b in zip(acts, blind_acts))
            terms.append(F.l1_loss(out, target) + self.attention_weight * at)
            sizes.append(len(x))
        if retain is not None:
            x, y = retain
            terms.append(F.l1_loss(model(x), y))
            sizes.append(len(x))
        total = sum(sizes)
        return sum(t * n / total for t, n in zip(terms, sizes))
