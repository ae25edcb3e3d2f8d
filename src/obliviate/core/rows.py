"""Result rows, shared by every track's bench and eval: validation of a request's
method and seed lists, mean ± std over seeds, table text, recording in the store,
and progress bars."""

from __future__ import annotations

import json
import statistics
import uuid
import warnings
from contextlib import nullcontext
from typing import Any, Callable

import numpy as np

from obliviate.core.registry import build
from obliviate.core.results import FLAG_TEXT
from obliviate.core.store import Store, write_text_atomic

PSEUDO_METHODS = ("original",)


def check_lists(methods: list[str], seeds: list[int]) -> None:
    """Refuse an empty or repeated method or seed list (one-line ``ValueError``)."""
    if not methods:
        raise ValueError("no methods given")
    dup = sorted({m for m in methods if methods.count(m) > 1})
    if dup:
        raise ValueError(f"method(s) listed twice: {', '.join(dup)}")
    if not seeds:
        raise ValueError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds listed twice in {seeds}")


def check_hparams(methods: list[str], hparams: dict[str, dict[str, Any]], track: str) -> None:
    """Refuse hyperparameters for methods not run, for retrain (the task's recipe) and
    the original, and any a method does not know (names, types and ranges)."""
    for m, hp in hparams.items():
        if m not in methods:
            raise ValueError(f"hyperparameters given for {m!r}, which is not among the methods {methods}")
        if m == "retrain" and hp:
            raise ValueError("retrain always uses the task's own training recipe; it takes no hyperparameters in bench")
        if m in PSEUDO_METHODS:
            raise ValueError(f"{m!r} takes no hyperparameters")
        build(m, hp, track)


