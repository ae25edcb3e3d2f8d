"""DMM: datamodel matching. Georgiev, Rinberg, Park, Garg, Ilyas, Madry and Neel,
"Attribute-to-Delete: Machine Unlearning via Datamodel Matching", ICLR 2025.

A meta-algorithm: (a) use data attribution to *predict* the outputs (logits) a model
retrained without the forget set would give, on forget and retain examples; (b)
fine-tune the model to *match* those predicted outputs (squared error on the logits,
over batches of forget ∪ retain examples). Better attribution, better unlearning.

The attribution here is the one a single model affords exactly: a *linear datamodel
of the head*. With the penultimate features z(x) of the original model held fixed, the
classification head is a convex (multinomial logistic) model; retraining it without
the forget set is solved to convergence (L-BFGS from the current head, weight decay
``head_decay``), and its logits on z(x) are the predicted outputs. The paper's
datamodels are fitted on thousands of models trained on random subsets (or TRAK);
ours sees only what the head learnt from the forget set, not what the features did,
so on a memorised random forget set it predicts less forgetting than retraining shows.
The matching step then moves the features too (the whole model is fine-tuned).

Choices: matching on forget ∪ retain batches (the union drive) for ``epochs`` epochs,
SGD lr 0.01; the retain examples keep the model's behaviour elsewhere, as the paper's
matching set does. ``KLoM`` (the paper's metric) is in ``obliviate eval``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.classify.data import batches, sample
from obliviate.classify.loop import LossMethod
from obliviate.classify.models import features_and_logits, find_head
from obliviate.core.devices import to_model
from obliviate.core.registry import register


@torch.no_grad()
def _features(model: nn.Module, data) -> tuple[torch.Tensor, torch.Tensor]:
    feats, ys = [], []
    for x, y in batches(data, 512, shuffle=False):
        x, y = to_model(model, x, y)
        feats.append(features_and_logits(model, x)[0].float())
        ys.append(y)
    return torch.cat(feats), torch.cat(ys)


def refit_head(weight: torch.Tensor, bias: torch.Tensor | None, features: torch.Tensor, labels: torch.Tensor,
               decay: float, iterations: int = 200) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The head retrained on (features, labels): minimise mean CE + decay/2 · ‖W‖² from
    the current head with L-BFGS (a convex problem: the solution does not depend on
    the start)."""
    w = weight.detach().clone().requires_grad_(True)
    b = bias.detach().clone().requires_grad_(True) if bias is not None else None
    params = [w] + ([b] if b is not None else [])
    optimizer = torch.optim.LBFGS(params, max_iter=iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        optimizer.zero_grad()
        logits = features @ w.T + (b if b is not None else 0)
        loss = F.cross_entropy(logits, labels) + 0.5 * decay * w.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach(), (b.detach() if b is not None else None)


@register(
    "dmm", track="classifier", needs=("forget", "retain", "labels"),
    paper="Georgiev et al., ICLR 2025",
    idea="predict the retrained model's outputs by data attribution, then fine-tune the model to match them",
)
@dataclass
class DatamodelMatching(LossMethod):
    epochs: int = 10
    lr: float = 0.01
    head_decay: float = 5e-4
    retain_samples: int = 8192  # retain examples the head is refitted on

    tune_params = ("head_decay",)  # searched by `obliviate tune`

    drive = "union"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.head_decay > 0 or self.retain_samples < 1:
            raise ValueError("dmm.head_decay must be > 0 and retain_samples >= 1")

    def setup(self, model, data, generator):
        model.eval()
        _, _, head = find_head(model, data.num_classes)
        retain_z, retain_y = _features(model, sample(data.retain, self.retain_samples))
        self.weight, self.bias = refit_head(head.weight.float(), None if head.bias is None else head.bias.float(),
                                            retain_z, retain_y, self.head_decay)
        self.original = copy.deepcopy(model).requires_grad_(False)
        model.train()

    @torch.no_grad()
    def predicted_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The datamodel's prediction of a retrained model's logits on ``x``."""
        z = features_and_logits(self.original, x)[0].float()
        return z @ self.weight.T + (self.bias if self.bias is not None else 0)

    def loss(self, model, batch):
        x, _, _ = batch.joined()
        return F.mse_loss(model(x).float(), self.predicted_logits(x))

    def teardown(self, model):
        del self.original
