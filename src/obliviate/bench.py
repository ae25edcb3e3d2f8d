"""``obliviate bench``: every method × seed on one built-in task and forget spec,
against retraining, on whichever track owns the task.

The work is the track's (:meth:`~obliviate.core.track.Track.plan_bench`,
:meth:`~obliviate.core.track.Track.run_bench`, its table); this module only finds
the track and formats the rows.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable

from obliviate.core import rows as _rows
from obliviate.core.devices import resolve_device
from obliviate.core.executor import Executor, Serial
from obliviate.core.rows import check_lists, save_json, summarize, warnings_text
from obliviate.core.store import Store
from obliviate.core.track import track_for_rows, track_for_task

__all__ = ["plan", "run", "table_cells", "render_table", "markdown_table", "legend", "summarize", "save_json",
           "warnings_text"]


def plan(task: str, forget: str, methods: Iterable[str], seeds: Iterable[int],
         hparams: dict[str, dict[str, Any]] | None = None, *, device: str | None = None):
    """Validate a benchmark request (nothing is trained or written); every error is a
    one-line ``ValueError``. ``device``: where models train and are scored."""
    track = track_for_task(task)
    methods, seeds = [m.strip() for m in methods if m.strip()], list(seeds)
    check_lists(methods, seeds)
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    device = str(resolve_device(device)) if device is not None else None
    return track.plan_bench(task, forget, methods, seeds, hparams, device=device)


def run(bench_plan, store: Store, *, show_progress: bool = True, console=None,
        executor: Executor | None = None) -> list[dict]:
    """Run a validated plan; one row per (method, seed), also recorded in the store.
    With an ``executor`` the seeds run as independent jobs (no progress bars); the
    rows, their order and their numbers are those of the serial run."""
    track = track_for_task(bench_plan.task.name)
    if executor is None or isinstance(executor, Serial) or len(bench_plan.seeds) < 2:
        return track.run_bench(bench_plan, store, show_progress=show_progress, console=console)
    per_seed = [dataclasses.replace(bench_plan, seeds=[seed]) for seed in bench_plan.seeds]
    parts = executor.map(functools.partial(_seed_rows, track, store), per_seed)
    rows = [row for part in parts for row in part]
    _rows.record(store, rows, bench_plan.tuned)
    return rows


def _seed_rows(track, store: Store, plan) -> list[dict]:
    return track.run_bench(plan, store, show_progress=False, record_rows=False)


def table_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table of bench rows (any track) or eval rows."""
    if rows and "suite" in rows[0]:
        from obliviate.suite import table_cells as eval_cells

        return eval_cells(rows)
    return track_for_rows(rows).table_cells(rows)


def legend(rows: list[dict]) -> str:
    """What the columns of the rows' table mean."""
    return track_for_rows(rows).legend(rows)


def render_table(rows: list[dict], title: str = "", width: int | None = None):
    """The summary table as a rich Table (flags in red; below it where ``width`` is too narrow)."""
    return _rows.render_table(*table_cells(rows), title=title, width=width)


def markdown_table(rows: list[dict]) -> str:
    """The summary table in Markdown."""
    return _rows.markdown_table(*table_cells(rows))
