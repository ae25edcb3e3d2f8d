"""Gradient statistics shared by the one-shot methods (SSD, LFSSD, Fisher, IU, SalUn).

Per-example statistics come from hooks on the common layers (one batched forward +
backward) and, for any other layer's parameters, from ``torch.func`` (vmap over
examples); never from a Python loop over examples.
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


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                     names: set[str] | None = None) -> Grads:
    """Gradient of ``loss_fn`` on each example separately: tensors of shape (len(x), *param),
    for every trainable parameter (or only those in ``names``; the others are held fixed)."""
    chosen = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad and (names is None or n in names)}
    frozen = {n: p.detach() for n, p in model.named_parameters() if n not in chosen}
    buffers = dict(model.named_buffers())

    def one(params, xi, yi):
        out = functional_call(model, (params | frozen, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    return vmap(grad(one), in_dims=(None, 0, 0), randomness="same")(chosen, x, y)


# Per-example gradients materialised at once are kept under this many bytes (chunks of examples).
MEMORY_BUDGET = 256 * 2**20
_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


def has_fast_path(module: nn.Module) -> bool:
    """Layers whose per-example gradients come from one batched forward + backward (their
    input and output gradient, captured by hooks): Linear (any input rank), Conv1d / Conv2d
    (zero padding, no groups), LayerNorm, GroupNorm, BatchNorm in eval mode with running
    statistics, Embedding (no max_norm)."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return module.groups == 1 and not isinstance(module.padding, str) and module.padding_mode == "zeros"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.running_mean is not None and not module.training
    if isinstance(module, nn.Embedding):
        return module.max_norm is None
    return isinstance(module, (nn.Linear, nn.LayerNorm, nn.GroupNorm))


def per_sample_mean(model: nn.Module, data: Data, loss_fn: LossFn,
                    transform: Callable[[torch.Tensor], torch.Tensor], chunk: int = 256) -> Grads:
    """Mean over examples of ``transform(per-example gradient of loss_fn)``; ``transform``
    must be elementwise (square or abs). ``loss_fn`` must be a batch mean of per-example
    losses. Runs in eval mode.

    The layers of :func:`has_fast_path` take their statistics from one forward and
    backward per chunk (a 2-D Linear input: f(δ xᵀ) = f(δ) f(x)ᵀ, one matmul for the
    whole chunk; the others materialise per-example gradients in sub-chunks of at most
    :data:`MEMORY_BUDGET` bytes). Only the parameters of any other layer, and
    parameters shared by several layers, go through vmap over examples, and the vmap
    computes gradients for those parameters alone."""
    was_training = model.training
    model.eval()
    total, n = zeros_like_params(model), 0
    fast_modules, slow = _split_parameters(model, set(total))
    for x, y in batches(data, chunk, shuffle=False):
        x, y = to_model(model, x, y)
        if fast_modules:
            _add_layer_statistics(model, fast_modules, x, y, loss_fn, transform, total)
        if slow:
            for name, g in per_sample_grads(model, x, y, loss_fn, slow).items():
                total[name] += transform(g).sum(0)
        n += len(y)
    model.train(was_training)
    return {k: v / max(n, 1) for k, v in total.items()}


def _split_parameters(model: nn.Module, trainable: set[str]) -> tuple[dict[nn.Module, str], set[str]]:
    """Modules on the fast path (with their name prefix) and the names of the parameters
    left to vmap (of other layers, or shared by several layers)."""
    owners: dict[int, list[tuple[nn.Module, str]]] = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for prefix, module in model.named_modules(remove_duplicate=False):
        for local, p in module.named_parameters(recurse=False):
            if names.get(id(p)) in trainable:
                owners.setdefault(id(p), []).append((module, prefix))
    fast: dict[nn.Module, str] = {}
    slow: set[str] = set()
    for pid, found in owners.items():
        modules = {id(m) for m, _ in found}
        module, prefix = found[0]
        if len(modules) == 1 and has_fast_path(module):
            fast[module] = prefix + "." if prefix else ""
        else:
            slow.add(names[pid])
    return fast, slow


