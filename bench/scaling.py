"""How each classifier method's defaults hold as the data grows.

Synthetic 64-feature, 10-class data (scikit-learn's ``make_classification``), an MLP
(64 → 128 → 128 → 10) trained with Adam, forgetting class 0, at 2k / 8k / 32k /
128k training examples; the retrained model is trained the same way on the retain
set. Prints, per size and method: time, forget / retain / test accuracy, the gaps
to the retrained model and the flags; saves the rows as JSON, and fits each
method's time as a power of the training-set size (t ∝ n^b).

    .venv/bin/python bench/scaling.py [--sizes 2000,8000,32000,128000] [--methods ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

import obliviate
from obliviate.metrics import accuracy


def make_data(n_train: int, seed: int = 0):
    from sklearn.datasets import make_classification

    n = n_train + max(2000, n_train // 4)
    x, y = make_classification(n_samples=n, n_features=64, n_informative=32, n_redundant=8, n_classes=10,
                               n_clusters_per_class=2, class_sep=1.5, random_state=seed)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    to = lambda a, b: TensorDataset(torch.tensor(a), torch.tensor(b, dtype=torch.long))  # noqa: E731
    return to(x[:n_train], y[:n_train]), to(x[n_train:], y[n_train:])


def fit(train: TensorDataset, seed: int = 0, epochs: int = 30) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = train.tensors
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval(), time.perf_counter() - start


def subset(data: TensorDataset, mask: torch.Tensor) -> TensorDataset:
    return TensorDataset(*(t[mask] for t in data.tensors))


def run(sizes: list[int], methods: list[str], say=print) -> list[dict]:
    rows = []
    for n in sizes:
        train, test = make_data(n)
        y = train.tensors[1]
        forget, retain = subset(train, y == 0), subset(train, y != 0)
        test_other = subset(test, test.tensors[1] != 0)
        original, original_s = fit(train)
        retrained, retrain_s = fit(retain)
        ref = {"forget": accuracy(retrained, forget), "retain": accuracy(retrained, retain),
               "test": accuracy(retrained, test_other)}
        say(f"n={n}: original {original_s:.1f} s (forget {accuracy(original, forget):.3f}), retrain {retrain_s:.1f} s "
            f"(forget {ref['forget']:.3f}, retain {ref['retain']:.3f}, test {ref['test']:.3f})")
        rows.append({"n": n, "method": "retrain", "seconds": retrain_s, "forget_acc": 100 * ref["forget"],
                     "retain_acc": 100 * ref["retain"], "test_acc": 100 * ref["test"], "flags": []})
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    result = obliviate.unlearn(original, forget, retain, method=method, seed=0)
                except obliviate.MethodRefused as refusal:
                    rows.append({"n": n, "method": method, "refused": str(refusal), "flags": ["refused"]})
                    say(f"  {method:16s} refused: {refusal}")
                    continue
            scores = {"forget": accuracy(result.model, forget), "retain": accuracy(result.model, retain),
                      "test": accuracy(result.model, test_other)}
            row = {"n": n, "method": method, "seconds": result.seconds,
                   "forget_acc": 100 * scores["forget"], "retain_acc": 100 * scores["retain"],
                   "test_acc": 100 * scores["test"], "flags": list(result.flags), "stop_reason": result.stop_reason,
                   "retain_gap": 100 * (ref["retain"] - scores["retain"]), "test_gap": 100 * (ref["test"] - scores["test"])}
            rows.append(row)
            say(f"  {method:16s} {result.seconds:7.2f} s  forget {row['forget_acc']:5.1f}  retain {row['retain_acc']:5.1f} "
                f"({row['retain_gap']:+.1f})  test {row['test_acc']:5.1f} ({row['test_gap']:+.1f})  "
                f"{','.join(row['flags'])}")
    return rows


def growth(rows: list[dict]) -> dict[str, float]:
    """Per method, b in t ∝ n^b (least squares on log t against log n)."""
    out = {}
    for method in sorted({r["method"] for r in rows}):
        pts = [(math.log(r["n"]), math.log(max(r["seconds"], 1e-4))) for r in rows
               if r["method"] == method and "seconds" in r]
        if len(pts) >= 2:
            out[method] = float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])
    return out


def markdown(rows: list[dict], fitted: dict[str, float]) -> str:
    """The docs table: per method, at each size, forget accuracy / retain gap / test gap
    (points against the retrained model) and seconds, flags; then the fitted growth."""
    sizes = sorted({r["n"] for r in rows})
    head = "| method | " + " | ".join(f"n = {n // 1000}k: forget / ΔRA / ΔTA, s" for n in sizes) + " | t ∝ n^b |"
    lines = [head, "|" + "---|" * (len(sizes) + 2)]
    for method in sorted({r["method"] for r in rows}):
        cells = []
        for n in sizes:
            r = next((x for x in rows if x["method"] == method and x["n"] == n), None)
            if r is None or "seconds" not in r:
                cells.append("refused" if r else "")
                continue
            gaps = f"{r['retain_gap']:+.1f} / {r['test_gap']:+.1f}" if "retain_gap" in r else "— / —"
            flags = f" **{', '.join(r['flags'])}**" if r["flags"] else ""
            cells.append(f"{r['forget_acc']:.1f} / {gaps}, {r['seconds']:.2f}{flags}")
        lines.append(f"| `{method}` | " + " | ".join(cells) + f" | {fitted.get(method, float('nan')):.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,8000,32000,128000")
    parser.add_argument("--methods", default=",".join(sorted(m["name"] for m in obliviate.methods("classifier")
                                                             if m["name"] != "retrain")))
    parser.add_argument("--json", default="bench/results/scaling.json")
    args = parser.parse_args(argv)
    rows = run([int(s) for s in args.sizes.split(",")], args.methods.split(","))
    fitted = growth(rows)
    print("time growth, t ∝ n^b:", ", ".join(f"{m} {b:.2f}" for m, b in fitted.items()))
    print(markdown(rows, fitted))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "growth": fitted}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
