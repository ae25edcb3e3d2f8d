"""What a track is: the one interface that ``bench``, ``eval``, ``tune``, ``report``,
``methods``, ``tasks``, ``obliviate.unlearn`` and the CLI are written against.

A track (classifiers, language models, diffusion models, ...) is a package that
defines a :class:`Track` subclass and registers an instance under the entry-point
group ``obliviate.tracks`` in ``pyproject.toml``::

    [project.entry-points."obliviate.tracks"]
    classifier = "obliviate.classify.track:TRACK"

That line is the whole registration: :func:`tracks` loads every registered track
(a track whose optional dependencies are missing is skipped), and everything above
the tracks finds a track by its model (:func:`track_for_model`), its task
(:func:`track_for_task`) or its rows (:func:`track_for_rows`). Nothing in ``core``
imports a track.

A track's methods register themselves in :mod:`obliviate.core.registry` with
``track=<its name>`` when its ``methods_module`` is imported.
"""

from __future__ import annotations

import importlib
import statistics
import warnings
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from obliviate.core.results import UnlearnResult

ENTRY_POINT_GROUP = "obliviate.tracks"


@dataclass
class EvalSide:
    """What the evaluation suites need from one set of models: per-example
    confidences on the forget set, shape (models, examples), and per-model scores
    (percent)."""

    confidences: np.ndarray
    scores: list[dict[str, float]]


def side_mean(side: EvalSide, key: str) -> float:
    """Mean over a side's models of one score."""
    return statistics.fmean(s[key] for s in side.scores)


def mean_std_gap(side: EvalSide, reference: EvalSide, keys: Sequence[str]) -> dict[str, float]:
    """Mean and std over ``side``'s models of each score, and its gap to ``reference``'s mean."""
    out = {}
    for key in keys:
        values = [s[key] for s in side.scores]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[f"{key}_gap"] = abs(out[key] - side_mean(reference, key))
    return out


# ``obliviate evaluate``'s track-specific options: the key in ``options`` -> its flag.
EVALUATE_OPTIONS = {"retain_logs": "--retain-logs", "save_logs": "--save-logs", "judges": "--judge", "arch": "--arch"}


def evaluation_row(model: Any, role: str, benchmark: str, forget: str, metrics: dict) -> dict:
    """One row of ``obliviate evaluate``: which model (``role`` "evaluated" or "retain"), on what, its scores."""
    return {"model": str(model), "role": role, "benchmark": benchmark, "forget": forget, "metrics": metrics}


class EvalModels:
    """A track's part of ``obliviate eval`` for one plan: where its models come from
    and what is compared per example. The suites in :mod:`obliviate.suite` only call
    these methods."""

    confidence_kind: ClassVar[str] = ""  # what one per-example confidence is, for tables and plots

    def original(self, seed: int = 0) -> Any:
        """The model trained on all the data with training seed ``seed``."""
        raise NotImplementedError

    def retrained(self, seed: int) -> Any:
        raise NotImplementedError

    def unlearn(self, original: Any, method: str, seed: int) -> UnlearnResult:
        raise NotImplementedError

    def side(self, models: list) -> EvalSide:
        raise NotImplementedError

    def standard(self, side: EvalSide, reference: EvalSide) -> dict[str, float]:
        """Population scores of ``side`` (mean, std, gap to ``reference``)."""
        raise NotImplementedError

    def residual(self, models: list) -> dict[str, float]:
        """Residual-knowledge attacks on ``models`` (means)."""
        raise NotImplementedError

    def robust(self, models: list) -> dict[str, float]:
        """The forget score of ``models`` under each of the track's attacks (means); the
        ``robust`` suite puts the retrained models' next to them."""
        raise NotImplementedError

    def before(self, original: EvalSide) -> dict[str, float]:
        """Scores of the original model to show next to the unlearned ones (e.g. the
        retain set's privacy before unlearning); none by default."""
        return {}

    def final_score(self, forget_quality: float, side: EvalSide, reference: EvalSide) -> float | None:
        """The challenge's final score, where the track defines one (None otherwise)."""
        return None


@dataclass
class Column:
    """One column of an eval table: header, metric key, its std key (or None), digits;
    ``complement`` shows 100 − value (forget accuracy shown as UA); ``high`` makes it an
    interval [value of ``key``, value of ``high``]."""

    header: str
    key: str
    std: str | None = None
    digits: int = 1
    complement: bool = False
    high: str | None = None  # an interval column: [key, high] (a confidence interval)


