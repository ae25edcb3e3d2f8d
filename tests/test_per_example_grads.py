"""Per-example gradient statistics (SSD, LFSSD, Fisher): the hooks' fast paths for every
common layer equal a plain loop over examples, and only the parameters of other layers
go through vmap."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.classify import grads
from obliviate.classify.methods.lfssd import output_norm


class Scale(nn.Module):
    """A layer with no fast path (a raw parameter): vmap handles it."""

    def __init__(self, d):
        super().__init__()
        self.s = nn.Parameter(torch.linspace(0.5, 1.5, d))

    def forward(self, x):
        return x * self.s


class Tokens(nn.Module):
    """Transformer-style: embedding with padding and repeated tokens, LayerNorm, a Linear on
    3-D inputs called twice (its per-example gradient sums both calls), a raw parameter."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6, padding_idx=0)
        self.ln = nn.LayerNorm(6)
        self.proj = nn.Linear(6, 6)
        self.scale = Scale(6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = self.proj(self.ln(self.emb(x)))
        h = self.scale(torch.relu(h)) + self.proj(h)
        return self.head(h.mean(1))


class Images(nn.Module):
    """ResNet-style: Conv2d, BatchNorm (eval, running statistics), GroupNorm, Conv1d."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.c0 = nn.Conv1d(4, 4, 3, padding=1, stride=2)
        self.head = nn.Linear(4 * 8, 3)

    def forward(self, x):
        h = torch.relu(self.gn(self.bn(self.c1(x))))
        return self.head(self.c0(h.flatten(2)).flatten(1))


def plain_mlp():
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def plain_cnn():
    return nn.Sequential(nn.Unflatten(1, (1, 2, 2)), nn.Conv2d(1, 2, 2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(18, 3))


def _problem(model):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if not isinstance(model, (Tokens, Images)):  # the plain models: 4 features
        x = torch.randn(20, 4, generator=g)
    elif isinstance(model, Tokens):
        x = torch.randint(0, 11, (20, 5), generator=g)
    else:
        x = torch.randn(20, 2, 4, 4, generator=g)
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return x, torch.randint(0, 3, (20,), generator=g)


@pytest.mark.parametrize("make", [plain_mlp, plain_cnn, Tokens, Images])
@pytest.mark.parametrize("loss_fn, transform", [(F.cross_entropy, torch.square), (output_norm, torch.abs)])
@pytest.mark.parametrize("budget", [grads.MEMORY_BUDGET, 64])  # 64 bytes: one example per sub-chunk
def test_every_layer_type_matches_a_loop_over_examples(make, loss_fn, transform, budget, monkeypatch):
    monkeypatch.setattr(grads, "MEMORY_BUDGET", budget)
    model = make().eval()
    x, y = _problem(model)
    fast = grads.per_sample_mean(model, TensorDataset(x, y), loss_fn, transform, chunk=7)
    for name, p in model.named_parameters():
        by_hand = torch.zeros_like(p)
        for i in range(len(x)):
            (g,) = torch.autograd.grad(loss_fn(model(x[i:i + 1]), y[i:i + 1]), p)
            by_hand += transform(g)
        torch.testing.assert_close(fast[name], by_hand / len(x), rtol=1e-4, atol=1e-7)


def test_only_the_parameters_without_a_fast_path_are_vmapped(monkeypatch):
    seen = []
    original = grads.per_sample_grads
    monkeypatch.setattr(grads, "per_sample_grads",
                        lambda *a, **k: seen.append(set(k.get("names") or a[4])) or original(*a, **k))
    model = Tokens().eval()
    x, y = _problem(model)
    grads.empirical_fisher(model, TensorDataset(x, y))
    assert seen and all(names == {"scale.s"} for names in seen)
    fast, slow = grads._split_parameters(Images().eval(), {n for n, _ in Images().named_parameters()})
    assert not slow and len(fast) == 5


def test_batchnorm_in_training_mode_or_without_statistics_is_not_taken_as_fast():
    assert grads.has_fast_path(nn.BatchNorm2d(3).eval())
    assert not grads.has_fast_path(nn.BatchNorm2d(3).train())
    assert not grads.has_fast_path(nn.BatchNorm2d(3, track_running_stats=False).eval())
    assert not grads.has_fast_path(nn.Conv2d(4, 4, 3, groups=2))
