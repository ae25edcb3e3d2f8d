"""SSD as the data grows: why its defaults stop forgetting a class, measured.

On bench/scaling.py's data (synthetic 64-feature, 10-class, MLP, forget class 0), per
size: forget / retain / test accuracy of
- SSD at its defaults (per-example importances, α = 3, strength search);
- SSD with the reference's importances (squared gradients of batch means, batch 64)
  and the reference's α = 10, λ = 1 as one update (the ``paper`` preset), and the
  same importances under the strength search;
- the bound on any dampening: the forgotten class's whole output row and bias set
  to zero (what SSD's updates can at most do to the head, since they only shrink
  weights toward zero).

    .venv/bin/python bench/ssd_at_scale.py [--sizes 2000,8000,32000] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from scaling import fit, make_data, subset  # noqa: E402  bench/scaling.py

import obliviate  # noqa: E402
from obliviate.metrics import accuracy  # noqa: E402

VARIANTS = {
    "ssd (defaults)": {},
    "ssd, reference importances, one update (paper preset)": dict(alpha=10.0, lam=1.0, importance_batch_size=64,
                                                                   adapt_strength=False),
    "ssd, reference importances, strength search": dict(alpha=10.0, importance_batch_size=64),
}


def head_zeroed(model: torch.nn.Module, cls: int) -> torch.nn.Module:
    """A copy with the class's row of the last linear layer and its bias set to zero."""
    out = copy.deepcopy(model)
    last = [m for m in out.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight[cls].zero_()
        last.bias[cls].zero_()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,8000,32000")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        train, test = make_data(n)
        y = train.tensors[1]
        forget, retain = subset(train, y == 0), subset(train, y != 0)
        test_other = subset(test, test.tensors[1] != 0)
        original, _ = fit(train)

        def scores(model):
            return {"forget_acc": 100 * accuracy(model, forget), "retain_acc": 100 * accuracy(model, retain),
                    "test_acc": 100 * accuracy(model, test_other)}

        found = {"original": (scores(original), []), "head row zeroed (bound)": (scores(head_zeroed(original, 0)), [])}
        for name, hparams in VARIANTS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = obliviate.unlearn(original, forget, retain, method="ssd", seed=0, **hparams)
            found[name] = (scores(result.model), result.flags)
        for name, (s, flags) in found.items():
            rows.append({"n": n, "variant": name, **s, "flags": flags})
            print(f"n={n:6d}  {name:55s} forget {s['forget_acc']:5.1f}  retain {s['retain_acc']:5.1f}  "
                  f"test {s['test_acc']:5.1f}  {','.join(flags)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
