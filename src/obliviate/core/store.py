"""The embedded store: cached models (safetensors) and results (SQLite).

Layout under the data directory (``OBLIVIATE_HOME``, else the user's cache dir)::

    index.sqlite                     models(key -> file, sha256, meta), runs(bench rows)
    models/<key>-<sha>.safetensors   weights, named by their key and content hash

Writes are atomic: weights go to a temporary file that is fsynced and renamed to a
name of its own, and only then does the index row switch to it (one SQLite
transaction). A run killed at any point leaves the index pointing at complete
files; leftovers are removed by the next write (older versions of the same key, and
temporary files whose writer is dead or that are over a day old). Each file's
SHA-256 is in the index and checked on load, so a damaged file counts as missing.
Loading uses safetensors and JSON only: nothing is ever unpickled.

Nothing is created on disk until the first write, so a command that fails
validation leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
import warnings
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import torch
from safetensors.torch import load_file, save_file

from obliviate.core.devices import is_main_process

ENV_HOME = "OBLIVIATE_HOME"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL, kind TEXT NOT NULL, recipe TEXT NOT NULL,
    seed INTEGER NOT NULL, forget TEXT NOT NULL,
    file TEXT NOT NULL, sha256 TEXT NOT NULL, meta TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bench TEXT NOT NULL, created REAL NOT NULL,
    task TEXT NOT NULL, forget TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
    row TEXT NOT NULL
);
"""


_collected: list | None = None  # inside an executor's job: the store writes it made, for the driver


@contextmanager
def collecting_writes() -> Iterator[list]:
    """Within the block, :meth:`Store.save_model` collects (root, key, weights, meta)
    into the yielded list instead of writing (an executor's worker: only the driver
    writes the store; :func:`replay_writes` does it there)."""
    global _collected
    previous, _collected = _collected, []
    try:
        yield _collected
    finally:
        _collected = previous


def replay_writes(writes: list) -> None:
    """Write what :func:`collecting_writes` collected (the driver)."""
    for root, key, state, meta in writes:
        Store(root).save_model(key, state, meta)


