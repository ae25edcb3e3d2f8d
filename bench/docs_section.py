"""What every bench script does with its numbers: name the machine they were
measured on, save the rows under bench/results/, and rewrite the script's section
of docs/benchmarks.md (between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->``)."""

from __future__ import annotations

import json
import platform
import re
import time
from pathlib import Path

import torch

from obliviate.core.store import write_text_atomic

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"


def save_rows(name: str, rows: list[dict]) -> Path:
    path = RESULTS / f"{name}.json"
    write_text_atomic(path, json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return path


def rewrite_section(marker: str, body: str) -> None:
    """Replace what stands between the marker pair with ``body`` (atomic write)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    old = DOC.read_text()
    if start not in old or end not in old:
        raise SystemExit(f"docs/benchmarks.md has no {start} ... {end} section")
    text = f"{start}\n{body.rstrip(chr(10))}\n{end}"
    write_text_atomic(DOC, re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: text, old, flags=re.S))