def record(store: Store, rows: list[dict], tuned: dict[str, dict[str, Any]]) -> None:
    """Record a run's rows in the store, each carrying the tuning provenance of its
    method (from ``obliviate tune``), so that reports from the store show it too."""
    for row in rows:
        if row["method"] in tuned:
            row["tuned"] = tuned[row["method"]]
    store.record_runs(uuid.uuid4().hex, rows)


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of every metric, per method (input order)."""
    order = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in order:
        group = [r for r in rows if r["method"] == method]
        keys = list(group[0]["metrics"])
        stats = {k: mean_std([r["metrics"][k] for r in group]) for k in keys}
        if "avg_gap" in group[0]:
            stats["avg_gap"] = mean_std([r["avg_gap"] for r in group])
        flags = sorted({f"{f} (seed {r['seed']})" for r in group for f in r.get("flags", [])})
        out.append({"method": method, "n": len(group), "stats": stats, "flags": flags})
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def pm(ms: tuple[float, float], digits: int = 1) -> str:
    """``mean±std`` with ``digits`` decimals."""
    mean, std = ms
    return f"{mean:.{digits}f}±{std:.{digits}f}"


def interval_cells(rows: list[dict], method: str, interval: tuple[str, int], paired: str) -> list[str]:
    """Two cells for ``method``: the 95% bootstrap CI over seeds of the mean of metric
    ``interval[0]`` (``interval[1]`` decimals), and the paired t-test p-value (pairs:
    the same seed) that its ``paired`` metric equals the retrained model's. "—" where
    there are fewer than two seeds or no retrain rows."""
    from obliviate.core.metrics import bootstrap_ci, paired_p_value

    key, digits = interval
    group = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
    values = [r["avg_gap"] if key == "avg_gap" else r["metrics"][key] for r in group]
    low, high = bootstrap_ci(values)
    ci = "—" if np.isnan(low) else f"[{low:.{digits}f}, {high:.{digits}f}]"
    retrain = {r["seed"]: r["metrics"].get(paired) for r in rows if r["method"] == "retrain"}
    pairs = [(r["metrics"].get(paired), retrain.get(r["seed"])) for r in group]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    p = paired_p_value([a for a, _ in pairs], [b for _, b in pairs]) if pairs and method != "retrain" else float("nan")
    return [ci, "—" if np.isnan(p) else f"{p:.3f}"]


def summary_cells(rows: list[dict], columns: list[tuple[str, str, int]], *,
                  plain_single_seed: bool = False, interval: tuple[str, int] | None = None,
                  paired: str | None = None) -> tuple[list[str], list[list[str]]]:
    """A bench table from (header, metric key, digits) columns: mean ± std over seeds,
    then (with ``interval`` and ``paired``, see :func:`interval_cells`) the 95% CI of
    one metric and the paired test against retraining, then time and flags.
    ``plain_single_seed`` drops the ``± 0.0`` of one-seed tables."""
    names = {key: name for name, key, _ in columns} | {"avg_gap": "Avg.Gap"}
    extra = [f"{names.get(interval[0], interval[0])} 95% CI", f"p({names.get(paired, paired)}=retrain)"] \
        if interval and paired else []
    header = ["method"] + [name for name, _, _ in columns] + extra + ["time(s)", "flags"]
    summary = summarize(rows)
    single = plain_single_seed and all(s["n"] == 1 for s in summary)
    cell = (lambda ms, d: f"{ms[0]:.{d}f}") if single else pm  # noqa: E731
    body = []
    for s in summary:
        st = s["stats"]
        cells = [s["method"]] + [cell(st[key], digits) for _, key, digits in columns]
        if extra:
            cells += interval_cells(rows, s["method"], interval, paired)
        body.append(cells + [cell(st["seconds"], 1), "; ".join(s["flags"])])
    return header, body


def render_table(header: list[str], body: list[list[str]], title: str = "", width: int | None = None):
    """A rich Table of header and cells (the last column, flags, in red).

    ``width`` (the console's): a table wider than that would be squeezed by rich, the
    one wrapping column, flags, first (to nothing) and then the numbers (to "…"). So
    the flags leave the table for a caption pointing at the warning lines printed
    below it, and if the numbers still do not fit, the table turns compact (headers
    on two lines, no outer edge, shared padding)."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    flagged = any(cells[-1] for cells in body)

    def build(with_flags: bool, compact: bool = False) -> Table:
        style = dict(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False) if compact else {}
        table = Table(title=title, title_justify="left", **style)
        for name in header if with_flags else header[:-1]:
            table.add_column(name.replace(" ", "\n") if compact else name,
                             justify="left" if name in ("method", "flags") else "right", no_wrap=name != "flags")
        for cells in body:
            flags = [f"[bold red]{cells[-1]}[/]" if cells[-1] else ""] if with_flags else []
            table.add_row(*cells[:-1], *flags)
        if flagged and not with_flags:
            table.caption, table.caption_justify = "[bold red]flags: see the WARNING lines below[/]", "left"
        return table

    def fits(table: Table) -> bool:
        unbounded = Console(width=10_000)  # a measurement is clamped to the console's width
        return Measurement.get(unbounded, unbounded.options, table).maximum <= width

    for table in (build(*style) for style in ((True, False), (False, False), (False, True))):
        if width is None or fits(table):
            break
    return table  # the compact one when nothing fits


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def warnings_text(rows: list[dict]) -> list[str]:
    """One line per flag of a bench row (per seed) or an eval row (over its N models)."""
    def who(r: dict) -> str:
        return f"{r['method']} (seed {r['seed']})" if "seed" in r else f"{r['method']} ({r.get('n_models', 'N')} models)"
    return [f"{who(r)}: {FLAG_TEXT.get(f, f)}" for r in rows for f in r.get("flags", [])]


def save_json(rows: list[dict], path: str) -> None:
    write_text_atomic(path, json.dumps(rows, indent=1, sort_keys=True) + "\n")


def progress_bars(show: bool, console=None):
    """A transient rich progress display (a null context when ``show`` is false)."""
    if not show:
        return nullcontext()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def with_bar(progress, label: str, fn: Callable, total: int, quiet: bool = False):
    """Run ``fn(callback)`` with a transient bar fed by the epoch callback
    ``callback(epoch, epochs, loss)``; ``quiet`` silences warnings (flags go into the table)."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        if not progress:
            return fn(None)
        task_id = progress.add_task(label, total=max(total, 1))

        def callback(epoch: int, epochs: int, loss: float) -> None:
            progress.update(task_id, completed=epoch, total=epochs)

        try:
            return fn(callback)
        finally:
            progress.remove_task(task_id)
