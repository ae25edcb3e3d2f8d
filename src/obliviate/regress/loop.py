"""The regression track's training loop and method base classes.

A *loss method* says what its loss is on one step's forget and retain batches
(standardised targets); the loop does Adam, batching and seeding. Unlearning with an
unbounded objective (GA, NegGrad+) stops once the forget set's mean squared error
reaches what a model that never saw it shows (the original's error on held-out data,
``RegressionData.target_forget_mse``), and rolls back to the last epoch whose retain
error had not risen more than ``max_retain_rise`` times that held-out error above its
start (a relative rise would be meaningless on a memorised retain set, whose error
starts near 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.utils.data import TensorDataset


@dataclass
class RegressionData:
    forget: TensorDataset
    retain: TensorDataset
    target_forget_mse: float | None = None


@dataclass
class History:
    losses: list[float] = field(default_factory=list)
    stop_reason: str = ""


def mse(model: nn.Module, data: TensorDataset) -> float:
    x, y = data.tensors
    with torch.no_grad():
        return float((model(x) - y).pow(2).mean())


@dataclass
class RegressionMethod:
    method_name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()

    def apply(self, model: nn.Module, data: RegressionData, generator: torch.Generator) -> History:
        raise NotImplementedError


@dataclass
class RegressionLossMethod(RegressionMethod):
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.0  # AdamW's decoupled decay
    early_stop: bool = False
    max_retain_rise: float = 0.1  # retain MSE rise, as a share of the held-out MSE, that rolls back

    drive: ClassVar[Literal["forget", "retain", "union"]] = "retain"

    def __post_init__(self) -> None:
        if self.epochs < 0 or not self.lr > 0 or self.batch_size < 1:
            raise ValueError(f"{self.method_name}.epochs must be >= 0, lr > 0 and batch_size >= 1")

    def setup(self, model: nn.Module, data: RegressionData, generator: torch.Generator) -> None:
        """Called once before training."""

    def loss(self, model: nn.Module, forget: tuple | None, retain: tuple | None) -> torch.Tensor:
        raise NotImplementedError

    def apply(self, model, data, generator) -> History:
        self.setup(model, data, generator)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        history = History()
        start_retain = mse(model, data.retain)
        good = {k: v.clone() for k, v in model.state_dict().items()}
        for _ in range(self.epochs):
            model.train()
            total, count = 0.0, 0
            for forget, retain in _epoch(data, self.drive, self.batch_size, generator):
                loss = self.loss(model, forget, retain)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
            history.losses.append(total / max(count, 1))
            model.eval()
            if self.early_stop:
                allowed = self.max_retain_rise * (data.target_forget_mse or 1.0)
                if mse(model, data.retain) > start_retain + allowed:
                    model.load_state_dict(good)
                    history.stop_reason = (f"retain error rose more than {self.max_retain_rise:g} x the held-out "
                                           "error: rolled back to the last epoch before")
                    break
                good = {k: v.clone() for k, v in model.state_dict().items()}
                if data.target_forget_mse is not None and mse(model, data.forget) >= data.target_forget_mse:
                    history.stop_reason = "forget error reached the held-out error (the retrained-model target)"
                    break
        model.eval()
        return history


def _batches(data: TensorDataset, batch_size: int, generator: torch.Generator):
    x, y = data.tensors
    for idx in torch.randperm(len(y), generator=generator).split(batch_size):
        yield x[idx], y[idx]


def _cycle(data: TensorDataset, batch_size: int, generator: torch.Generator):
    while True:
        yield from _batches(data, batch_size, generator)


def _epoch(data: RegressionData, drive: str, batch_size: int, generator: torch.Generator):
    """(forget batch, retain batch) pairs: one pass over ``drive`` with the other set
    cycled alongside; ``union``: batches of forget ∪ retain split into their parts."""
    if drive == "union":
        fx, fy = data.forget.tensors
        rx, ry = data.retain.tensors
        x, y = torch.cat([fx, rx]), torch.cat([fy, ry])
        is_forget = torch.arange(len(y)) < len(fy)
        for idx in torch.randperm(len(y), generator=generator).split(batch_size):
            f, r = idx[is_forget[idx]], idx[~is_forget[idx]]
            yield (x[f], y[f]) if len(f) else None, (x[r], y[r]) if len(r) else None
        return
    driver, other = (data.forget, data.retain) if drive == "forget" else (data.retain, data.forget)
    paired = _cycle(other, batch_size, generator)
    for batch in _batches(driver, batch_size, generator):
        if drive == "forget":
            yield batch, next(paired)
        else:
            yield next(paired), batch
