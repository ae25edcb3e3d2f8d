"""Gradient statistics shared by the one-shot methods (SSD, LFSSD, Fisher, IU, SalUn).

Per-sample gradients are computed in chunks with ``torch.func`` (vmap over samples),
never with a Python loop over examples.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from obliviate.classify.data import Data, batches
from obliviate.core.devices import to_model

Grads = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, labels) -> scalar


def zeros_like_params(model: nn.Module) -> Grads:
    return {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}


def summed_batch_grads(model: nn.Module, data: Data, batch_size: int, loss_fn: LossFn,
                       transform: Callable[[torch.Tensor], torch.Tensor] = lambda g: g) -> tuple[Grads, int]:
    """Sum over batches of ``transform(gradient of the batch loss)``, and the number of
    batches (eval mode; the model's parameters are not changed)."""
    out, n = zeros_like_params(model), 0
    was_training = model.training
    model.eval()
    for x, y in batches(data, batch_size, shuffle=False):
        x, y = to_model(model, x, y)
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        for name, p in model.named_parameters():
            if name in out and p.grad is not None:
                out[name] += transform(p.grad)
        n += 1
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return out, n


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> Grads:
    """Gradient of ``loss_fn`` on each example separately: tensors of shape (len(x), *param)."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def one(params, xi, yi):
        out = functional_call(model, (params | frozen, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(one), in_dims=(None, 0, 0), randomness="same")(params, x, y)


def per_sample_mean(model: nn.Module, data: Data, loss_fn: LossFn,
                    transform: Callable[[torch.Tensor], torch.Tensor], chunk: int = 256) -> Grads:
    """Mean over examples of ``transform(per-example gradient of loss_fn)``; ``transform``
    must be multiplicative (square or abs). ``loss_fn`` must be a batch mean of
    per-example losses. Linear and Conv2d layers take a fast path with hooks
    (for a linear layer f(δ xᵀ) = f(δ) f(x)ᵀ, one matmul for the whole batch); a model
    with other parametrised layers falls back to vmap over examples."""
    fast = all(isinstance(m, (nn.Linear, nn.Conv2d)) for m in model.modules()
               if any(True for _ in m.parameters(recurse=False)))
    total, n = zeros_like_params(model), 0
    was_training = model.training
    model.eval()
    for x, y in batches(data, chunk, shuffle=False):
        x, y = to_model(model, x, y)
        if fast:
            _add_layer_statistics(model, x, y, loss_fn, transform, total)
        else:
            for name, g in per_sample_grads(model, x, y, loss_fn).items():
                total[name] += transform(g).sum(0)
        n += len(y)
    model.train(was_training)
    return {k: v / max(n, 1) for k, v in total.items()}


def _add_layer_statistics(model, x, y, loss_fn, transform, total: Grads) -> None:
    inputs: dict[nn.Module, torch.Tensor] = {}
    outputs: dict[nn.Module, torch.Tensor] = {}

    def remember(mod, inp, out):
        inputs[mod] = inp[0].detach()
        out.register_hook(lambda grad: outputs.__setitem__(mod, grad.detach()))

    handles = [m.register_forward_hook(remember) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        model.zero_grad(set_to_none=True)
        # per-example gradients of the batch *sum*: scale the mean loss by the batch size
        (loss_fn(model(x), y) * len(x)).backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    names = {m: name for name, m in model.named_modules()}
    for m, a in inputs.items():
        d = outputs[m]
        prefix = names[m] + "." if names[m] else ""
        if isinstance(m, nn.Linear):
            a, d = a.reshape(-1, a.shape[-1]), d.reshape(-1, d.shape[-1])  # (B, in), (B, out)
            if m.weight.requires_grad:
                total[prefix + "weight"] += transform(d).T @ transform(a)
            if m.bias is not None and m.bias.requires_grad:
                total[prefix + "bias"] += transform(d).sum(0)
        else:  # Conv2d: per-example gradient = Σ over positions of δ ⊗ unfolded input
            cols = F.unfold(a, m.kernel_size, m.dilation, m.padding, m.stride)  # (B, in*k*k, L)
            g = torch.einsum("bol,bil->boi", d.flatten(2), cols)
            if m.weight.requires_grad:
                total[prefix + "weight"] += transform(g).sum(0).reshape(m.weight.shape)
            if m.bias is not None and m.bias.requires_grad:
                total[prefix + "bias"] += transform(d.flatten(2).sum(2)).sum(0)


def empirical_fisher(model: nn.Module, data: Data) -> Grads:
    """Diagonal empirical Fisher: mean over examples of the squared per-example gradient
    of the cross-entropy at the true label."""
    return per_sample_mean(model, data, F.cross_entropy, torch.square)


def flat(grads: Grads, batched: bool = False) -> torch.Tensor:
    """Concatenate per-parameter tensors into one vector (a matrix, one row per example,
    when ``batched``)."""
    if batched:
        return torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)
    return torch.cat([g.reshape(-1) for g in grads.values()])


def unflat(vector: torch.Tensor, like: Grads) -> Grads:
    out, start = {}, 0
    for name, t in like.items():
        out[name] = vector[start:start + t.numel()].reshape(t.shape)
        start += t.numel()
    return out
