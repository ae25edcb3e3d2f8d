"""The deletion-request ledger: deployed models and their versions, each model's
training manifest, the requests and their evidence, in one SQL database.

SQLite (a file in the store, WAL, every write one ``BEGIN IMMEDIATE`` transaction) by
default; PostgreSQL with a ``postgresql://`` URL (``pip install obliviate[postgres]``).
Both go through SQLAlchemy Core, so the same statements and the same tests run on both.

Every state change is one transaction:

- ``register``: the model, version 1 and its manifest (the SHA-256 of every
  training example's id, never the ids);
- ``submit``: a request (its ids' hashes, checked against the deployed manifest);
  the same ids again return the same request (a unique digest), and a failed
  request submitted again is queued again;
- ``claim``: a processing lease on the model (one holder at a time) and its oldest
  pending requests, moved to ``processing``; a lease whose holder died (its process
  is gone on this host, or it is older than ``LEASE_SECONDS``) is taken over and its
  requests go back to ``pending`` first, so a killed run never loses a request;
- ``promote``: the new version, the model's deployed version, the manifest (the ids
  marked deleted in that version), the evidence record and the requests ``done``,
  all at once: a crash before the commit leaves the deployed version and the
  requests' state as they were;
- ``fail``: the requests ``failed`` with the error; the deployed version unchanged.

Evidence records are chained per model: ``hash = SHA-256(previous hash + "\\n" +
record)``, the record stored as canonical JSON, so editing any record, or removing
one, breaks the chain (:meth:`Ledger.chain_problems`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (Column, Float, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint,
                        create_engine, event, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

ENV_DB = "OBLIVIATE_DB"
LEASE_SECONDS = 24 * 3600  # a holder on another host is presumed dead after this long
GENESIS = "0" * 64
STATUSES = ("pending", "processing", "done", "failed")

metadata = MetaData()
models = Table(
    "deploy_models", metadata,
    Column("name", String(200), primary_key=True),
    Column("spec", Text, nullable=False),  # JSON: what rebuilds the deployment
    Column("version", Integer, nullable=False),  # the deployed version
    Column("train_seconds", Float, nullable=False),
    Column("created", Float, nullable=False),
    Column("holder", String(300)),  # the processing lease: who, since when
    Column("held_since", Float),
)
versions = Table(
    "deploy_versions", metadata,
    Column("name", String(200), ForeignKey("deploy_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("file", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("examples", Integer, nullable=False),
    Column("created", Float, nullable=False),
)
training_ids = Table(
    "deploy_training_ids", metadata,
    Column("name", String(200), ForeignKey("deploy_models.name"), primary_key=True),
    Column("id_hash", String(64), primary_key=True),
    Column("deleted_in", Integer),  # the version that no longer holds it (NULL: still trained on)
)
requests = Table(
    "deletion_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), ForeignKey("deploy_models.name"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("id_hashes", Text, nullable=False),  # JSON list
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("holder", String(300)),
    Column("error", Text),
    Column("evidence_id", Integer),
    UniqueConstraint("name", "digest", name="one_request_per_id_set"),
)
evidence = Table(
    "deletion_evidence", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), ForeignKey("deploy_models.name"), nullable=False),
    Column("seq", Integer, nullable=False),  # position in the model's chain
    Column("record", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created", Float, nullable=False),
    UniqueConstraint("name", "seq", name="one_link_per_position"),
)


def canonical(record: dict) -> str:
    """The JSON text a record is stored and hashed as (sorted keys, no spaces)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


def link_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{text}".encode("utf-8")).hexdigest()


def ids_digest(hashes: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(hashes))).encode("ascii")).hexdigest()


