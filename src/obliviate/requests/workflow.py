"""Deletion requests, end to end: register a deployable model, submit requests,
process them into new model versions with evidence, verify the history.

Written over the track interface only (:func:`obliviate.core.track.deployment_for`
and :class:`obliviate.core.deploy.Deployment`): any track that serves a deployment
kind gets the workflow. The model files live under ``<home>/deployments/<name>/``;
the ledger (:mod:`obliviate.requests.ledger`) is the source of truth for which
version is deployed.

Processing, per batch of pending requests (oldest first):

1. claim the model's lease and the requests (``processing``);
2. load the deployed version (checksum checked), unlearn the batch's ids with the
   method, verify (scores before / after, membership attacks on the deleted
   examples, the retrained reference when its registered training time is within
   the budget (never for a model the user trained: its time is unknown); for SISA the manifests and, within the budget, equality with SISA
   from scratch);
3. refuse to promote a run flagged diverged / collapsed / rolled back, or did not
   forget unless the retrained reference fits the examples as well (random examples
   a model generalises to: within 10 points of its forget accuracy); the requests fail
   with that reason and the deployed version stays;
4. write the new version's files, then promote it and record the evidence in one
   ledger transaction; only then purge the superseded versions' files, which were
   trained on the deleted examples.

A run killed anywhere before the promotion leaves the deployed version and its files
untouched and the requests in ``processing`` under a dead lease: the next run takes
them over. Killed after the promotion, the next run only purges what is left.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from obliviate.core.deploy import Stored, id_hash
from obliviate.core.track import deployment_for
from obliviate.requests.ledger import Ledger, Request, this_holder

BLOCKING_FLAGS = ("diverged", "collapsed", "did_not_forget", "rolled_back")
AS_RETRAINED_POINTS = 10.0  # "did not forget" is no failure when the retrained reference's forget accuracy is this close
CRASH_ENV = "OBLIVIATE_CRASH_AT"  # tests: kill the process at a named stage (os._exit), as a power cut would
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _crash_point(stage: str) -> None:
    if os.environ.get(CRASH_ENV) == stage:
        os._exit(137)


def model_directory(home: Path, name: str) -> Path:
    return Path(home) / "deployments" / name


def register(ledger_url: str, home: Path, name: str, spec: dict[str, Any], model_file: str | None = None,
             seed: int = 0, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Register ``name``: the deployment ``spec`` describes, trained now (or the user's
    ``model_file``), as version 1 with its training manifest."""
    if not NAME.fullmatch(name):
        raise ValueError(f"bad model name {name!r}: letters, digits, '_', '.', '-' (at most 100)")
    deployment = deployment_for(spec)
    ledger = Ledger(ledger_url, create=True)
    try:
        ledger.model(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"model {name!r} is already registered")
    if model_file:  # its training time is unknown: never presumed affordable to retrain
        model, seconds = deployment.load_given(model_file), -1.0
    else:
        say(f"training {name} ({deployment.kind} on {deployment.task}, seed {seed}) ...")
        model, seconds = deployment.train(seed)
    directory = model_directory(home, name)
    existed = directory.exists()
    stored = deployment.save(model, directory, 1)
    try:
        manifest = [id_hash(i) for i in deployment.training_ids()]
        ledger.register(name, deployment.spec(), stored.file, stored.sha256, manifest, seconds)
    except BaseException:
        if not existed:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
        raise
    say(f"registered {name} version 1: {len(manifest)} training examples, weights {stored.sha256[:16]}")
    return ledger.model(name)


def submit(ledger_url: str, name: str, ids: list[str], reason: str = "") -> tuple[Request, bool]:
    """Record a request to delete ``ids`` from ``name`` (their hashes are what is kept)."""
    return Ledger(ledger_url).submit(name, [id_hash(i) for i in ids], reason)


