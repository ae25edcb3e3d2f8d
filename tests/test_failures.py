"""Failures are reported, never returned as success (issue 12, part 6): each case a new
user hit, with what they must see (one line, the right exit code, nothing written)."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import torch

import obliviate
from obliviate.cli import main
from obliviate.core.results import health_flags
from obliviate.core.store import ModelKey, Store, remove_stale_temporaries


def _lm_files(tiny, tmp_path):
    _, _, original, _, tokenizer, split = tiny
    original.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "f.jsonl").write_text("\n".join(json.dumps({"question": q.question, "answer": q.answer})
                                               for q in split.forget))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps({"question": q.question, "answer": q.answer})
                                               for q in split.retain if q.question))
    return ["unlearn", "--model", str(tmp_path / "model"), "--forget", str(tmp_path / "f.jsonl"),
            "--retain", str(tmp_path / "r.jsonl"), "--method", "npo"]


def test_a_diverged_language_model_run_exits_1_and_writes_nothing(tiny, tmp_path, capsys):
    args = _lm_files(tiny, tmp_path) + ["--set", "lr=1e6", "--set", "epochs=1", "--out", str(tmp_path / "out")]
    assert main(args) == 1
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("obliviate")]
    assert line.startswith("obliviate: failed: npo diverged") and "nothing written" in line
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".obliviate-")]
    # asked to keep it: written, and still a failure
    assert main(args + ["--keep-diverged"]) == 1
    assert (tmp_path / "out" / "config.json").is_file() and "as asked" in capsys.readouterr().err


def test_hyperparameter_errors_come_before_any_model_is_loaded(tiny, tmp_path, monkeypatch, capsys):
    import obliviate.lm.models as models

    monkeypatch.setattr(models, "load_pretrained", lambda *a, **k: pytest.fail("the model was loaded"))
    base = _lm_files(tiny, tmp_path)
    for extra, message in ((["--set", "lr=abc"], "lr"), (["--set", "epochs=0"], "epochs"),
                           (["--set", "betta=0.1"], "unknown hyperparameter 'betta'")):
        assert main(base + extra + ["--out", str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
    no_retain = [a for a in base if a not in ("--retain", str(tmp_path / "r.jsonl"))]
    assert main(no_retain + ["--out", str(tmp_path / "out")]) == 2
    assert "pass --retain FILE" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_given_as_model_directory_is_named_as_a_file(tmp_path, capsys):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    (tmp_path / "f.jsonl").write_text('{"question": "Q?", "answer": "A."}\n')
    assert main(["unlearn", "--model", str(tmp_path / "weights.bin"), "--forget", str(tmp_path / "f.jsonl"),
                 "--method", "ga", "--out", str(tmp_path / "out")]) == 2
    assert "is a file; give the model's directory" in capsys.readouterr().err


def test_unknown_track_is_an_error(capsys):
    assert main(["methods", "--track", "nosuch"]) == 2
    assert "unknown track 'nosuch'; tracks: classifier, diffusion, exact, lm" in capsys.readouterr().err
    assert main(["methods", "--track", "diffusion"]) == 0
    out = capsys.readouterr().out
    assert "needs )" not in out and "esd (diffusion; needs only the forget data)" in out


def test_home_is_accepted_before_and_after_the_subcommand(tmp_path, capsys):
    from obliviate.cli import _parser

    assert _parser().parse_args(["tasks", "--home", "/a"]).home == "/a"
    assert _parser().parse_args(["--home", "/b", "tasks"]).home == "/b"
    assert _parser().parse_args(["--home", "/b", "report", "--home", "/c", "--task", "x", "--out", "o"]).home == "/c"
    assert main(["report", "--task", "digits", "--home", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "no runs of task 'digits'" in capsys.readouterr().err


def test_version():
    out = subprocess.run([sys.executable, "-m", "obliviate.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("obliviate ")


def test_stale_temporary_files_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    from obliviate.core.store import _host

    models = tmp_path / "models"
    models.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = models / f".tmp-{_host()}-{dead.pid}-abc123"
    leftover.write_bytes(b"half a model")
    live = models / f".tmp-{_host()}-{os.getpid()}-def456"  # a writer still at work
    live.write_bytes(b"in progress")
    old = models / ".tmp-otherhost-12-ghi789"
    old.write_bytes(b"from another machine, long ago")
    os.utime(old, (0, 0))
    Store(tmp_path).save_model(ModelKey("t", "original", "r", 0), {"w": torch.zeros(2)}, {})
    assert not leftover.exists() and not old.exists() and live.exists()
    assert remove_stale_temporaries(models) == []


def test_a_damaged_index_is_one_line_naming_the_file(tmp_path, capsys):
    (tmp_path / "index.sqlite").write_text("this is not a database")
    with pytest.raises(ValueError, match="index.sqlite is damaged"):
        Store(tmp_path).runs()
    assert main(["report", "--task", "digits", "--home", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "move it away" in err and "Traceback" not in err
    assert (tmp_path / "index.sqlite").read_text() == "this is not a database"  # nothing changed on disk
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(tmp_path / "index.sqlite").execute("SELECT 1 FROM runs")


def test_did_not_forget_is_judged_against_the_retrained_target():
    before = {"forget_acc": 80.0, "retain_acc": 99.0}
    # random forget set: the retrained model is as accurate as the original, nothing to change
    assert health_flags(before, {"forget_acc": 80.3, "retain_acc": 99.0}, False, target=80.5) == []
    # the original is not at the target and the run did not move: flagged
    assert health_flags(before, {"forget_acc": 80.3, "retain_acc": 99.0}, False, target=60.0) == ["did_not_forget"]
    # unknown target: the old rule (moved less than a point)
    assert health_flags(before, {"forget_acc": 80.3, "retain_acc": 99.0}, False) == ["did_not_forget"]
    # scores that turn NaN are divergence; a score never defined (no retain set given) is not
    nan = float("nan")
    assert health_flags(before, {"forget_acc": nan, "retain_acc": nan}, False) == ["diverged"]
    no_retain = {"forget_acc": 80.0, "retain_acc": nan}
    assert health_flags(no_retain, {"forget_acc": 40.0, "retain_acc": nan}, False) == []
    # far below the retrained model's forget accuracy: over-forgetting, itself a membership signal
    assert health_flags(before, {"forget_acc": 57.0, "retain_acc": 99.0}, False, target=80.0) == ["over_forgot"]
    # moved, but still far above the target (SSD at 32k examples: 99% -> 49% against 0%): under-forgetting
    class_forget = {"forget_acc": 99.2, "retain_acc": 99.1}
    assert health_flags(class_forget, {"forget_acc": 48.9, "retain_acc": 95.5}, False, target=0.0) == ["under_forgot"]
    # within 10 points of the target, or target unknown: no flag
    assert health_flags(class_forget, {"forget_acc": 9.7, "retain_acc": 96.1}, False, target=0.0) == []
    assert health_flags(class_forget, {"forget_acc": 48.9, "retain_acc": 95.5}, False) == []


def test_bench_flags_over_forgetting_lost_test_accuracy_and_leaves_retrain_alone():
    from obliviate.classify.bench import judged_flags

    original = {"forget_acc": 100.0, "retain_acc": 100.0, "test_acc": 97.0}
    retrained = {"forget_acc": 96.0, "retain_acc": 100.0, "test_acc": 96.5}
    assert judged_flags([], original, retrained, retrained) == []  # the retrained model itself
    rl_like = {"forget_acc": 73.0, "retain_acc": 99.5, "test_acc": 95.0}
    assert judged_flags([], original, rl_like, retrained) == ["over_forgot"]
    ga_like = {"forget_acc": 95.0, "retain_acc": 97.0, "test_acc": 85.0}
    assert judged_flags(["did_not_forget"], original, ga_like, retrained) == ["lost_test_accuracy"]
    assert judged_flags(["diverged", "rolled_back"], original, original, retrained) == \
        ["diverged", "rolled_back", "did_not_forget"]


def test_a_run_whose_every_step_was_rolled_back_says_so(digits_class3):
    _, split, original, _ = digits_class3
    with pytest.warns(obliviate.UnlearningWarning):
        result = obliviate.unlearn(original, split.forget, split.retain, method="ga", lr=1e6, seed=0)
    assert "rolled_back" in result.flags or "diverged" in result.flags
    assert "rolled back to step 0" in result.stop_reason or "diverged" in result.flags


def test_a_seed_that_is_not_an_integer_is_refused(digits_class3):
    _, split, original, _ = digits_class3
    with pytest.raises(ValueError, match="seed must be an integer, got 'abc'"):
        obliviate.unlearn(original, split.forget, split.retain, method="ga", seed="abc")
    with pytest.raises(ValueError, match="--retain on the command line"):
        obliviate.unlearn(original, split.forget, None, method="ft")


def test_a_language_model_run_without_retain_set_is_not_called_diverged(tiny):
    # GA needs no retain set: its retain score is undefined before and after, not NaN by divergence
    _, _, original, _, tokenizer, split = tiny
    result = obliviate.unlearn(original, split.forget, None, method="ga", tokenizer=tokenizer, epochs=1.0)
    assert "diverged" not in result.flags and result.after["forget_acc"] < result.before["forget_acc"]