def this_holder() -> str:
    """A lease holder's name: host, pid and a random part (unique per run)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_alive(holder: str, since: float) -> bool:
    host, _, rest = holder.partition(":")
    pid = int(rest.partition(":")[0] or 0)
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return time.time() - since < LEASE_SECONDS


@dataclass
class Request:
    id: int
    name: str
    id_hashes: list[str]
    reason: str
    status: str
    created: float
    updated: float
    error: str | None
    evidence_id: int | None


def _request(row) -> Request:
    return Request(row.id, row.name, json.loads(row.id_hashes), row.reason, row.status, row.created, row.updated,
                   row.error, row.evidence_id)


def default_url(home: Path) -> str:
    """``$OBLIVIATE_DB`` if set, else SQLite in the store (``ledger.sqlite``)."""
    return os.environ.get(ENV_DB) or f"sqlite:///{Path(home) / 'ledger.sqlite'}"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA busy_timeout=60000")

        @event.listens_for(engine, "begin")
        def _begin(connection):  # take the write lock at once: no deadlock on a read-then-write upgrade
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith(("postgresql", "postgres")):
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ValueError("a PostgreSQL ledger needs psycopg: pip install 'obliviate[postgres]'") from None
        return create_engine(url, pool_pre_ping=True)
    raise ValueError(f"unsupported ledger URL {url!r}: use sqlite:///PATH or postgresql://...")


class Ledger:
    """The ledger at ``url``. ``create``: make the SQLite file and the tables if they are
    not there (only registering does: a command that reads an absent ledger writes nothing)."""

    def __init__(self, url: str, create: bool = False):
        self.url = url
        if url.startswith("sqlite") and not create:
            path = url.split("///", 1)[-1]
            if path != ":memory:" and not Path(path).is_file():
                raise ValueError(f"no model is registered yet (no ledger at {path})")
        self.engine = _engine(url)
        try:
            metadata.create_all(self.engine)
        except OperationalError as err:
            raise ValueError(f"cannot open the ledger at {_safe(url)}: {str(err.orig).strip().splitlines()[0]}") \
                from None

    def dispose(self) -> None:
        self.engine.dispose()

    # -- models ---------------------------------------------------------------------
    def register(self, name: str, spec: dict, file: str, sha256: str, manifest: list[str], train_seconds: float) -> None:
        now = time.time()
        with self.engine.begin() as db:
            if db.execute(select(models.c.name).where(models.c.name == name)).first():
                raise ValueError(f"model {name!r} is already registered")
            db.execute(models.insert().values(name=name, spec=canonical(spec), version=1,
                                              train_seconds=train_seconds, created=now))
            db.execute(versions.insert().values(name=name, version=1, file=file, sha256=sha256,
                                                manifest_sha256=ids_digest(manifest), examples=len(manifest),
                                                created=now))
            db.execute(training_ids.insert(), [{"name": name, "id_hash": h, "deleted_in": None} for h in manifest])

    def model(self, name: str) -> dict[str, Any]:
        """The model's row and its deployed version's (one-line error for an unknown name)."""
        with self.engine.connect() as db:
            row = db.execute(select(models).where(models.c.name == name)).first()
            if row is None:
                raise _unknown(db, name)
            version = db.execute(select(versions).where(versions.c.name == name,
                                                        versions.c.version == row.version)).first()
        return {"name": name, "spec": json.loads(row.spec), "version": row.version,
                "train_seconds": row.train_seconds, "file": version.file, "sha256": version.sha256,
                "manifest_sha256": version.manifest_sha256, "examples": version.examples, "holder": row.holder}

    def names(self) -> list[str]:
        with self.engine.connect() as db:
            return [r.name for r in db.execute(select(models.c.name).order_by(models.c.name))]

    def deleted_hashes(self, name: str) -> list[str]:
        with self.engine.connect() as db:
            return [r.id_hash for r in db.execute(select(training_ids.c.id_hash).where(
                training_ids.c.name == name, training_ids.c.deleted_in.is_not(None)).order_by(training_ids.c.id_hash))]

    def manifest(self, name: str) -> list[str]:
        """The id hashes the deployed version was trained on."""
        with self.engine.connect() as db:
            return [r.id_hash for r in db.execute(select(training_ids.c.id_hash).where(
                training_ids.c.name == name, training_ids.c.deleted_in.is_(None)).order_by(training_ids.c.id_hash))]

    # -- requests -------------------------------------------------------------------
    def submit(self, name: str, hashes: list[str], reason: str = "") -> tuple[Request, bool]:
        """Record a request for the ids ``hashes``; (the request, whether it is new).
        The same ids again return the existing request (re-queued if it had failed)."""
        hashes = sorted(set(hashes))
        if not hashes:
            raise ValueError("a deletion request needs at least one id")
        for _ in range(5):
            try:
                return self._submit(name, hashes, reason)
            except IntegrityError:  # the same ids committed by another process meanwhile: read theirs
                continue
        raise ValueError(f"could not record the request on {name!r}: the ledger kept changing under it")

    def _submit(self, name: str, hashes: list[str], reason: str = "") -> tuple[Request, bool]:
        digest, now = ids_digest(hashes), time.time()
        with self.engine.begin() as db:
            row = db.execute(select(models.c.version).where(models.c.name == name)).first()
            if row is None:
                raise _unknown(db, name)
            existing = db.execute(select(requests).where(requests.c.name == name, requests.c.digest == digest)).first()
            if existing is not None:
                if existing.status == "failed":
                    db.execute(update(requests).where(requests.c.id == existing.id).values(
                        status="pending", updated=now, error=None, holder=None))
                    existing = db.execute(select(requests).where(requests.c.id == existing.id)).first()
                return _request(existing), False
            known = dict(db.execute(select(training_ids.c.id_hash, training_ids.c.deleted_in).where(
                training_ids.c.name == name, training_ids.c.id_hash.in_(hashes))).all())
            absent = [h for h in hashes if h not in known]
            gone = [h for h in hashes if known.get(h) is not None]
            if absent:
                raise ValueError(f"{len(absent)} of the {len(hashes)} id(s) are not in model {name!r}'s training "
                                 "manifest")
            if gone:
                raise ValueError(f"{len(gone)} of the {len(hashes)} id(s) were already deleted from model {name!r} "
                                 f"(in version {min(known[h] for h in gone)})")
            new_id = db.execute(requests.insert().values(
                name=name, digest=digest, id_hashes=json.dumps(hashes), reason=reason, status="pending",
                created=now, updated=now)).inserted_primary_key[0]
            return _request(db.execute(select(requests).where(requests.c.id == new_id)).first()), True

    def request(self, request_id: int) -> Request:
        with self.engine.connect() as db:
            row = db.execute(select(requests).where(requests.c.id == request_id)).first()
        if row is None:
            raise ValueError(f"no deletion request {request_id}")
        return _request(row)

    def requests_of(self, name: str, status: str | None = None) -> list[Request]:
        query = select(requests).where(requests.c.name == name).order_by(requests.c.id)
        if status:
            query = query.where(requests.c.status == status)
        with self.engine.connect() as db:
            return [_request(r) for r in db.execute(query)]

    # -- processing -------------------------------------------------------------------
    def claim(self, name: str, holder: str, max_batch: int | None = None) -> list[Request]:
        """Take the model's processing lease and its oldest pending requests (at most
        ``max_batch``), moved to ``processing``. A live holder is a one-line error; a
        dead one's requests go back to pending first."""
        now = time.time()
        with self.engine.begin() as db:
            row = db.execute(select(models).where(models.c.name == name).with_for_update()).first()
            if row is None:
                raise _unknown(db, name)
            if row.holder and row.holder != holder:
                if _holder_alive(row.holder, row.held_since):
                    raise ValueError(f"model {name!r} has requests in processing by {row.holder} (since "
                                     f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row.held_since))})")
                db.execute(update(requests).where(requests.c.name == name, requests.c.status == "processing")
                           .values(status="pending", holder=None, updated=now))
            query = select(requests.c.id).where(requests.c.name == name, requests.c.status == "pending") \
                .order_by(requests.c.id)
            if max_batch:
                query = query.limit(max_batch)
            chosen = [r.id for r in db.execute(query)]
            if not chosen:
                db.execute(update(models).where(models.c.name == name).values(holder=None, held_since=None))
                return []
            db.execute(update(models).where(models.c.name == name).values(holder=holder, held_since=now))
            db.execute(update(requests).where(requests.c.id.in_(chosen)).values(
                status="processing", holder=holder, updated=now))
            return [_request(r) for r in db.execute(select(requests).where(requests.c.id.in_(chosen))
                                                    .order_by(requests.c.id))]

    def _check_holder(self, db, name: str, holder: str) -> None:
        row = db.execute(select(models.c.holder).where(models.c.name == name).with_for_update()).first()
        if row is None or row.holder != holder:
            raise ValueError(f"the processing lease on model {name!r} was lost (now held by "
                             f"{row.holder if row else None}): nothing promoted")

    def promote(self, name: str, holder: str, request_ids: list[int], deleted: list[str], file: str, sha256: str,
                record: dict) -> int:
        """Deploy the next version and record its evidence, in one transaction; returns the evidence id."""
        now = time.time()
        with self.engine.begin() as db:
            self._check_holder(db, name, holder)
            version = db.execute(select(models.c.version).where(models.c.name == name)).scalar_one() + 1
            db.execute(update(training_ids).where(training_ids.c.name == name, training_ids.c.id_hash.in_(deleted),
                                                  training_ids.c.deleted_in.is_(None)).values(deleted_in=version))
            remaining = [r.id_hash for r in db.execute(select(training_ids.c.id_hash).where(
                training_ids.c.name == name, training_ids.c.deleted_in.is_(None)))]
            manifest_sha = ids_digest(remaining)
            db.execute(versions.insert().values(name=name, version=version, file=file, sha256=sha256,
                                                manifest_sha256=manifest_sha, examples=len(remaining), created=now))
            db.execute(update(models).where(models.c.name == name).values(version=version, holder=None,
                                                                          held_since=None))
            last = db.execute(select(evidence.c.seq, evidence.c.hash).where(evidence.c.name == name)
                              .order_by(evidence.c.seq.desc()).limit(1)).first()
            seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
            text = canonical(record | {"model": name, "version_after": version, "manifest_sha256_after": manifest_sha,
                                       "examples_after": len(remaining), "requests": request_ids})
            evidence_id = db.execute(evidence.insert().values(
                name=name, seq=seq, record=text, prev_hash=prev, hash=link_hash(prev, text), created=now
            )).inserted_primary_key[0]
            db.execute(update(requests).where(requests.c.id.in_(request_ids)).values(
                status="done", updated=now, evidence_id=evidence_id, holder=None, error=None))
            return evidence_id

    def fail(self, name: str, holder: str, request_ids: list[int], error: str) -> None:
        now = time.time()
        with self.engine.begin() as db:
            db.execute(update(requests).where(requests.c.id.in_(request_ids), requests.c.holder == holder).values(
                status="failed", updated=now, error=error[:2000], holder=None))
            db.execute(update(models).where(models.c.name == name, models.c.holder == holder).values(
                holder=None, held_since=None))

    # -- evidence ----------------------------------------------------------------------
    def evidence(self, evidence_id: int) -> dict[str, Any]:
        with self.engine.connect() as db:
            row = db.execute(select(evidence).where(evidence.c.id == evidence_id)).first()
        if row is None:
            raise ValueError(f"no evidence record {evidence_id}")
        return {"id": row.id, "seq": row.seq, "hash": row.hash, "prev_hash": row.prev_hash,
                "record": json.loads(row.record)}

    def chain_problems(self, name: str) -> list[str]:
        """What is wrong with the model's evidence chain and versions (empty: intact)."""
        problems, prev = [], GENESIS
        with self.engine.connect() as db:
            rows = db.execute(select(evidence).where(evidence.c.name == name).order_by(evidence.c.seq)).all()
            held = {r.version: r for r in db.execute(select(versions).where(versions.c.name == name))}
            deployed = db.execute(select(models.c.version).where(models.c.name == name)).scalar()
        for expected_seq, row in enumerate(rows, 1):
            where = f"evidence {row.id} (link {row.seq})"
            if row.seq != expected_seq:
                problems.append(f"{where}: link {expected_seq} is missing")
            if row.prev_hash != prev:
                problems.append(f"{where}: does not follow the previous record (chain broken)")
            if link_hash(row.prev_hash, row.record) != row.hash:
                problems.append(f"{where}: its hash does not match its content (record altered)")
            record = json.loads(row.record)
            version = held.get(record.get("version_after"))
            if version is None or version.sha256 != record.get("after", {}).get("sha256"):
                problems.append(f"{where}: version {record.get('version_after')}'s weights are not the ones it "
                                "records")
            prev = row.hash
        if deployed is not None and deployed != 1 + len(rows):
            problems.append(f"the deployed version is {deployed} but {len(rows)} evidence record(s) account for "
                            f"{1 + len(rows)}")
        return problems


def _unknown(db, name: str) -> ValueError:
    known = [r.name for r in db.execute(select(models.c.name).order_by(models.c.name))]
    return ValueError(f"unknown model {name!r}; registered: {', '.join(known) or 'none'}")


def _safe(url: str) -> str:
    """A URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    return f"{scheme}://{creds.partition(':')[0]}:***@{tail}"


