"""Experiment (not a default): SSD with mini-batch squared gradients, as the SSD
reference code computes its importances, against obliviate's per-example ones, on
bench/scaling.py's data. Measured in stop 22 (2 CPU cores, seed 0): forget accuracy
at 32k examples 13.6% (batch 256, alpha 10) and 21.3% (batch 64) against 48.9% per
example; retrained model 0.0%. A lead for SSD at scale, not yet a fix.

    .venv/bin/python bench/ssd_importance.py 2000,8000,32000
"""

import copy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from scaling import fit, make_data, subset  # noqa: E402
from obliviate.classify.data import UnlearnData, batches  # noqa: E402
from obliviate.classify.methods.ssd import SSD  # noqa: E402
from obliviate.metrics import accuracy  # noqa: E402


def batch_fisher(model, data, batch_size):
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for x, y in batches(data, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for n, p in params.items():
            acc[n] += p.grad.detach() ** 2
        count += 1
    model.zero_grad()
    return {n: a / count for n, a in acc.items()}


class BatchSSD(SSD):
    def importance(self, model, data):
        return batch_fisher(model, data, self.bs)


for n in [int(a) for a in sys.argv[1].split(",")]:
    train, test = make_data(n)
    y = train.tensors[1]
    forget, retain = subset(train, y == 0), subset(train, y != 0)
    test_other = subset(test, test.tensors[1] != 0)
    original, _ = fit(train)
    for bs, alpha in [(64, 10.0), (64, 3.0), (256, 10.0)]:
        m = copy.deepcopy(original)
        ssd = BatchSSD(alpha=alpha); ssd.bs = bs; ssd.method_name = "ssd"
        data = UnlearnData(forget, retain, 10, target_forget_acc=0.0)
        h = ssd.apply(m, data, torch.Generator().manual_seed(0))
        print(n, bs, alpha, f"forget {100*accuracy(m, forget):.1f} retain {100*accuracy(m, retain):.1f} "
              f"(orig {100*accuracy(original, retain):.1f}) test {100*accuracy(m, test_other):.1f}", h.stop_reason[:80], flush=True)
