"""The checks around and inside an unlearning call are budgeted and timed apart."""

import torch
from torch.utils.data import TensorDataset

import obliviate
from obliviate.classify import loop


def test_short_runs_check_whenever_due_and_long_runs_about_20_ln_t(monkeypatch):
    last, checked = 0, []
    for step in range(1, 601):
        if loop.check_due(step, last):
            last = step
            checked.append(step)
    assert checked[:20] == list(range(1, 21))  # early stops are exactly as before
    assert len(checked) == 78  # instead of 600 (20 ln(600/20) + 20 = 88 without the rounding up)
    assert all(b - a <= 0.05 * b + 1 for a, b in zip(checked, checked[1:]))  # never more than 5% late


def test_a_long_ascent_run_calls_the_monitor_on_budget_and_reports_it_apart(monkeypatch):
    calls = []
    original = loop.Monitor.check
    monkeypatch.setattr(loop.Monitor, "check", lambda self, model, step: calls.append(step) or original(self, model, step))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
    model = torch.nn.Linear(4, 3)
    # no target is known (no holdout) and a tiny lr drops nothing: the run goes its whole length (800 steps)
    result = obliviate.unlearn(model, TensorDataset(x[:32], y[:32]), TensorDataset(x[32:], y[32:]), method="ga",
                               epochs=200, lr=1e-9, batch_size=8)
    assert 70 <= len(calls) <= 110  # 800 steps, was a check every step
    assert result.check_seconds > 0 and result.seconds > 0