def default_home() -> Path:
    """``$OBLIVIATE_HOME`` if set, else the platform's user cache directory."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("obliviate"))


@dataclass(frozen=True)
class ModelKey:
    """Identifies a cached model: which task, what kind (original / retrain), trained
    with which recipe (a digest of its hyperparameters and code version), seed, and
    forget spec (empty for the original)."""

    task: str
    kind: str
    recipe: str
    seed: int
    forget: str = ""

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class Store:
    """Models and results under one data directory; see the module docstring."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.root = Path(home).expanduser() if home is not None else default_home()

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    # -- models ---------------------------------------------------------------
    def load_model(self, key: ModelKey) -> tuple[dict[str, torch.Tensor], dict] | None:
        """The weights (CPU tensors: the caller moves them) and metadata stored under
        ``key``, or None if absent or damaged."""
        if not self.index_path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT file, sha256, meta FROM models WHERE key = ?", (key.digest(),)
            ).fetchone()
        if row is None:
            return None
        file, sha, meta = row
        path = self.root / file
        try:
            if file_sha256(path) != sha:
                raise OSError("checksum mismatch")
            state = load_file(str(path))
        except Exception as err:  # damaged or missing file: recompute
            warnings.warn(f"obliviate store: ignoring damaged entry {file} ({err})")
            return None
        return state, json.loads(meta)

    def save_model(self, key: ModelKey, state: dict[str, torch.Tensor], meta: dict) -> None:
        """Atomically store ``state`` (a state dict) with JSON-serialisable ``meta``.

        Each version gets its own file (named by key and content hash), so the index
        row always points at a complete file: the old one until the new row commits.
        Under a distributed launcher only the main process writes (the others return);
        inside an executor's job the write is collected for the driver.
        """
        if _collected is not None:
            _collected.append((str(self.root), key, {k: v.detach().cpu().clone() for k, v in state.items()}, meta))
            return
        if not is_main_process():
            return
        models = self.root / "models"
        models.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(models)
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
        meta_text = json.dumps(meta, sort_keys=True)
        tmp = temp_file(models)
        try:
            save_file(tensors, str(tmp), metadata={"obliviate": meta_text})
            sha = file_sha256(tmp)
            name = f"models/{key.digest()}-{sha[:16]}.safetensors"
            commit_file(tmp, self.root / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?)",
                (key.digest(), key.task, key.kind, key.recipe, key.seed, key.forget,
                 name, sha, meta_text, time.time()),
            )
        for stale in models.glob(f"{key.digest()}-*.safetensors"):  # older versions, crash leftovers
            if f"models/{stale.name}" != name:
                stale.unlink(missing_ok=True)

    def models(self) -> list[dict]:
        """Index rows of all cached models (task, kind, recipe, seed, forget, meta)."""
        if not self.index_path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT task, kind, recipe, seed, forget, meta FROM models ORDER BY created"
            ).fetchall()
        return [
            dict(task=t, kind=k, recipe=r, seed=s, forget=f, meta=json.loads(m))
            for t, k, r, s, f, m in rows
        ]

    # -- results --------------------------------------------------------------
    def record_runs(self, bench: str, rows: Iterable[dict]) -> None:
        """Append bench result rows (one transaction: all or nothing; main process only)."""
        if not is_main_process():
            return
        rows = list(rows)
        self.root.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT INTO runs (bench, created, task, forget, method, seed, row) "
                "VALUES (?,?,?,?,?,?,?)",
                [(bench, time.time(), r["task"], r["forget"], r["method"], r.get("seed", -1),
                  json.dumps(r, sort_keys=True)) for r in rows],
            )

    def runs(self, task: str | None = None, forget: str | None = None) -> list[dict]:
        """Recorded bench rows, oldest first, optionally filtered by task and forget spec."""
        if not self.index_path.exists():
            return []
        query, args = "SELECT row FROM runs WHERE 1=1", []
        if task is not None:
            query, args = query + " AND task = ?", args + [task]
        if forget is not None:
            query, args = query + " AND forget = ?", args + [forget]
        with closing(self._connect()) as db:
            return [json.loads(r) for (r,) in db.execute(query + " ORDER BY id", args)]

    def latest_runs(self, task: str, forget: str | None = None) -> list[dict]:
        """The rows of the most recent bench or eval run of ``task`` (and ``forget``)."""
        if not self.index_path.exists():
            return []
        query, args = "SELECT bench FROM runs WHERE task = ?", [task]
        if forget is not None:
            query, args = query + " AND forget = ?", args + [forget]
        with closing(self._connect()) as db:
            last = db.execute(query + " ORDER BY id DESC LIMIT 1", args).fetchone()
            if last is None:
                return []
            return [json.loads(r) for (r,) in db.execute("SELECT row FROM runs WHERE bench = ? ORDER BY id", last)]

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.index_path, timeout=60)
        try:
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            db.close()
            raise ValueError(f"the store index {self.index_path} is damaged ({err}): move it away to start an empty "
                             "store (cached models are then retrained), or use another --home") from None
        return db


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(path.parent)
    try:
        tmp.write_text(text)
        commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


STALE_SECONDS = 24 * 3600  # a temporary file this old is a leftover even if its writer's pid was reused


def temp_file(directory: Path) -> Path:
    """An empty temporary file in ``directory``, named so that a later write can clean it up."""
    # the writer's host and pid in the name: a later write can tell a dead writer's leftover
    fd, name = tempfile.mkstemp(prefix=f".tmp-{_host()}-{os.getpid()}-", dir=directory)
    os.close(fd)
    return Path(name)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files that killed writers left in ``directory``: those of a
    process of this host that is gone, and any older than ``STALE_SECONDS``."""
    removed = []
    for path in directory.glob(".tmp-*"):
        parts = path.name.split("-")
        try:
            host, pid = parts[1], int(parts[2])
        except (IndexError, ValueError):
            host, pid = "", -1
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            continue
        if (host == _host() and pid > 0 and not _alive(pid)) or age > STALE_SECONDS:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _host() -> str:
    import socket

    return socket.gethostname().replace("-", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def commit_file(tmp: Path, target: Path) -> None:
    """Make ``tmp`` durable, then rename it to ``target`` (atomic on POSIX and Windows)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
