"""Where SISA's slice checkpoints live: in memory, or in a directory (safetensors).

A checkpoint is a shard model's weights after a slice (slice −1: its initial weights)
and its manifest: the id hashes it was trained on. ``put`` replaces a checkpoint;
the replaced weights are gone afterwards (a deletion must not leave weights trained
on a deleted id behind).

On disk (:class:`DirectoryCheckpoints`), each checkpoint is a safetensors file named
by its shard, slice and content hash, listed in ``checkpoints.json`` with its SHA-256
and manifest. A write goes to a temporary file, is fsynced and renamed, then the
index is replaced atomically, and only then is the replaced file removed: a run
killed at any point leaves the index pointing at complete files. Every load checks
the file's SHA-256, so a damaged checkpoint is a one-line error, never loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from obliviate.core.store import commit_file, file_sha256, temp_file, write_text_atomic

State = dict[str, torch.Tensor]


def _cpu_copy(state: State) -> State:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


class Checkpoints:
    """The interface: put / get / manifest per (shard, slice)."""

    def put(self, shard: int, slice_: int, state: State, manifest: list[str]) -> None:
        raise NotImplementedError

    def get(self, shard: int, slice_: int) -> State:
        raise NotImplementedError

    def manifest(self, shard: int, slice_: int) -> list[str]:
        raise NotImplementedError


class MemoryCheckpoints(Checkpoints):
    """Checkpoints held in memory (CPU copies)."""

    def __init__(self) -> None:
        self._states: dict[tuple[int, int], State] = {}
        self._manifests: dict[tuple[int, int], list[str]] = {}

    def put(self, shard, slice_, state, manifest) -> None:
        self._states[(shard, slice_)] = _cpu_copy(state)
        self._manifests[(shard, slice_)] = list(manifest)

    def get(self, shard, slice_) -> State:
        return self._states[(shard, slice_)]

    def manifest(self, shard, slice_) -> list[str]:
        return self._manifests[(shard, slice_)]


class DirectoryCheckpoints(Checkpoints):
    """Checkpoints in ``root`` (created on the first write)."""

    INDEX = "checkpoints.json"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _index(self) -> dict[str, dict]:
        path = self.root / self.INDEX
        return json.loads(path.read_text()) if path.is_file() else {}

    def put(self, shard, slice_, state, manifest) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(self.root)
        try:
            save_file(_cpu_copy(state), str(tmp))
            digest = file_sha256(tmp)
            stage = "init" if slice_ < 0 else f"slice{slice_}"
            name = f"shard{shard}-{stage}-{digest[:16]}.safetensors"
            commit_file(tmp, self.root / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        index = self._index()
        key = f"{shard}:{slice_}"
        replaced = index.get(key, {}).get("file")
        index[key] = {"file": name, "sha256": digest, "manifest": list(manifest)}
        write_text_atomic(self.root / self.INDEX, json.dumps(index, sort_keys=True))
        if replaced and replaced != name:
            (self.root / replaced).unlink(missing_ok=True)

    def _entry(self, shard: int, slice_: int) -> dict:
        entry = self._index().get(f"{shard}:{slice_}")
        if entry is None:
            raise ValueError(f"no checkpoint for shard {shard}, slice {slice_} in {self.root}")
        return entry

    def get(self, shard, slice_) -> State:
        entry = self._entry(shard, slice_)
        path = self.root / entry["file"]
        if not path.is_file() or file_sha256(path) != entry["sha256"]:
            raise ValueError(f"checkpoint {path} (shard {shard}, slice {slice_}) is missing or damaged: its SHA-256 "
                             "does not match the index")
        return load_file(str(path))

    def manifest(self, shard, slice_) -> list[str]:
        return list(self._entry(shard, slice_)["manifest"])

    def files(self) -> list[str]:
        """The checkpoint files the index lists."""
        return sorted(e["file"] for e in self._index().values())
