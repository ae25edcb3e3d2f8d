"""The cost of what surrounds a method: per-example gradient statistics on common layer
types, the checks inside an unlearning call, warm-up and data gathering.

    .venv/bin/python bench/overhead_benchmarks.py        # about 3 minutes on 2 cores

Every measurement runs on 1 thread, in a fresh subprocess (peak memory = the
process's maximum resident set), median of 3 interleaved repetitions, and rewrites
the "overhead" section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from docs_section import machine, rewrite_section

HERE = Path(__file__).resolve().parent

# -- what one subprocess measures ------------------------------------------------------


def _mlp(width: int, norm: bool):
    from torch import nn

    layers = [nn.Linear(64, width)] + ([nn.LayerNorm(width)] if norm else []) + [nn.ReLU(), nn.Linear(width, width),
                                                                                nn.ReLU(), nn.Linear(width, 10)]
    return nn.Sequential(*layers)


def _resnet():
    from torch import nn

    def block(c):
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                             nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), block(32),
                         nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                         block(64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class _Transformer:
    @staticmethod
    def build():
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self, d=128):
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
                self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
                self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

            def forward(self, x):
                q, k, v = self.qkv(self.ln1(x)).chunk(3, -1)
                x = x + self.out(torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, -1) @ v)
                return x + self.mlp(self.ln2(x))

        class Net(nn.Module):
            def __init__(self, d=128):
                super().__init__()
                self.emb, self.blocks, self.ln = nn.Embedding(512, d), nn.Sequential(Block(d), Block(d)), nn.LayerNorm(d)
                self.head = nn.Linear(d, 10)

            def forward(self, x):
                return self.head(self.ln(self.blocks(self.emb(x))).mean(1))

        return Net()


def measure(case: str) -> dict:
    import resource
    import time

    import torch
    import torch.nn.functional as F
    from torch.utils.data import TensorDataset

    from obliviate.classify import grads

    torch.set_num_threads(1)
    torch.manual_seed(0)
    kind, _, arg = case.partition(":")
    if kind in ("ssd-fast", "ssd-vmap", "fwdbwd-mlp"):
        width = int(arg)
        model, x = _mlp(width, norm=True), torch.randn(2048, 64)
    elif kind in ("fisher-resnet", "fwdbwd-resnet"):
        model, x = _resnet(), torch.randn(512, 3, 16, 16)
    else:  # fisher-transformer, fwdbwd-transformer
        model, x = _Transformer.build(), torch.randint(0, 512, (512, 32))
    y = torch.randint(0, 10, (len(x),))
    data = TensorDataset(x, y)
    model.eval()
    if kind == "ssd-vmap":  # every parameter through vmap: what one LayerNorm used to cause
        grads.has_fast_path = lambda module: False
    start = time.perf_counter()
    if kind.startswith("fwdbwd"):  # the yardstick: one forward + backward over the same data, same chunks
        for i in range(0, len(x), 256):
            model.zero_grad()
            F.cross_entropy(model(x[i:i + 256]), y[i:i + 256]).backward()
    else:
        grads.empirical_fisher(model, data)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_call(case: str) -> dict:
    """One unlearning call on a built-in task: the method's own time and the checks'."""
    import time
    import warnings

    import torch
    from torch.utils.data import Subset

    import obliviate
    from obliviate.classify.tasks import get_task
    from obliviate.classify.training import train_from_scratch

    torch.set_num_threads(1)
    method, _, data_kind = case.partition(":")
    task = get_task("digits")
    split = task.split("class:3")
    original, _ = train_from_scratch(task, task.train, seed=0)
    forget, retain = split.forget, split.retain
    if data_kind == "subset":  # the README's way: Subsets of the training set
        ids = split.forget_ids.tolist()
        keep = sorted(set(range(len(task.train))) - set(ids))
        forget, retain = Subset(task.train, ids), Subset(task.train, keep)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = obliviate.unlearn(original, forget, retain, method=method, holdout=split.val)
    return {"wall": time.perf_counter() - start, "seconds": result.seconds, "checks": result.check_seconds}


def _run(fn: str, case: str) -> dict:
    out = subprocess.run([sys.executable, __file__, fn, case], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(fn: str, cases: list[str], repeats: int = 3) -> dict[str, dict]:
    runs: dict[str, list[dict]] = {c: [] for c in cases}
    for _ in range(repeats):  # interleaved: a slow moment of the machine hits every case alike
        for c in cases:
            runs[c].append(_run(fn, c))
    return {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}


def main() -> None:
    stats = _median("measure", ["ssd-fast:512", "ssd-vmap:512", "fwdbwd-mlp:512", "ssd-fast:1024", "ssd-vmap:1024",
                                "fwdbwd-mlp:1024", "fisher-resnet", "fwdbwd-resnet", "fisher-transformer",
                                "fwdbwd-transformer"])
    lines = ["| model | per-example Fisher (s) | peak MB | one forward+backward (s) | ratio |", "|---|---|---|---|---|"]
    for name, fast, base in (("MLP + LayerNorm, width 512, 2048 ex.", "ssd-fast:512", "fwdbwd-mlp:512"),
                             ("  same, every parameter through vmap (before)", "ssd-vmap:512", "fwdbwd-mlp:512"),
                             ("MLP + LayerNorm, width 1024, 2048 ex.", "ssd-fast:1024", "fwdbwd-mlp:1024"),
                             ("  same, every parameter through vmap (before)", "ssd-vmap:1024", "fwdbwd-mlp:1024"),
                             ("ResNet-style (Conv + BatchNorm), 512 ex. 3x16x16", "fisher-resnet", "fwdbwd-resnet"),
                             ("Transformer-style (Embedding, LayerNorm, attention), 512 x 32 tokens",
                              "fisher-transformer", "fwdbwd-transformer")):
        f, b = stats[fast], stats[base]
        lines.append(f"| {name} | {f['seconds']:.2f} | {f['peak_mb']:.0f} | {b['seconds']:.2f} | "
                     f"{f['seconds'] / b['seconds']:.1f}x |")
    calls = _median("measure_call", ["ga:tensor", "ga:subset", "ssd:tensor", "rl:tensor"])
    call_lines = ["| call (digits class:3) | wall (s) | method (s) | checks (s) |", "|---|---|---|---|"]
    for case, r in calls.items():
        call_lines.append(f"| {case.replace(':', ', ')} data | {r['wall']:.2f} | {r['seconds']:.2f} | {r['checks']:.2f} |")
    body = (f"_Measured on {machine()}, 1 thread, median of 3 interleaved runs, each in a fresh process._\n\n"
            "Per-example gradient statistics (`grads.empirical_fisher`, what SSD and Fisher compute), against one "
            "forward + backward over the same examples in the same chunks of 256:\n\n" + "\n".join(lines) +
            "\n\nOne `obliviate.unlearn` call: wall time, the method's own time (`result.seconds`) and the checks "
            "around it and inside it (`result.check_seconds`: health before / after, early-stopping checks):\n\n"
            + "\n".join(call_lines) + "\n")
    print(body)
    rewrite_section("overhead", body)


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(globals()[sys.argv[1]](sys.argv[2])))
    else:
        main()
