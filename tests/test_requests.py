"""Deletion requests with evidence: registry, ledger, processing, verification, faults.

The ledger tests run on SQLite and, when ``OBLIVIATE_TEST_POSTGRES`` holds a server's
URL (CI starts one), on PostgreSQL too: the same statements on both backends."""

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from obliviate.cli import main
from obliviate.core.deploy import id_hash
from obliviate.requests import workflow
from obliviate.requests.ledger import Ledger, link_hash

POSTGRES = os.environ.get("OBLIVIATE_TEST_POSTGRES")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES else [])


def ledger_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    # a fresh database per test on the CI server
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    return ledger_url(request.param, tmp_path)


def cli(home: Path, url: str, *args: str) -> int:
    return main(["--home", str(home), *args[:2], *args[2:], "--db", url])


def ids_file(tmp_path: Path, ids, name="ids.txt") -> str:
    path = tmp_path / name
    path.write_text("\n".join(map(str, ids)) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """digits registered once (model kind) in a SQLite ledger; tests copy the home."""
    home = tmp_path_factory.mktemp("registry")
    url = f"sqlite:///{home / 'ledger.sqlite'}"
    workflow.register(url, home, "digits-prod", {"task": "digits"}, say=lambda _: None)
    return home


def copy_home(registered: Path, tmp_path: Path, url: str | None = None) -> tuple[Path, str]:
    """A copy of the registered model's home; with ``url`` (another backend), the model
    registered there too, with the same weights file (nothing retrained)."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(registered, home)
    sqlite_url = f"sqlite:///{home / 'ledger.sqlite'}"
    if url is None or url.startswith("sqlite"):
        return home, sqlite_url
    source = Ledger(sqlite_url)
    row = source.model("digits-prod")
    Ledger(url, create=True).register("digits-prod", row["spec"], row["file"], row["sha256"],
                                      source.manifest("digits-prod"), row["train_seconds"])
    return home, url


def test_a_request_goes_from_pending_to_done_with_chained_evidence(registered, url, tmp_path, capsys):
    home, url = copy_home(registered, tmp_path, url)
    v1 = Ledger(url).model("digits-prod")
    assert v1["version"] == 1 and v1["examples"] == 1293
    assert cli(home, url, "requests", "submit", "digits-prod", "--ids", ids_file(tmp_path, [3, 7, 11]),
               "--reason", "ticket 4711") == 0
    assert "request 1 on digits-prod: 3 id(s), pending" in capsys.readouterr().out
    # the same ids again: the same request
    assert cli(home, url, "requests", "submit", "digits-prod", "--ids", ids_file(tmp_path, [11, 3, 7], "b.txt")) == 0
    out = capsys.readouterr().out
    assert "request 1 on digits-prod" in out and "already requested" in out
    assert cli(home, url, "requests", "submit", "digits-prod", "--ids", ids_file(tmp_path, [20], "c.txt")) == 0
    assert cli(home, url, "requests", "process", "digits-prod", "--method", "salun", "--max-batch", "1") == 0
    out = capsys.readouterr().out
    assert "version 2 deployed (evidence 1)" in out and "version 3 deployed (evidence 2)" in out
    ledger = Ledger(url)
    assert [r.status for r in ledger.requests_of("digits-prod")] == ["done", "done"]
    v3 = ledger.model("digits-prod")
    assert v3["version"] == 3 and v3["examples"] == 1293 - 4
    first, second = ledger.evidence(1), ledger.evidence(2)
    assert second["prev_hash"] == first["hash"] and first["prev_hash"] == "0" * 64
    record = first["record"]
    assert record["before"] == {"version": 1, "sha256": v1["sha256"], "manifest_sha256": v1["manifest_sha256"]}
    assert record["deleted_ids"] == sorted(id_hash(i) for i in (3, 7, 11)) and record["requests"] == [1]
    assert record["method"] == "salun" and record["hparams"]["lr"] > 0 and record["code"]["obliviate"]
    verification = record["verification"]
    assert set(verification) >= {"before", "after", "retrained", "gaps", "per_example_confidence_gap"}
    assert 0 <= verification["after"]["member_rate_at_5pct_fpr"] <= 100
    # superseded weights are gone: only the deployed version's file is left
    files = sorted(p.name for p in (home / "deployments" / "digits-prod").iterdir())
    assert files == [v3["file"]]
    assert cli(home, url, "requests", "verify", "digits-prod") == 0
    assert cli(home, url, "requests", "show", "1", "--html", str(tmp_path / "e.html")) == 0
    page = (tmp_path / "e.html").read_text()
    assert v1["sha256"] in page and first["hash"] in page and "salun" in page and "<script" not in page


def test_bad_requests_are_one_line_errors_and_write_nothing(registered, tmp_path, capsys):
    home, url = copy_home(registered, tmp_path)
    cases = [
        (["requests", "submit", "nope", "--ids", ids_file(tmp_path, [1])], "unknown model 'nope'; registered: digits-prod"),
        (["requests", "submit", "digits-prod", "--ids", ids_file(tmp_path, [1, 99999], "x.txt")],
         "1 of the 2 id(s) are not in model 'digits-prod''s training manifest"),
        (["requests", "submit", "digits-prod", "--ids", ids_file(tmp_path, [], "e.txt")], "lists no id"),
        (["requests", "process", "digits-prod", "--max-batch", "0"], "--max-batch must be >= 1"),
        (["requests", "show", "42"], "no deletion request 42"),
        (["models", "register", "digits-prod", "--task", "digits"], "model 'digits-prod' is already registered"),
        (["models", "register", "x", "--task", "digits", "--kind", "sisa", "--set", "shard=3"],
         "option(s) shard do not apply to a SISA deployment"),
        (["models", "register", "bad name", "--task", "digits"], "bad model name 'bad name'"),
    ]
    for args, message in cases:
        assert cli(home, url, *args) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    # nothing registered or recorded by any of them (the ledger's content is unchanged)
    assert Ledger(url).names() == ["digits-prod"] and Ledger(url).requests_of("digits-prod") == []
    assert not (home / "deployments" / "x").exists()
    # no ledger at all: a read-only command creates none
    empty = tmp_path / "empty"
    assert main(["--home", str(empty), "requests", "show", "1"]) == 2
    assert "no model is registered yet" in capsys.readouterr().err and not empty.exists()
    # a PostgreSQL server that is not there
    assert main(["--home", str(empty), "models", "list", "--db", "postgresql://u:secret@127.0.0.1:9/none"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the ledger at postgresql://u:***@127.0.0.1:9/none" in err or "psycopg" in err
    assert "secret" not in err


def test_already_deleted_ids_and_failed_requests(registered, url, tmp_path):
    home, url = copy_home(registered, tmp_path, url)
    workflow.submit(url, "digits-prod", ["5"])
    workflow.process(url, home, "digits-prod", method="salun", say=lambda _: None)
    with pytest.raises(ValueError, match=r"1 of the 2 id\(s\) were already deleted from model 'digits-prod' "
                                         r"\(in version 2\)"):
        workflow.submit(url, "digits-prod", ["5", "6"])
    # a run that could not unlearn without wrecking the model (here rolled back to the start) is not promoted:
    # the request fails with the reason, the deployed version stays
    request, _ = workflow.submit(url, "digits-prod", ["6"])
    with pytest.raises(ValueError):
        workflow.process(url, home, "digits-prod", method="ga", hparams={"lr": "1e9", "early_stop": "false"},
                         say=lambda _: None)
    ledger = Ledger(url)
    failed = ledger.request(request.id)
    assert failed.status == "failed" and "not promoted: rolled_back" in failed.error
    assert ledger.model("digits-prod")["version"] == 2
    again, new = workflow.submit(url, "digits-prod", ["6"])  # submitted again: queued again
    assert again.id == request.id and not new and again.status == "pending"
    assert workflow.verify(url, home, "digits-prod") == []


def test_a_tampered_history_is_detected(registered, tmp_path):
    home, url = copy_home(registered, tmp_path)
    for ids in (["1"], ["2"], ["3"]):
        workflow.submit(url, "digits-prod", ids)
    workflow.process(url, home, "digits-prod", method="salun", max_batch=1, say=lambda _: None)
    assert workflow.verify(url, home, "digits-prod") == []
    db = sqlite3.connect(home / "ledger.sqlite")
    record = json.loads(db.execute("SELECT record FROM deletion_evidence WHERE seq = 2").fetchone()[0])
    record["method"] = "retrain"  # someone rewrites history
    db.execute("UPDATE deletion_evidence SET record = ? WHERE seq = 2",
               (json.dumps(record, sort_keys=True, separators=(",", ":")),))
    db.commit()
    problems = workflow.verify(url, home, "digits-prod")
    assert any("link 2" in p and "record altered" in p for p in problems)
    # re-hashing the altered record is not enough: the next link no longer follows it
    prev = db.execute("SELECT prev_hash, record FROM deletion_evidence WHERE seq = 2").fetchone()
    db.execute("UPDATE deletion_evidence SET hash = ? WHERE seq = 2", (link_hash(*prev),))
    db.commit()
    problems = workflow.verify(url, home, "digits-prod")
    assert any("link 3" in p and "chain broken" in p for p in problems) and not any("link 2" in p for p in problems)
    db.execute("DELETE FROM deletion_evidence WHERE seq = 3")
    db.commit()
    assert any("deployed version is 4 but 2 evidence record(s)" in p for p in workflow.verify(url, home, "digits-prod"))
    # a damaged deployed file
    row = Ledger(url).model("digits-prod")
    path = home / "deployments" / "digits-prod" / row["file"]
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    assert any("missing or damaged" in p for p in workflow.verify(url, home, "digits-prod"))
    assert main(["--home", str(home), "requests", "verify", "digits-prod", "--db", url]) == 1


@pytest.mark.parametrize("stage", ["after_unlearn", "before_promote", "after_promote"])
def test_a_killed_process_leaves_the_ledger_consistent_and_the_rerun_completes(registered, url, tmp_path, stage):
    home, url = copy_home(registered, tmp_path, url)
    workflow.submit(url, "digits-prod", ["1", "2"])
    v1 = Ledger(url).model("digits-prod")
    command = [sys.executable, "-m", "obliviate.cli", "--home", str(home), "requests", "process", "digits-prod",
               "--method", "salun", "--db", url]
    killed = subprocess.run(command, env=os.environ | {"OBLIVIATE_CRASH_AT": stage}, capture_output=True, text=True)
    assert killed.returncode == 137, killed.stderr
    ledger = Ledger(url)
    (request,) = ledger.requests_of("digits-prod")
    deployed = ledger.model("digits-prod")
    if stage == "after_promote":  # promoted: version 2 is deployed and the request is done, in one transaction
        assert deployed["version"] == 2 and request.status == "done"
    else:  # nothing promoted: the deployed version and its file are untouched, the request is held by a dead run
        assert deployed | {"holder": None} == v1 and request.status == "processing"
        with pytest.raises(ProcessLookupError):  # the lease is still held, by the dead run
            os.kill(int(deployed["holder"].split(":")[1]), 0)
        assert (home / "deployments" / "digits-prod" / v1["file"]).is_file()
    assert workflow.verify(url, home, "digits-prod") == []
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    ledger = Ledger(url)
    assert [r.status for r in ledger.requests_of("digits-prod")] == ["done"]
    deployed = ledger.model("digits-prod")
    assert deployed["version"] == 2 and len(ledger.chain_problems("digits-prod")) == 0
    # whatever the crash left (a half-built version, superseded weights) is gone after the rerun
    assert sorted(p.name for p in (home / "deployments" / "digits-prod").iterdir()) == [deployed["file"]]


def test_a_live_processing_run_is_refused(registered, url, tmp_path):
    home, url = copy_home(registered, tmp_path, url)
    workflow.submit(url, "digits-prod", ["1"])
    ledger = Ledger(url)
    holder = f"{os.uname().nodename}:{os.getpid()}:other"  # this process: alive
    assert [r.id for r in ledger.claim("digits-prod", holder)] == [1]
    with pytest.raises(ValueError, match=f"model 'digits-prod' has requests in processing by {holder}"):
        workflow.process(url, home, "digits-prod", say=lambda _: None)


def test_a_sisa_model_is_unlearned_exactly_and_its_superseded_checkpoints_removed(tmp_path):
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'ledger.sqlite'}"
    assert main(["--home", str(home), "models", "register", "exact", "--task", "digits", "--kind", "sisa",
                 "--set", "shards=4", "--set", "slices=2", "--db", url]) == 0
    directory = home / "deployments" / "exact"
    v1_files = {p.name for p in directory.glob("*.safetensors")}
    workflow.submit(url, "exact", ["8", "9"])
    (evidence_id,) = workflow.process(url, home, "exact", say=lambda _: None)
    record = Ledger(url).evidence(evidence_id)["record"]
    assert record["method"] == "sisa" and record["verification"]["manifests_clean"] is True
    assert record["verification"]["identical_to_sisa_from_scratch"] is True
    assert "retrained" in record["stop_reason"] and "of 4 shards" in record["stop_reason"]
    index = json.loads((directory / "v2.json").read_text())
    gone = {id_hash(8), id_hash(9)}
    assert all(not gone & set(e["manifest"]) for e in index["checkpoints"].values())
    files = {p.name for p in directory.glob("*.safetensors")}
    assert files == {e["file"] for e in index["checkpoints"].values()}  # nothing else left on disk
    assert v1_files - files and v1_files & files  # replaced checkpoints removed, untouched shards shared
    assert sorted(p.name for p in directory.glob("*.json")) == ["v2.json"]
    with pytest.raises(ValueError, match="unlearns with method 'sisa' only"):
        workflow.submit(url, "exact", ["10"])
        workflow.process(url, home, "exact", method="salun", say=lambda _: None)
    assert workflow.verify(url, home, "exact") == []


def test_ledger_backends_take_the_same_requests(url, tmp_path):
    ledger = Ledger(url, create=True)
    ledger.register("m", {"task": "digits"}, "v1.safetensors", "a" * 64, [id_hash(i) for i in range(50)], 1.0)
    request, new = ledger.submit("m", [id_hash(1), id_hash(2)], "r")
    assert new and request.status == "pending"
    assert ledger.submit("m", [id_hash(2), id_hash(1)])[0].id == request.id
    claimed = ledger.claim("m", "h:1:x")
    assert [r.id for r in claimed] == [request.id]
    evidence_id = ledger.promote("m", "h:1:x", [request.id], [id_hash(1), id_hash(2)], "v2.safetensors", "b" * 64,
                                 {"after": {"sha256": "b" * 64}})
    assert ledger.request(request.id).status == "done" and ledger.model("m")["version"] == 2
    assert ledger.evidence(evidence_id)["record"]["examples_after"] == 48
    assert ledger.chain_problems("m") == []


SUBMITTER = """
import sys
from obliviate.core.deploy import id_hash
from obliviate.requests.ledger import Ledger
url, worker = sys.argv[1], int(sys.argv[2])
ledger = Ledger(url)
for i in range(100):
    ledger.submit("m", [id_hash(1000 * (worker + 1) + i)], f"w{worker}")  # 100 requests of its own
    ledger.submit("m", [id_hash(i)], "shared")  # the same 100 requests from every worker
"""


def test_concurrent_submissions_lose_none_and_duplicate_none(url, tmp_path):
    ledger = Ledger(url, create=True)
    workers = 4
    ids = [1000 * (w + 1) + i for w in range(workers) for i in range(100)] + list(range(100))
    ledger.register("m", {"task": "digits"}, "v1.safetensors", "a" * 64, sorted({id_hash(i) for i in ids}), 1.0)
    ledger.dispose()
    script = tmp_path / "submit.py"
    script.write_text(SUBMITTER)
    procs = [subprocess.Popen([sys.executable, str(script), url, str(w)], stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    requests = Ledger(url).requests_of("m")
    assert len(requests) == workers * 100 + 100  # none lost
    assert len({tuple(r.id_hashes) for r in requests}) == len(requests)  # none duplicated
    assert sum(r.reason == "shared" for r in requests) == 100


def test_your_own_images_and_weights_can_be_registered_and_processed(tmp_path):
    """--data DIR (train/<class>/*.png) and --model FILE: the user's images and weights;
    a model the user trained is never presumed affordable to retrain for verification."""
    import numpy as np
    from PIL import Image
    from safetensors.torch import save_file

    from obliviate.classify.tasks import get_task

    images = tmp_path / "images"
    for cls, value in (("cat", 30), ("dog", 220)):
        for split, i in [("train", i) for i in range(12)] + [("test", 0), ("test", 1)]:
            path = images / split / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.full((8, 8, 3), value, dtype=np.uint8) + np.uint8(i)
            Image.fromarray(pixels).save(path)
    import torch

    torch.manual_seed(0)
    torch_model = get_task("imagefolder", data_dir=images).make_model()
    save_file(torch_model.state_dict(), str(tmp_path / "mine.safetensors"))
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'ledger.sqlite'}"
    assert main(["--home", str(home), "models", "register", "mine", "--data", str(images), "--model",
                 str(tmp_path / "mine.safetensors"), "--db", url]) == 0
    row = Ledger(url).model("mine")
    assert row["spec"]["task"] == "imagefolder" and row["train_seconds"] == -1.0
    request, _ = workflow.submit(url, "mine", ["0", "13"])
    # these weights were never trained: one epoch of FT leaves the two images as they were classified, and
    # with no retrained reference to show that retraining would too, the run is not promoted
    with pytest.raises(ValueError, match="not promoted: did_not_forget"):
        workflow.process(url, home, "mine", method="ft", hparams={"epochs": "1"}, say=lambda _: None)
    ledger = Ledger(url)
    assert ledger.request(request.id).status == "failed" and ledger.model("mine")["version"] == 1
    assert ledger.model("mine")["examples"] == len(get_task("imagefolder", data_dir=images).train)  # 24 - 10% held out
    assert main(["--home", str(home), "models", "register", "x", "--db", url]) == 2
