"""RMU: representation misdirection. Li et al., "The WMDP Benchmark", ICML 2024.

Push the residual stream at layer l on forget answer tokens toward a fixed random direction
c·u and keep it at the starting model's value on retain tokens (cached once),
updating only the MLP weights of layers l−2..l. Reference settings (WMDP's code,
Zephyr-7B): layer 7 of 32, c = 6.5, α = 1200, lr 5e-5, batch 4; OpenUnlearning's TOFU
config: layer 7, steering 2, every parameter trained, lr 1e-5, 10 epochs.

Choices: α = 100, lr 1e-2, batch 4, 20 epochs for the tiny model; l defaults to the
middle layer, and the control vector's norm is
``steering`` times the starting model's mean activation norm on the forget set at
that layer (the reference's c = 6.5 was an absolute number for Zephyr-7B's
activations; a model of another size has other norms). The forget term covers the
answer tokens only: the "Question: ... Answer:" template is shared with the retain
set, and scrambling it fought the retain term (measured: nothing was forgotten).
Known limitation: on the 3-layer tofu-mini model RMU forgets little; it was designed
for 7B-scale models whose middle layers hold the knowledge."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.core.registry import register
from obliviate.lm.losses import rmu_loss
from obliviate.lm.text import on_device, pad
from obliviate.lm.unlearn import LMMethod


def hidden_at(model, batch, layer: int) -> torch.Tensor:
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    return out.hidden_states[layer + 1]


@register("rmu", track="lm", needs=("forget", "retain"), paper="Li et al., ICML 2024",
          idea="scramble forget-set activations toward a random direction, keep retain activations")
@dataclass
class RMU(LMMethod):
    epochs: float = 20.0
    lr: float = 1e-2
    batch_size: int = 4
    layer: int = -1          # -1: the middle layer
    steering: float = 2.0    # norm of c·u, in mean activation norms
    retain_weight: float = 100.0

    needs_reference = ("retain_hidden",)

    def setup(self, model, tokenizer, forget, generator, *, retain=None):
        n_layers = model.config.num_hidden_layers
        if self.layer < 0:
            self.layer = n_layers // 2
        if not 0 <= self.layer < n_layers:
            raise ValueError(f"rmu.layer must be in 0..{n_layers - 1}, got {self.layer}")
        u = torch.rand(model.config.hidden_size, generator=generator)  # drawn on the CPU: same on every device
        with torch.no_grad():
            batch = on_device(pad(forget[:64], tokenizer.pad_token_id), model)
            hidden = hidden_at(model.eval(), batch, self.layer)[batch["labels"] != -100]
            u = u.to(hidden)
            self.control = self.steering * hidden.norm(dim=-1).mean() * u / u.norm()

    def loss(self, model, inputs):
        f, r = inputs["forget"], inputs["retain"]
        h_f = hidden_at(model, f, self.layer)[f["labels"] != -100]  # answer tokens: the prompt template is shared
        h_r = hidden_at(model, r, self.layer)[r["attention_mask"].bool()]
        # the Trainer may move the model after setup (accelerate): the control vector follows it
        return rmu_loss(h_f, self.control.to(h_f), h_r, r["retain_hidden"], self.retain_weight)

    def trainable(self, model):
        layers = range(max(0, self.layer - 2), self.layer + 1)
        names = [n for n, _ in model.named_parameters()
                 if any(f".{i}.mlp." in n for i in layers) and ("lora_" in n or not self.lora)]
        if not names:
            raise ValueError("rmu: found no MLP parameters named '<layer>.mlp.' to update")
        return names
