"""Where SISA's slice checkpoints live: in memory, or in a directory (safetensors).

A checkpoint is a shard model's weights after a slice (slice −1: its initial weights)
and its manifest: the id hashes it was trained on. ``put`` replaces a checkpoint in
the index; ``flush`` makes the index durable and removes what no index references
any more (a deletion must not leave weights trained on a deleted id behind).

On disk (:class:`DirectoryCheckpoints`) the files are never modified: each is a
safetensors file named by its shard, slice and content hash, and an index (a JSON
file, ``checkpoints.json`` by default) lists the current one per (shard, slice) with
its SHA-256 and manifest. ``put`` only writes new files; ``flush`` replaces the index
atomically and only then deletes the files that no index in the directory lists. A
run killed at any point leaves the last flushed index pointing at complete files, so
several indexes (one per model version, ``save_index``) can share the unchanged
shards' files. Every load checks the file's SHA-256: a damaged checkpoint is a
one-line error, never loaded.
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
    """The interface: put / get / manifest per (shard, slice), and flush."""

    def put(self, shard: int, slice_: int, state: State, manifest: list[str]) -> None:
        raise NotImplementedError

    def get(self, shard: int, slice_: int) -> State:
        raise NotImplementedError

    def manifest(self, shard: int, slice_: int) -> list[str]:
        raise NotImplementedError

    def flush(self) -> None:
        """Make the current checkpoints durable and drop the replaced ones."""


class MemoryCheckpoints(Checkpoints):
    """Checkpoints held in memory (CPU copies); a replaced one is gone at once."""

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
    """Checkpoints in ``root`` (created on the first write), listed in the index file
    ``index`` (read now if it exists)."""

    def __init__(self, root: str | os.PathLike, index: str = "checkpoints.json"):
        self.root, self.index_name = Path(root), index
        path = self.root / index
        self._entries: dict[str, dict] = json.loads(path.read_text())["checkpoints"] if path.is_file() else {}

    def put(self, shard, slice_, state, manifest) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(self.root)
        try:
            save_file(_cpu_copy(state), str(tmp))
            digest = file_sha256(tmp)
            stage = "init" if slice_ < 0 else f"slice{slice_}"
            name = f"shard{shard}-{stage}-{digest[:16]}.safetensors"
            if (self.root / name).is_file():  # the same weights already stored: keep the file
                tmp.unlink()
            else:
                commit_file(tmp, self.root / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._entries[f"{shard}:{slice_}"] = {"file": name, "sha256": digest, "manifest": list(manifest)}

    def _entry(self, shard: int, slice_: int) -> dict:
        entry = self._entries.get(f"{shard}:{slice_}")
        if entry is None:
            raise ValueError(f"no checkpoint for shard {shard}, slice {slice_} in {self.root / self.index_name}")
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

    def fork(self, index: str) -> "DirectoryCheckpoints":
        """The same checkpoints under another index name (a new model version is built
        there while the deployed version's index stays as it is)."""
        other = DirectoryCheckpoints(self.root, index)
        other._entries = {k: dict(v) for k, v in self._entries.items()}
        return other

    def files(self) -> list[str]:
        """The checkpoint files this index lists."""
        return sorted(e["file"] for e in self._entries.values())

    def save_index(self, name: str, extra: dict | None = None) -> None:
        """Write the index atomically under ``name`` (``extra``: more JSON fields, e.g.
        the ensemble's configuration), deleting nothing."""
        write_text_atomic(self.root / name, json.dumps({"checkpoints": self._entries} | (extra or {}),
                                                       sort_keys=True))

    def flush(self) -> None:
        self.save_index(self.index_name)
        self.collect()

    def collect(self) -> list[str]:
        """Delete the checkpoint files that no index in ``root`` lists; returns their names."""
        listed: set[str] = set()
        for index in self.root.glob("*.json"):
            listed |= {e["file"] for e in json.loads(index.read_text()).get("checkpoints", {}).values()}
        removed = []
        for path in self.root.glob("*.safetensors"):
            if path.name not in listed:
                path.unlink()
                removed.append(path.name)
        return removed
