"""Where the user's local copies of the standard datasets live.

Nothing is downloaded: a task that reads a published dataset (CIFAR, TOFU, MUSE, ...)
finds it under the data directory, ``--data-dir`` on the command line or the
``OBLIVIATE_DATA`` environment variable, in the dataset's official published layout.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENV = "OBLIVIATE_DATA"


def data_dir(given: str | os.PathLike | None = None) -> Path | None:
    """The data directory: ``given``, else ``$OBLIVIATE_DATA``, else None."""
    text = os.fspath(given) if given is not None else os.environ.get(ENV)
    return Path(text).expanduser() if text else None


def find_copy(task: str, given: str | os.PathLike | None, folder: str, marker: str, what: str) -> Path:
    """The directory of a dataset's local copy: the data directory itself when it holds
    ``marker``, else its subfolder ``folder`` (the name the official archive extracts
    to). One-line ``ValueError`` naming what is missing and where it was looked for."""
    root = data_dir(given)
    if root is None:
        raise ValueError(f"task {task!r} reads {what} from a local copy: pass --data-dir DIR "
                         f"(or set {ENV}) where DIR/{folder} holds it")
    if not root.is_dir():
        raise ValueError(f"data directory {str(root)!r} does not exist")
    for place in (root, root / folder):
        if (place / marker).exists():
            return place
    raise ValueError(f"task {task!r}: no {marker} in {str(root)!r} or {str(root / folder)!r} ({what})")


def fingerprint(paths: list[Path], head: int = 1 << 20) -> str:
    """A short digest of files (names, sizes and their first ``head`` bytes): models
    cached for one local copy are not reused for another."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.parent.name}/{path.name}:{path.stat().st_size}:".encode())
        with open(path, "rb") as f:
            digest.update(f.read(head))
    return digest.hexdigest()[:16]