def code_version() -> dict[str, str]:
    """obliviate's version and, in a git checkout, its commit."""
    import obliviate

    out = {"obliviate": getattr(obliviate, "__version__", "unknown"), "python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
        root = Path(obliviate.__file__).resolve().parents[2]
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            out["commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def process(ledger_url: str, home: Path, name: str, method: str | None = None, max_batch: int | None = None,
            hparams: dict[str, Any] | None = None, seed: int = 0, retrain_budget: float = 120.0,
            say: Callable[[str], None] = print) -> list[int]:
    """Process ``name``'s pending requests, ``max_batch`` at a time, into new versions;
    returns the evidence ids. A failed batch raises after marking its requests failed."""
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, got {max_batch}")
    ledger = Ledger(ledger_url)
    row = ledger.model(name)
    deployment = deployment_for(row["spec"])
    method = method or deployment.default_method
    directory = model_directory(home, name)
    deployment.purge(directory, [Stored(row["file"], row["sha256"])])  # what a run killed after promoting left
    by_hash = {id_hash(i): i for i in deployment.training_ids()}
    holder, done = this_holder(), []
    while True:
        batch = ledger.claim(name, holder, max_batch)
        if not batch:
            break
        try:
            done.append(_process_batch(ledger, deployment, directory, name, holder, batch, by_hash, method,
                                       hparams or {}, seed, retrain_budget, say))
        except BaseException as err:
            if isinstance(err, Exception):
                ledger.fail(name, holder, [r.id for r in batch], f"{type(err).__name__}: {err}")
            raise
    if not done:
        say(f"{name}: no pending request")
    return done


def _process_batch(ledger: Ledger, deployment, directory: Path, name: str, holder: str, batch: list[Request],
                   by_hash: dict[str, str], method: str, hparams: dict, seed: int, retrain_budget: float,
                   say) -> int:
    row = ledger.model(name)
    deleted_hashes = set(ledger.deleted_hashes(name))
    wanted = sorted({h for r in batch for h in r.id_hashes} - deleted_hashes)
    say(f"{name}: {len(batch)} request(s) {', '.join(str(r.id) for r in batch)}: {len(wanted)} id(s), "
        f"version {row['version']} -> {row['version'] + 1}, method {method}")
    before_stored = Stored(row["file"], row["sha256"])
    before = deployment.load(directory, before_stored)
    deleted = [by_hash[h] for h in sorted(deleted_hashes)]
    forget = [by_hash[h] for h in wanted]
    start = time.perf_counter()
    run = deployment.unlearn(before, deleted, forget, method, hparams, seed)
    _crash_point("after_unlearn")
    affordable = 0 <= row["train_seconds"] <= retrain_budget
    verification = deployment.verify(before, run.model, deleted, forget, retrain=affordable)
    flags = list(run.flags)
    if verification.get("manifests_clean") is False:
        flags.append("deleted_id_in_manifest")
    if verification.get("identical_to_sisa_from_scratch") is False:
        flags.append("not_exact")
    blocking = [f for f in flags if f in BLOCKING_FLAGS + ("deleted_id_in_manifest", "not_exact")]
    reference = verification.get("retrained")
    if "did_not_forget" in blocking and reference is not None and \
            abs(verification["after"]["forget_acc"] - reference["forget_acc"]) <= AS_RETRAINED_POINTS:
        blocking.remove("did_not_forget")  # a model retrained without them still fits them: nothing to forget
    if blocking:
        raise ValueError(f"the unlearned model was not promoted: {', '.join(blocking)} ({run.stop_reason})")
    stored = deployment.save(run.model, directory, row["version"] + 1)
    _crash_point("before_promote")
    record = {
        "method": run.method, "hparams": run.hparams, "seed": seed, "code": code_version(),
        "kind": deployment.kind, "task": deployment.task,
        "before": {"version": row["version"], "sha256": row["sha256"], "manifest_sha256": row["manifest_sha256"]},
        "after": {"version": row["version"] + 1, "sha256": stored.sha256},
        "deleted_ids": wanted, "already_deleted": sorted({h for r in batch for h in r.id_hashes} & deleted_hashes),
        "unlearning_seconds": run.seconds, "total_seconds": time.perf_counter() - start,
        "stop_reason": run.stop_reason, "flags": flags,
        "retrained_reference": affordable, "verification": verification,
    }
    evidence_id = ledger.promote(name, holder, [r.id for r in batch], wanted, stored.file, stored.sha256, record)
    _crash_point("after_promote")
    removed = deployment.purge(directory, [stored])
    say(f"{name}: version {row['version'] + 1} deployed (evidence {evidence_id}); removed {len(removed)} superseded "
        "file(s)")
    return evidence_id


def verify(ledger_url: str, home: Path, name: str) -> list[str]:
    """Problems with ``name``'s history: the evidence chain, the versions it records,
    and the deployed version's file on disk (empty: all verified)."""
    ledger = Ledger(ledger_url)
    row = ledger.model(name)
    problems = ledger.chain_problems(name)
    deployment = deployment_for(row["spec"])
    try:
        deployment.load(model_directory(home, name), Stored(row["file"], row["sha256"]))
    except ValueError as err:
        problems.append(str(err))
    return problems


def show(ledger_url: str, request_id: int) -> dict[str, Any]:
    """A request and, once processed, its evidence record."""
    ledger = Ledger(ledger_url)
    request = ledger.request(request_id)
    out = {"request": request.__dict__}
    if request.evidence_id is not None:
        out["evidence"] = ledger.evidence(request.evidence_id)
    return out
