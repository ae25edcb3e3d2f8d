"""Data plumbing for the classifier track, written once for every method and metric.

Users pass torch ``Dataset``s or ``DataLoader``s yielding ``(x, y)``. Tensor-backed
datasets (``TensorDataset`` and ``Subset`` chains over one) take a fast path that
indexes tensors directly (a ``Subset`` is gathered once per call, :func:`gathered`);
anything else streams through a ``DataLoader`` (``num_workers``, ``pin_memory``:
:class:`LoaderOptions`) and is never concatenated into memory. A ``DataLoader``
passed by the user is used as it is (its own batching and order).

Batches are yielded on the CPU; whoever feeds them to a model moves them to the
model's device and dtype (:meth:`Batch.to`, :func:`obliviate.core.devices.to_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset

from obliviate.core.devices import Placement, placement

Data = Union[Dataset, DataLoader]
XY = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LoaderOptions:
    """How datasets that are not tensor-backed are streamed (``DataLoader`` arguments)."""

    num_workers: int = 0
    pin_memory: bool = False


NO_WORKERS = LoaderOptions()


def size(data: Data) -> int:
    """Number of examples in a dataset or a loader's dataset."""
    return len(data.dataset) if isinstance(data, DataLoader) else len(data)


def tensors(data: Data) -> XY | None:
    """``(x, y)`` tensors behind a tensor-backed dataset, or None for any other dataset."""
    if isinstance(data, DataLoader):
        return None
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return data.tensors[0], data.tensors[1]
    if isinstance(data, Subset):
        inner = tensors(data.dataset)
        if inner is not None:
            idx = torch.as_tensor(data.indices, dtype=torch.long)
            return inner[0][idx], inner[1][idx]
    return None


def gathered(data: Data | None) -> Data | None:
    """A tensor-backed ``Subset`` (chain) as a ``TensorDataset``, gathered once; any
    other data as it is."""
    if data is None or isinstance(data, (TensorDataset, DataLoader)):
        return data
    xy = tensors(data)
    return TensorDataset(*xy) if xy is not None else data


def batches(
    data: Data, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
    loader: LoaderOptions = NO_WORKERS,
) -> Iterator[XY]:
    """One pass over ``data`` in batches of ``(x, y)`` with ``y`` a long tensor (on the CPU)."""
    if isinstance(data, DataLoader):
        for x, y in data:
            yield x, torch.as_tensor(y, dtype=torch.long)
        return
    xy = tensors(data)
    if xy is not None:
        x, y = xy
        n = len(y)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx].long()
        return
    stream = DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=_own_generator(generator),
                        num_workers=loader.num_workers, pin_memory=loader.pin_memory)
    for x, y in stream:
        yield x, torch.as_tensor(y, dtype=torch.long)


def _own_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """A DataLoader's own generator, seeded by one draw from ``generator``. Its sampler
    draws ahead of the training loop when workers prefetch; sharing the method's
    generator would make the method's own draws depend on ``num_workers``."""
    if generator is None:
        return None
    return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))


def union(a: Data, b: Data) -> Dataset:
    """``a`` ∪ ``b`` as one dataset (a TensorDataset when both are tensor-backed)."""
    ta, tb = tensors(a), tensors(b)
    if ta is not None and tb is not None:
        return TensorDataset(torch.cat([ta[0], tb[0]]), torch.cat([ta[1], tb[1]]))
    return ConcatDataset([_dataset(a), _dataset(b)])


def sample(data: Data, n: int, seed: int = 0) -> Data:
    """A fixed random subset of at most ``n`` examples (a loader is returned whole)."""
    if isinstance(data, DataLoader) or size(data) <= n:
        return data
    g = torch.Generator().manual_seed(seed)
    return Subset(data, torch.randperm(size(data), generator=g)[:n].tolist())


