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


def test_an_ascent_on_a_large_forget_set_is_checked_from_its_first_steps(monkeypatch):
    """12,800 forget examples are a 200-step pass: its first quarter (50 steps) is long enough
    to collapse a model, so ascent methods are checked on the step budget (every step of the
    first 20), not once per quarter pass (measured: GA at 128k examples rolled back to the
    start after its first check at step 49; now it stops at the target at step 19)."""
    calls = []
    original = loop.Monitor.check
    monkeypatch.setattr(loop.Monitor, "check", lambda self, model, step: calls.append(step) or original(self, model, step))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12_900, 4, generator=g), torch.randint(0, 3, (12_900,), generator=g)
    obliviate.unlearn(torch.nn.Linear(4, 3), TensorDataset(x[:12_800], y[:12_800]), TensorDataset(x[12_800:], y[12_800:]),
                      method="ga", epochs=1, lr=1e-9)
    assert calls[:20] == list(range(1, 21))


def test_scrub_ends_its_max_step_pass_once_the_forget_set_is_at_the_target(monkeypatch):
    """A max-step pass over 2,000 forget examples is 32 steps; it ends at the first end check
    (every ``EARLY_END_EVERY`` steps) that finds the forget sample at the target."""
    from obliviate.classify.data import UnlearnData
    from obliviate.core.registry import build
    from obliviate.core.seeding import make_generator

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2_400, 4, generator=g), torch.randint(0, 3, (2_400,), generator=g)
    model = torch.nn.Linear(4, 3)
    with torch.no_grad():  # predicts class 0 for everything: the forget set, all class 0, is recognised
        model.weight.zero_()
        model.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    forget = TensorDataset(x[:2_000], torch.zeros(2_000, dtype=torch.long))
    data = UnlearnData(forget, TensorDataset(x[2_000:], y[2_000:]), 3, target_forget_acc=0.0)
    method = build("scrub", {"epochs": 1, "lr": 0.5, "min_steps": 0})
    steps = []
    max_loss = method.max_loss
    method.max_loss = lambda m, b: steps.append(1) or max_loss(m, b)
    method.apply(model, data, make_generator(0))
    assert len(steps) % loop.EARLY_END_EVERY == 0 and len(steps) < 32
