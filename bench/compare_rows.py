"""Compare two saved bench row files metric by metric (timings left out).

    .venv/bin/python bench/compare_rows.py bench/results/digits_class_3.json new.json

Prints every value that differs and a summary line; exit status 1 if any differs.
Used to check that a refactor leaves every number bit-identical: run the benchmark
at the old and the new commit in fresh stores and compare the rows.
"""

from __future__ import annotations

import json
import sys


def differences(old: list[dict], new: list[dict]) -> tuple[int, list[str]]:
    if [(r["method"], r["seed"]) for r in old] != [(r["method"], r["seed"]) for r in new]:
        raise SystemExit("the files hold different (method, seed) rows")
    compared, found = 0, []
    for a, b in zip(old, new):
        values = [(f"metrics.{k}", v, b["metrics"].get(k)) for k, v in a["metrics"].items() if not k.endswith("seconds")]
        values += [(f"gaps.{k}", v, b.get("gaps", {}).get(k)) for k, v in a.get("gaps", {}).items()]
        values += [(k, a.get(k), b.get(k)) for k in ("avg_gap", "flags", "stop_reason")]
        for name, x, y in values:
            compared += 1
            if x != y:
                found.append(f"{a['method']} seed {a['seed']} {name}: {x!r} -> {y!r}")
    return compared, found


def main() -> None:
    old, new = (json.load(open(path)) for path in sys.argv[1:3])
    compared, found = differences(old, new)
    print("\n".join(found))
    print(f"{len(old)} rows, {compared} values compared, {len(found)} differ")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