def _add_layer_statistics(model, fast_modules: dict[nn.Module, str], x, y, loss_fn, transform,
                          total: Grads) -> None:
    calls: dict[nn.Module, list[list[torch.Tensor]]] = {m: [] for m in fast_modules}

    def remember(mod, inp, out):
        if not out.requires_grad:
            return
        record = [inp[0].detach(), None]
        calls[mod].append(record)
        out.register_hook(lambda g: record.__setitem__(1, g.detach()))

    handles = [m.register_forward_hook(remember) for m in fast_modules]
    try:
        model.zero_grad(set_to_none=True)
        # per-example gradients of the batch *sum*: scale the mean loss by the batch size
        (loss_fn(model(x), y) * len(x)).backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    for m, records in calls.items():
        records = [(a, d) for a, d in records if d is not None]
        if not records:
            continue
        prefix = fast_modules[m]
        if isinstance(m, nn.Linear) and len(records) == 1 and records[0][0].dim() == 2:
            a, d = records[0]  # (B, in), (B, out): f(δ aᵀ) = f(δ) f(a)ᵀ summed over the batch in one matmul
            if m.weight.requires_grad:
                total[prefix + "weight"] += transform(d).T @ transform(a)
            if m.bias is not None and m.bias.requires_grad:
                total[prefix + "bias"] += transform(d).sum(0)
            continue
        if isinstance(m, nn.Embedding) and len(records) == 1:
            _add_embedding_statistics(m, *records[0], transform, total, prefix)
            continue
        for local, p in m.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            size = max(1, MEMORY_BUDGET // (p.numel() * p.element_size()))
            batch = len(records[0][0])
            for start in range(0, batch, size):
                part = slice(start, start + size)
                g = sum(_per_example(m, local, a[part], d[part]) for a, d in records)
                total[prefix + local] += transform(g).sum(0)


def _per_example(m: nn.Module, local: str, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The per-example gradient (B, *param.shape) of parameter ``local`` of layer ``m``
    from its input ``a`` and output gradient ``d`` in one call."""
    if isinstance(m, nn.Linear):
        a3, d3 = a.reshape(len(a), -1, a.shape[-1]), d.reshape(len(d), -1, d.shape[-1])  # (B, positions, ·)
        return torch.einsum("bto,bti->boi", d3, a3) if local == "weight" else d3.sum(1)
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if local == "bias":
            return d.flatten(2).sum(2)
        if isinstance(m, nn.Conv1d):  # as a Conv2d of height 1
            a = a.unsqueeze(2)
            kernel, dilation = (1, *m.kernel_size), (1, *m.dilation)
            padding, stride = (0, *m.padding), (1, *m.stride)
        else:
            kernel, dilation, padding, stride = m.kernel_size, m.dilation, m.padding, m.stride
        cols = F.unfold(a, kernel, dilation, padding, stride)  # (B, in·k, positions)
        return torch.einsum("bol,bil->boi", d.flatten(2), cols).reshape(len(a), *m.weight.shape)
    if isinstance(m, nn.LayerNorm):
        dims = tuple(range(1, a.dim() - len(m.normalized_shape)))  # positions, not normalised
        if local == "bias":
            return d.sum(dims) if dims else d
        x_hat = F.layer_norm(a, m.normalized_shape, eps=m.eps)
        return (d * x_hat).sum(dims) if dims else d * x_hat
    dims = tuple(range(2, a.dim()))  # GroupNorm, BatchNorm: (B, C, *spatial)
    if local == "bias":
        return d.sum(dims) if dims else d
    if isinstance(m, nn.GroupNorm):
        x_hat = F.group_norm(a, m.num_groups, eps=m.eps)
    else:  # BatchNorm in eval mode: the running statistics, the same for every example
        shape = (1, -1) + (1,) * (a.dim() - 2)
        x_hat = (a - m.running_mean.view(shape)) / torch.sqrt(m.running_var.view(shape) + m.eps)
    return (d * x_hat).sum(dims) if dims else d * x_hat


def _add_embedding_statistics(m: nn.Embedding, tokens: torch.Tensor, d: torch.Tensor, transform,
                              total: Grads, prefix: str) -> None:
    """An example's gradient of an embedding row is the sum of the output gradients at
    the positions holding that token: summed per (example, token) pair, transformed,
    then added to the token's row (memory: the batch's positions, not B × vocabulary)."""
    if not m.weight.requires_grad:
        return
    example = torch.arange(len(tokens), device=tokens.device).repeat_interleave(tokens[0].numel())
    tokens, d = tokens.reshape(-1), d.reshape(-1, d.shape[-1])
    if m.padding_idx is not None:
        keep = tokens != m.padding_idx
        example, tokens, d = example[keep], tokens[keep], d[keep]
    pairs, where = torch.unique(example * m.num_embeddings + tokens, return_inverse=True)
    summed = d.new_zeros(len(pairs), d.shape[1]).index_add_(0, where, d)
    total[prefix + "weight"].index_add_(0, pairs % m.num_embeddings, transform(summed))


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
