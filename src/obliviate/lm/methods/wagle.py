"""WAGLE: weight attribution for LLM unlearning. Jia et al., "WAGLE: Strategic Weight
Attribution for Effective and Modular Unlearning in Large Language Models", NeurIPS
2024 (reference: OPTML-Group/WAGLE, ``GenerateMask.snip_advanced``).

Which weights, if changed by the unlearning step, would cost the retain loss? The
paper's bi-level derivation gives each weight the score |(θ − ∇ℓ_r/μ) ⊙ ∇ℓ_f|, with
∇ℓ_f and ∇ℓ_r the gradients of the forget and retain answer NLL (each the sum over
mini-batches of the batch mean, as the reference accumulates them) and μ its
diagonal-Hessian constant. The ``mask_ratio`` fraction of weights with the largest
score, ranked over the whole model, is the mask; every other weight keeps its
starting value.

It is an option of every LM method (``mask=wagle``, ``mask_ratio``, ``mask_mu``),
the LM counterpart of SalUn's saliency mask; ``wagle`` itself is NPO trained through
the mask, the paper's strongest pairing. Choice: the default ratio 0.2 lets 20% of
the weights move (the reference writes masks at ratios 0.1 to 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from obliviate.core.registry import register
from obliviate.lm.methods.npo import NPO
from obliviate.lm.text import Example, on_device, pad
from obliviate.lm.unlearn import mean_nll


def summed_gradient(model, tokenizer, examples: list[Example], batch_size: int) -> dict[str, torch.Tensor]:
    """Σ over mini-batches of ∇ (batch-mean answer NLL), per trainable parameter."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    model.eval()
    for start in range(0, len(examples), batch_size):
        batch = on_device(pad(examples[start:start + batch_size], tokenizer.pad_token_id), model)
        grads = torch.autograd.grad(mean_nll(model, batch), list(params.values()), allow_unused=True)
        for name, g in zip(params, grads):
            if g is not None:
                total[name] += g
    return total


def wagle_scores(params: dict[str, torch.Tensor], forget_grad: dict[str, torch.Tensor],
                 retain_grad: dict[str, torch.Tensor], mu: float) -> dict[str, torch.Tensor]:
    """|(θ − ∇ℓ_r/μ) ⊙ ∇ℓ_f| per weight (higher = more worth updating)."""
    return {n: ((p.detach() - retain_grad[n] / mu) * forget_grad[n]).abs() for n, p in params.items()}


def top_fraction_mask(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """True for the ``ratio`` fraction of elements with the largest score over all
    tensors together (ties broken by position, as a stable sort does)."""
    flat = torch.cat([s.flatten().float().cpu() for s in scores.values()])
    keep = int(len(flat) * ratio)
    chosen = torch.zeros(len(flat), dtype=torch.bool)
    chosen[torch.argsort(-flat, stable=True)[:keep]] = True
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = chosen[start:start + s.numel()].view(s.shape).to(s.device)
        start += s.numel()
    return masks


def wagle_mask(model, tokenizer, forget: list[Example], retain: list[Example], ratio: float, mu: float,
               batch_size: int) -> dict[str, torch.Tensor]:
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    with torch.enable_grad():
        forget_grad = summed_gradient(model, tokenizer, forget, batch_size)
        retain_grad = summed_gradient(model, tokenizer, retain, batch_size)
    return top_fraction_mask(wagle_scores(params, forget_grad, retain_grad, mu), ratio)


@register("wagle", track="lm", needs=("forget", "retain"), paper="Jia et al., NeurIPS 2024",
          idea="NPO through a weight-attribution mask (any LM method takes it: mask=wagle)")
@dataclass
class WAGLE(NPO):
    mask: Literal["none", "wagle"] = "wagle"
