"""What deletion requests need from a track: a deployable model and its training data.

``obliviate models register`` / ``obliviate requests`` (:mod:`obliviate.requests`)
work on any track through this interface: a track returns a :class:`Deployment`
from :meth:`Track.deployment <obliviate.core.track.Track.deployment>` for the task
and model kind it serves (the classifier track: one model, unlearned with any of its
methods; the exact track: a SISA ensemble, unlearned exactly).

Ids are the training examples' ids as the user names them (text); what is stored
and compared is their SHA-256 (:func:`id_hash`), never the ids themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


def id_hash(key: Any) -> str:
    """The SHA-256 (hex) of an example's id, in its text form."""
    return hashlib.sha256(str(key).encode("utf-8")).hexdigest()


def manifest_digest(hashes: Iterable[str]) -> str:
    """One SHA-256 for a set of id hashes (sorted, newline-joined): a training manifest's fingerprint."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode("ascii")).hexdigest()


@dataclass
class Stored:
    """Where a version's weights are, relative to the model's directory, and their SHA-256."""

    file: str
    sha256: str


@dataclass
class Unlearned:
    """A deployment's unlearning run: the new model and what the evidence records."""

    model: Any
    method: str
    hparams: dict[str, Any]
    seconds: float
    flags: list[str] = field(default_factory=list)
    stop_reason: str = ""


class Deployment:
    """One deployable model kind on one task (see the module docstring)."""

    kind: str = ""
    task: str = ""
    default_method: str = ""

    def spec(self) -> dict[str, Any]:
        """JSON-ready: what :meth:`Track.deployment` needs to build this deployment again."""
        raise NotImplementedError

    def training_ids(self) -> list[str]:
        """The ids of every training example (text)."""
        raise NotImplementedError

    def train(self, seed: int) -> tuple[Any, float]:
        """The model trained on every training example; its training seconds."""
        raise NotImplementedError

    def load_given(self, path: str) -> Any:
        """A model the user trained (``--model FILE``), checked against the task."""
        raise NotImplementedError

    def save(self, model: Any, directory: Path, version: int) -> Stored:
        """Write ``model`` as ``version`` under ``directory`` (atomic); nothing else changes."""
        raise NotImplementedError

    def load(self, directory: Path, stored: Stored) -> Any:
        """The model stored as ``stored`` (its SHA-256 checked: a damaged file is a one-line error)."""
        raise NotImplementedError

    def purge(self, directory: Path, live: list[Stored]) -> list[str]:
        """Delete the stored weights no ``live`` version uses (superseded versions were trained
        on deleted examples); returns what was removed."""
        raise NotImplementedError

    def unlearn(self, model: Any, deleted: list[str], forget: list[str], method: str, hparams: dict[str, Any],
                seed: int) -> Unlearned:
        """Unlearn ``forget`` (ids) from ``model``, whose training data no longer holds
        ``deleted`` (ids removed by earlier versions); ``model`` itself is not modified."""
        raise NotImplementedError

    def verify(self, before: Any, after: Any, deleted: list[str], forget: list[str], retrain: bool) -> dict[str, Any]:
        """The evidence's measurements: forget / retain / test scores of both models,
        membership attacks on the ``forget`` examples and, with ``retrain`` (the caller
        judged it affordable), the gaps to a model retrained without ``deleted + forget``."""
        raise NotImplementedError
