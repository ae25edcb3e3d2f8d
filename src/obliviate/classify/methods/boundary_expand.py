"""Boundary Expanding. Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep
Networks via Shifting the Decision Space", CVPR 2023.

The classification head (the model's last ``nn.Linear``) gets one extra output, a
shadow class; the model is fine-tuned to put the forget set into it, and the shadow
output is then removed, leaving the forget examples to whatever class comes next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.classify.loop import LossMethod
from obliviate.classify.models import find_head
from obliviate.core.registry import register


@register(
    "boundary_expand", track="classifier", needs=("forget", "labels"),
    paper="Chen et al., CVPR 2023",
    idea="train the forget set into an extra shadow class, then delete that class",
)
@dataclass
class BoundaryExpanding(LossMethod):
    epochs: int = 10
    lr: float = 1e-3
    early_stop: bool = True

    drive = "forget"

    def setup(self, model, data, generator):
        parent, self.head_name, head = find_head(model, data.num_classes)
        self.parent, self.num_classes = parent, data.num_classes
        # initialised on the CPU (the shadow row's random init is the same on every device), then moved
        wide = nn.Linear(head.in_features, head.out_features + 1, bias=head.bias is not None,
                         dtype=head.weight.dtype).to(head.weight.device)
        with torch.no_grad():
            wide.weight[:-1] = head.weight
            if head.bias is not None:
                wide.bias[:-1] = head.bias
        setattr(parent, self.head_name, wide)

    def loss(self, model, batch):
        x, _ = batch.forget
        shadow = torch.full((len(x),), self.num_classes, dtype=torch.long, device=x.device)
        return F.cross_entropy(model(x), shadow)

    def teardown(self, model):
        wide = getattr(self.parent, self.head_name)
        head = nn.Linear(wide.in_features, self.num_classes, bias=wide.bias is not None,
                         device=wide.weight.device, dtype=wide.weight.dtype)
        with torch.no_grad():
            head.weight.copy_(wide.weight[:-1])
            if wide.bias is not None:
                head.bias.copy_(wide.bias[:-1])
        setattr(self.parent, self.head_name, head)