class Track:
    """Base class of a track; see the module docstring. Subclasses set the class
    attributes and override what they support: a missing capability raises a
    one-line ``ValueError`` naming the track."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    methods_module: ClassVar[str] = ""  # importing it registers the track's methods
    pseudo_methods: ClassVar[tuple[str, ...]] = ("original",)  # rows that are not registered methods
    # report: (x key, y key, x label, y label) of the forgetting / utility plot, first pair present
    tradeoff_axes: ClassVar[tuple[tuple[str, str, str, str], ...]] = ()
    eval_columns: ClassVar[tuple[Column, ...]] = ()  # eval table: the standard scores (before F, U-LiRA)
    residual_columns: ClassVar[tuple[Column, ...]] = ()  # eval table: the residual attacks (after them)
    robust_columns: ClassVar[tuple[Column, ...]] = ()  # eval table: the robust suite's attacks (empty: no such suite)
    eval_legend: ClassVar[str] = ""
    tune_objective: ClassVar[str] = ""  # what tune minimises, for the provenance record
    tune_measured_on: ClassVar[str] = "validation split (test split never read)"
    fallback: ClassVar[bool] = False  # owns every model no other track claims (tried last)
    # the optional ``obliviate evaluate`` options (of EVALUATE_OPTIONS) this track's evaluate_files takes
    evaluate_options: ClassVar[tuple[str, ...]] = ()

    # -- recognising --------------------------------------------------------------
    def owns_model(self, model: Any) -> bool:
        """Whether ``obliviate.unlearn(model, ...)`` belongs to this track (an object or a path)."""
        return False

    def task_names(self) -> tuple[str, ...]:
        return ()

    def tasks(self) -> list[dict[str, Any]]:
        """The built-in tasks, for ``obliviate tasks``: name, track, description, forget specs, ..."""
        return []

    def owns_rows(self, rows: list[dict]) -> bool:
        return bool(rows) and (rows[0].get("track") == self.name or rows[0].get("task") in self.task_names())

    # -- unlearning ---------------------------------------------------------------
    def unlearn(self, model: Any, forget: Any, retain: Any, method: str, seed: int, hparams: dict[str, Any], *,
                progress: Callable | None = None, **options: Any) -> UnlearnResult:
        raise ValueError(f"the {self.name} track cannot unlearn from Python")

    def unlearn_files(self, model_path: str, forget_path: str, retain_path: str | None, method: str, seed: int,
                      hparams: dict[str, Any], out: str, options: dict[str, Any], say: Callable[[str], None]) -> None:
        """``obliviate unlearn``: load a local model directory, unlearn, write ``out`` atomically."""
        raise ValueError(f"the {self.name} track has no `obliviate unlearn` for model directories")

    def check_evaluate_options(self, options: dict[str, Any]) -> None:
        """Refuse (one line) the ``obliviate evaluate`` options given that this track does not take."""
        given = [flag for key, flag in EVALUATE_OPTIONS.items() if options.get(key) and key not in self.evaluate_options]
        if given:
            raise ValueError(f"option(s) {', '.join(given)} do not apply to the {self.name} track")

    def evaluate_files(self, model_path: str, benchmark: str, forget: str, options: dict[str, Any],
                       say: Callable[[str], None]) -> list[dict]:
        """``obliviate evaluate``: score a local model on a benchmark from a local copy,
        without unlearning anything; one row per model."""
        raise ValueError(f"the {self.name} track has no `obliviate evaluate` yet")

    # -- bench ----------------------------------------------------------------------
    def plan_bench(self, task: str, forget: str, methods: list[str], seeds: list[int],
                   hparams: dict[str, dict[str, Any]], device: str | None = None) -> Any:
        """A validated plan (nothing trained or written yet) with ``.task`` (``.name``),
        ``.forget``, ``.seeds`` and ``.tuned``; ``device``: where models train (None: CPU)."""
        raise ValueError(f"the {self.name} track has no benchmark")

    def run_bench(self, plan: Any, store: Any, *, show_progress: bool = True, console: Any = None,
                  record_rows: bool = True) -> list[dict]:
        """Run a plan's methods × seeds; rows recorded in the store unless ``record_rows``
        is false (the driver of a parallel run records every seed's rows at once)."""
        raise NotImplementedError

    def table_cells(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        """Header and cells of the bench summary table for this track's rows."""
        raise NotImplementedError

    def legend(self, rows: list[dict]) -> str:
        """What the bench table's columns mean (printed under it)."""
        return ""

    def distance_to_retrain(self, row: dict) -> tuple[float, str] | None:
        """A bench row's distance to retraining (lower is better) and its axis label, for the report."""
        return None

    # -- eval and tune ------------------------------------------------------------
    def plan_eval(self, task: str, forget: str, methods: list[str]) -> tuple[Any, Any, str]:
        """(task object, split, canonical forget text) for ``obliviate eval``; validates
        the methods (``retrain`` is always allowed: the second retrained set)."""
        raise ValueError(f"obliviate eval does not run on the {self.name} track")

    def eval_models(self, plan: Any, store: Any) -> EvalModels:
        raise ValueError(f"obliviate eval does not run on the {self.name} track")

    def tuner(self, task: str, forget: str, store: Any, seed: int,
              device: str | None = None) -> Callable[[str, dict[str, Any]], float]:
        """``obliviate tune``: a function (method, hyperparameters) -> distance to retraining
        measured on validation data only (never the test split)."""
        raise ValueError(f"obliviate tune does not run on the {self.name} track")

    # -- deletion requests ----------------------------------------------------------
    def deployment(self, spec: dict[str, Any]) -> Any:
        """The :class:`~obliviate.core.deploy.Deployment` that ``spec`` describes (its
        ``kind``, ``task`` and the kind's options), or None when this track does not serve it."""
        return None


_TRACKS: dict[str, Track] = {}
_SKIPPED: dict[str, str] = {}  # track -> why it could not be loaded
_LOADED = False


def register_track(track: Track) -> Track:
    """Add a track (entry points do this; tests may register one directly)."""
    if not track.name:
        raise ValueError(f"{type(track).__name__} has no name")
    if track.name in _TRACKS and type(_TRACKS[track.name]) is not type(track):
        raise ValueError(f"track {track.name!r} is already registered")
    _TRACKS[track.name] = track
    return track


def tracks() -> list[Track]:
    """Every registered track whose dependencies are installed, in registration order."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from importlib.metadata import entry_points

        for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: _ORDER.get(e.name, 99)):
            try:
                register_track(entry.load())
            except ImportError as err:  # an optional dependency of that track is missing
                _SKIPPED[entry.name] = str(err)
        if not _TRACKS:
            warnings.warn("no obliviate track is registered: is the package installed (pip install -e .)?")
    for name, track in list(_TRACKS.items()):
        if track.methods_module:
            try:
                importlib.import_module(track.methods_module)
            except ImportError as err:  # an optional dependency of that track is missing
                _SKIPPED[name] = str(err)
                del _TRACKS[name]
    return list(_TRACKS.values())


# Tracks are listed in this order when present (the others after them, by name).
_ORDER = {"classifier": 0, "lm": 1, "diffusion": 2, "exact": 3, "regress": 4}


def track_named(name: str) -> Track:
    for track in tracks():
        if track.name == name:
            return track
    known = ", ".join(t.name for t in tracks())
    why = f" (not loaded: {_SKIPPED[name]})" if name in _SKIPPED else ""
    raise ValueError(f"unknown track {name!r}{why}; tracks: {known}")


def track_for_task(task: str) -> Track:
    """The track of a task name; a name may carry a variant after "/" (``cifar10/vgg16_bn``)."""
    base = task.partition("/")[0]
    for track in tracks():
        if base in track.task_names():
            return track
    names = [n for t in tracks() for n in t.task_names()]
    raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(names)}")


def track_for_model(model: Any) -> Track:
    """The track whose models ``model`` is (a fallback track, the classifier's, owns
    every ``torch.nn.Module`` that no other track claims)."""
    for track in sorted(tracks(), key=lambda t: t.fallback):
        if track.owns_model(model):
            return track
    raise ValueError(f"model must be a torch.nn.Module or a model directory, got {type(model).__name__}")


def deployment_for(spec: dict[str, Any]) -> Any:
    """The deployable model ``spec`` describes, from the first track that serves it."""
    for track in tracks():
        found = track.deployment(spec)
        if found is not None:
            return found
    raise ValueError(f"no track deploys a {spec.get('kind', 'model')!r} model of task {spec.get('task')!r}")


def track_for_rows(rows: Sequence[dict]) -> Track:
    for track in tracks():
        if track.owns_rows(list(rows)):
            return track
    raise ValueError(f"no track knows rows of task {rows[0].get('task')!r}" if rows else "no result rows")
