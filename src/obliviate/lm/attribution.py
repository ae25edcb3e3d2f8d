"""Weight attribution for LLM unlearning: WAGLE's score and the mask it selects
(:mod:`obliviate.lm.methods.wagle` says what it is; every LM method takes it through
``mask=wagle``, so it lives with the track's plumbing)."""

from __future__ import annotations

import torch

from obliviate.lm.losses import batch_nll, sequence_nll
from obliviate.lm.text import Example, on_device, pad


def summed_gradient(model, tokenizer, examples: list[Example], batch_size: int) -> dict[str, torch.Tensor]:
    """Σ over mini-batches of ∇ (batch-mean answer NLL), per trainable parameter."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    model.eval()
    for start in range(0, len(examples), batch_size):
        batch = on_device(pad(examples[start:start + batch_size], tokenizer.pad_token_id), model)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        grads = torch.autograd.grad(batch_nll(*sequence_nll(logits, batch["labels"])), list(params.values()), allow_unused=True)
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
               batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The mask from the forget gradient and the retain gradient on as many retain
    examples as forget ones, drawn with ``generator`` (the reference's loader pairs one
    retain example with each forget example)."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if len(retain) > len(forget):
        chosen = torch.randperm(len(retain), generator=generator)[: len(forget)].tolist()
        retain = [retain[i] for i in chosen]
    with torch.enable_grad():
        forget_grad = summed_gradient(model, tokenizer, forget, batch_size)
        retain_grad = summed_gradient(model, tokenizer, retain, batch_size)
    return top_fraction_mask(wagle_scores(params, forget_grad, retain_grad, mu), ratio)