def num_batches(data: Data, batch_size: int) -> int:
    if isinstance(data, DataLoader):
        return len(data)
    return -(-size(data) // batch_size)


def labels(data: Data) -> torch.Tensor:
    """All labels of ``data`` as a long tensor (tensor and ``.targets`` fast paths)."""
    xy = tensors(data)
    if xy is not None:
        return xy[1].long()
    base = data.dataset if isinstance(data, DataLoader) else data
    targets = getattr(base, "targets", None)
    if targets is not None and not isinstance(base, Subset):
        return torch.as_tensor(targets, dtype=torch.long)
    return torch.cat([y for _, y in batches(data, 512, shuffle=False)]) if size(data) else \
        torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def predict(model: torch.nn.Module, data: Data, batch_size: int = 512) -> XY:
    """Logits of ``model`` on every example of ``data`` (eval mode), and the labels, as
    float32 / long CPU tensors (the model runs on its own device)."""
    was_training = model.training
    model.eval()
    where = placement(model)
    outs, ys = [], []
    try:
        for x, y in batches(data, batch_size, shuffle=False):
            outs.append(model(where.put(x)).float().cpu())
            ys.append(y)
    finally:
        model.train(was_training)
    if not outs:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(outs), torch.cat(ys)


@dataclass
class Batch:
    """What one training step sees: a forget batch and/or a retain batch, as ``(x, y)``."""

    forget: XY | None = None
    retain: XY | None = None

    def to(self, where: Placement) -> "Batch":
        """The batch on a model's device (floating inputs in its dtype)."""
        move = lambda xy: None if xy is None else (where.put(xy[0], True), where.put(xy[1], True))  # noqa: E731
        return Batch(move(self.forget), move(self.retain))

    def joined(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forget and retain parts as one batch: ``x``, ``y`` and a boolean ``is_forget``."""
        parts = [(xy, flag) for xy, flag in ((self.forget, True), (self.retain, False)) if xy is not None]
        x = torch.cat([xy[0] for xy, _ in parts])
        y = torch.cat([xy[1] for xy, _ in parts])
        is_forget = torch.cat([torch.full((len(xy[1]),), flag, device=y.device) for xy, flag in parts])
        return x, y, is_forget


@dataclass
class UnlearnData:
    """The forget and retain sets of one unlearning job, and the number of classes.

    ``target_forget_acc`` (a fraction, or None when unknown) is the forget accuracy a
    model retrained without the forget set is expected to show: 0 on examples whose
    class has no retain example (it can never be predicted), and the original
    model's accuracy on held-out data for the others (when a holdout set is given).
    """

    forget: Data
    retain: Data | None
    num_classes: int
    target_forget_acc: float | None = None
    loader: LoaderOptions = NO_WORKERS
    # examples of the retain set per retain- or union-driven epoch (a fresh random subset
    # each epoch); None: whole passes. Set by the loop from LossMethod.retain_budget.
    retain_per_epoch: int | None = None
    # sampling weights of the forget examples (LoReUn's reweighting, see loop.py): each epoch draws
    # len(forget) examples with replacement in proportion to them; None: every example once
    forget_weights: torch.Tensor | None = None

    def steps_per_epoch(self, drive: str, batch_size: int) -> int:
        if drive == "union":
            return -(-(size(self._set("forget")) + self._retain_size()) // batch_size)
        if drive == "retain" and self._budgeted():
            return -(-self.retain_per_epoch // batch_size)
        return num_batches(self._set(drive), batch_size)

    def _budgeted(self) -> bool:
        retain = self._set("retain")
        return (self.retain_per_epoch is not None and not isinstance(retain, DataLoader)
                and size(retain) > self.retain_per_epoch)

    def _retain_size(self) -> int:
        return self.retain_per_epoch if self._budgeted() else size(self._set("retain"))

    def _epoch_retain(self, generator: torch.Generator) -> Data:
        """The retain examples of one retain- or union-driven epoch: all of them, or a
        fresh random ``retain_per_epoch`` of them (drawn from the run's generator)."""
        retain = self._set("retain")
        if not self._budgeted():
            return retain
        return Subset(retain, torch.randperm(size(retain), generator=generator)[: self.retain_per_epoch].tolist())

    def epoch(
        self, drive: str, batch_size: int, generator: torch.Generator,
        *, use_forget: bool, use_retain: bool,
    ) -> Iterator[Batch]:
        """One epoch over the ``drive`` set.

        ``"forget"`` or ``"retain"``: one pass over that set; the other set, when used, is
        cycled alongside (reshuffled at each pass), as in the reference code of NegGrad+
        and SCRUB. ``"union"``: one pass over forget ∪ retain shuffled together, each
        batch split into its forget and retain parts (either may be None), as in the
        reference code of RL and SalUn.
        """
        if drive == "union":
            yield from self._union_epoch(batch_size, generator)
            return
        other_name = "retain" if drive == "forget" else "forget"
        use_other = use_retain if drive == "forget" else use_forget
        other_set = self._epoch_forget(generator) if other_name == "forget" and use_other else \
            self._set(other_name) if use_other else None
        other = _cycle(other_set, batch_size, generator, self.loader) if use_other else None
        driver = self._epoch_forget(generator) if drive == "forget" else self._epoch_retain(generator)
        for xy in batches(driver, batch_size, shuffle=True, generator=generator, loader=self.loader):
            paired = next(other) if other is not None else None
            if drive == "forget":
                yield Batch(forget=xy, retain=paired)
            else:
                yield Batch(forget=paired, retain=xy)

    def _union_epoch(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        forget, retain = _dataset(self._epoch_forget(generator)), _dataset(self._epoch_retain(generator))
        both = _Flagged(forget, retain)
        for x, y, is_forget in batches_of(both, batch_size, generator, self.loader):
            f, r = is_forget, ~is_forget
            yield Batch(forget=(x[f], y[f]) if f.any() else None,
                        retain=(x[r], y[r]) if r.any() else None)

    def _epoch_forget(self, generator: torch.Generator) -> Data:
        """The forget examples of one epoch: all of them once, or (with ``forget_weights``)
        as many drawn with replacement in proportion to their weights."""
        forget = self._set("forget")
        if self.forget_weights is None:
            return forget
        drawn = torch.multinomial(self.forget_weights.double().cpu(), size(forget), replacement=True,
                                  generator=generator)
        return Subset(_dataset(forget), drawn.tolist())

    def _set(self, name: str) -> Data:
        data = self.forget if name == "forget" else self.retain
        if data is None:
            raise ValueError(f"this method needs a {name} set")
        return data


def _dataset(data: Data) -> Dataset:
    return data.dataset if isinstance(data, DataLoader) else data


class _Flagged(Dataset):
    """forget ∪ retain, each item tagged with whether it comes from the forget set."""

    def __init__(self, forget: Dataset, retain: Dataset):
        self.forget, self.retain = forget, retain
        self.n_forget = len(forget)

    def __len__(self) -> int:
        return self.n_forget + len(self.retain)

    def __getitem__(self, i: int):
        if i < self.n_forget:
            x, y = self.forget[i]
            return x, torch.as_tensor(y, dtype=torch.long), True
        x, y = self.retain[i - self.n_forget]
        return x, torch.as_tensor(y, dtype=torch.long), False


def batches_of(both: "_Flagged", batch_size: int, generator: torch.Generator, loader: LoaderOptions = NO_WORKERS):
    """Shuffled batches ``(x, y, is_forget)`` of forget ∪ retain (tensor fast path)."""
    f, r = tensors(both.forget), tensors(both.retain)
    if f is not None and r is not None:
        x, y = torch.cat([f[0], r[0]]), torch.cat([f[1], r[1]]).long()
        flag = torch.arange(len(y)) < len(f[1])
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx], flag[idx]
        return
    stream = DataLoader(both, batch_size=batch_size, shuffle=True, generator=_own_generator(generator),
                        num_workers=loader.num_workers, pin_memory=loader.pin_memory)
    for x, y, flag in stream:
        yield x, torch.as_tensor(y, dtype=torch.long), torch.as_tensor(flag, dtype=torch.bool)


def _cycle(data: Data, batch_size: int, generator: torch.Generator, loader: LoaderOptions) -> Iterator[XY]:
    while True:
        yield from batches(data, batch_size, shuffle=True, generator=generator, loader=loader)
