"""MUDMAN: meta-unlearning with disruption masking and normalization. Sondej et al.,
"Robust LLM Unlearning with MUDMAN: Meta-Unlearning with Disruption Masking And
Normalization", 2025 (reference: the paper's ``MUDMAN`` function).

A loop of three passes on the weights of ``target_modules``:

1. retain: the retain NLL's gradient g_r at θ updates a momentum r ← m·r + (1−m)·g_r
   and θ ← θ − η_r·r;
2. adversary (meta-learning): a fork θ_adv of θ (re-forked every ``fork_every``
   loops) takes one relearning step on the forget NLL, θ_adv ← θ_adv − η_adv·g_f,
   g_f taken at θ_adv: unlearning is aimed at the model an attacker would reach;
3. unlearning: u = −g_f, kept only where sign(u) = sign(r) (disruption masking: no
   element moves against what the retain set needs), θ ← θ − η_u·u/‖g_f‖
   (normalisation: each step has a fixed size, whatever the loss's scale).

Choices: ``steps`` counts passes as the reference (four per loop); the loss is the
answer-token NLL of our QA items (the reference's is the full-sequence cross-entropy
of raw text); ``target_modules`` defaults to every MLP weight ("mlp." in the name:
GPT-2's c_fc / c_proj, Llama's gate / up / down projections; the reference's is
Llama's gate_proj). Plain SGD-like updates in one process, as the reference:
``accelerate launch`` does not shard it. The step is a fixed distance in weight
space, so its size belongs to the model: the reference's for Llama-3.2-1B (unlearning
rate 1e-1, 300 passes, adversary 1e-3, retaining 1e-3, momentum 0.9, fork every 32
loops, batch 16) is the preset from 100M parameters; tofu-mini's 443k-parameter model
needs more (measured, forget05: rate 0.1 × 300 passes leaves the forget answers'
probability at 0.94; 0.3 × 800 brings it to 0.04 with model utility 0.749 against the
retain-only model's 0.764), hence the defaults 0.3 and 800."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.core.registry import register
from obliviate.lm.text import on_device, pad
from obliviate.lm.unlearn import LMMethod, mean_nll

PASSES_PER_LOOP = 4


def batches(items: list[dict], size: int, pad_id: int, generator: torch.Generator):
    """Endless shuffled mini-batches of the items' examples."""
    while True:
        order = torch.randperm(len(items), generator=generator).tolist()
        for start in range(0, len(order), size):
            yield pad([items[i]["example"] for i in order[start:start + size]], pad_id)


def unlearning_step(forget_grad: list[torch.Tensor], retain_momentum: list[torch.Tensor],
                    rate: float) -> list[torch.Tensor]:
    """The change to θ of step 3: u = −g_f masked to sign(u) = sign(r), times −rate/‖g_f‖
    (the norm over every target weight, before masking, as the reference)."""
    norm = torch.sqrt(sum((g.float() ** 2).sum() for g in forget_grad)).clamp_min(1e-12)
    return [-(rate / norm) * (-g * (m.sign() == (-g).sign())) for g, m in zip(forget_grad, retain_momentum)]


@register("mudman", track="lm", needs=("forget", "retain"), paper="Sondej et al., 2025",
          idea="unlearn against a simulated relearning attacker, only where the retain gradient agrees, in fixed-size steps")
@dataclass
class MUDMAN(LMMethod):
    steps: int = 800
    unlearning_rate: float = 0.3
    adversary_lr: float = 1e-3
    retaining_rate: float = 1e-3
    retain_momentum: float = 0.9
    fork_every: int = 32  # loops
    target_modules: str = "mlp."  # comma-separated substrings of the parameter names to update
    batch_size: int = 8

    own_loop = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < PASSES_PER_LOOP or self.fork_every < 1 or not 0 <= self.retain_momentum < 1:
            raise ValueError(f"mudman: steps must be >= {PASSES_PER_LOOP}, fork_every >= 1, retain_momentum in [0, 1)")
        if min(self.unlearning_rate, self.adversary_lr, self.retaining_rate) < 0:
            raise ValueError("mudman: the rates must be >= 0")

    def trainable(self, model):
        wanted = [t.strip() for t in self.target_modules.split(",") if t.strip()]
        names = [n for n, p in model.named_parameters() if n.endswith("weight") and any(t in n for t in wanted)]
        if not names:
            raise ValueError(f"mudman: no weight matches target_modules={self.target_modules!r}")
        return names

    def run(self, model, tokenizer, forget, retain, generator):
        params = [p for p in model.parameters() if p.requires_grad]
        base = [p.detach().clone() for p in params]
        momentum = [torch.zeros_like(p) for p in params]
        adversary: list[torch.Tensor] = []
        forget_batches = batches(forget, self.batch_size, tokenizer.pad_token_id, generator)
        retain_batches = batches(retain, self.batch_size, tokenizer.pad_token_id, generator)
        losses: list[float] = []
        model.train()

        def gradient(weights, batch) -> tuple[list[torch.Tensor], float]:
            with torch.no_grad():
                for p, w in zip(params, weights):
                    p.copy_(w)
            loss = mean_nll(model, on_device(batch, model))
            return list(torch.autograd.grad(loss, params)), float(loss)

        for loop in range(self.steps // PASSES_PER_LOOP):
            if loop % self.fork_every == 0:
                adversary = [w.clone() for w in base]
            retain_grad, _ = gradient(base, next(retain_batches))
            forget_grad, forget_loss = gradient(adversary, next(forget_batches))
            with torch.no_grad():
                for w, m, g_r, a, g_f in zip(base, momentum, retain_grad, adversary, forget_grad):
                    m.mul_(self.retain_momentum).add_(g_r, alpha=1 - self.retain_momentum)
                    w.sub_(self.retaining_rate * m)
                    a.sub_(self.adversary_lr * g_f)
                for w, change in zip(base, unlearning_step(forget_grad, momentum, self.unlearning_rate)):
                    w.add_(change.to(w.dtype))
            losses.append(-forget_loss)
        with torch.no_grad():
            for p, w in zip(params, base):
                p.copy_(w)
        per_epoch = max(1, len(losses) // 10)
        return [losses[i:i + per_epoch] for i in range(0, len(losses), per_epoch)]


