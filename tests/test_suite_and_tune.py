"""obliviate eval (N unlearned vs N retrained models) and obliviate tune (validation only)."""

import dataclasses
import json

import pytest
from torch.utils.data import Dataset

from obliviate.classify.tasks import ClassifierTask


def test_the_original_is_told_apart_and_retraining_is_not(eval_rows):
    same, nothing = eval_rows["retrain"]["metrics"], eval_rows["ssd"]["metrics"]
    assert nothing["forget_quality"] == 0.0 and nothing["challenge_score"] == 0.0  # every example separable
    assert nothing["ulira_auc"] > 95
    assert same["forget_quality"] > 0.2 and same["ulira_auc"] < 80
    assert nothing["forget_acc"] > 90 and same["forget_acc"] == 0.0
    assert same["tow"] > 95 and nothing["tow"] < 15
    # residual knowledge: the untouched original recovers at once, retrained models slowly
    assert nothing["relearn_steps"] <= 2 and nothing["relearn_steps_retrain"] >= 5
    assert nothing["probe_acc"] > nothing["probe_acc_retrain"] + 10


def test_eval_table_lists_every_metric(eval_rows):
    from obliviate.suite import table_cells

    header, body = table_cells(list(eval_rows.values()))
    for column in ("UA", "ToW", "F", "score", "U-LiRA AUC", "U-LiRA acc", "probe", "k-NN", "relearn steps"):
        assert column in header
    assert body[1][0] == "ssd" and "(" in body[1][header.index("probe")]


@pytest.mark.parametrize("args,message", [
    (("digits-canvas", "object:3", ["esd"], "full"), "obliviate eval does not run on the diffusion track"),
    (("digits", "class:3", ["ssd"], "everything"), "unknown suite 'everything'"),
    (("digits", "class:3", ["sdd"], "full"), "did you mean 'ssd'"),
])
def test_eval_plan_refuses_bad_input(args, message):
    from obliviate.suite import plan_eval

    with pytest.raises(ValueError, match=message):
        plan_eval(*args)


class Exploding(Dataset):
    def __len__(self):
        raise AssertionError("the test split was read")

    def __getitem__(self, i):
        raise AssertionError("the test split was read")


def test_tuning_never_touches_test_data(monkeypatch, tmp_path):
    from obliviate.cli import main

    split = ClassifierTask.split

    def without_test(self, spec):
        return dataclasses.replace(split(self, spec), test=Exploding(), forget_test=Exploding())

    monkeypatch.setattr(ClassifierTask, "split", without_test)
    out = tmp_path / "hp.json"
    assert main(["--home", str(tmp_path / "home"), "tune", "--task", "digits", "--forget", "class:3",
                 "--method", "ssd", "--budget", "3", "--out", str(out)]) == 0
    content = json.loads(out.read_text())
    assert set(content["ssd"]) == {"alpha", "lam"}
    record = content["_tuned"]["ssd"]
    assert record["measured_on"].startswith("validation split") and len(record["trial_gaps"]) == 3
    assert record["best_gap"] <= record["default_gap"]  # the defaults are the first trial
    # the file feeds bench directly
    from obliviate.cli import _hparams

    assert _hparams(str(out), []) == ({"ssd": content["ssd"]}, {"ssd": record})
    # the provenance travels with the rows into the store: a report from the store shows it
    monkeypatch.undo()
    home = str(tmp_path / "home")
    assert main(["--home", home, "bench", "--task", "digits", "--forget", "class:3", "--methods", "ssd",
                 "--seeds", "0", "--hparams", str(out), "--no-progress"]) == 0
    report = tmp_path / "report.html"
    assert main(["--home", home, "report", "--task", "digits", "--forget", "class:3", "--out", str(report)]) == 0
    assert "ssd: hyperparameters tuned on the validation split" in report.read_text()
    # a value then set by hand is reported as such
    hp, tuned = _hparams(str(out), ["ssd.alpha=5"])
    assert hp["ssd"]["alpha"] == "5" and tuned["ssd"]["overridden"] == ["alpha"]


def test_tune_refuses_bad_input(tmp_path, capsys):
    from obliviate.cli import main

    for argv, message in ((["--method", "scrubb"], "unknown method 'scrubb'"),
                          (["--method", "retrain"], "retrain is the reference"),
                          (["--method", "ssd", "--budget", "0"], "--budget must be at least 1")):
        code = main(["--home", str(tmp_path / "home"), "tune", "--task", "digits", "--forget", "class:3",
                     "--out", str(tmp_path / "hp.json"), *argv])
        assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "hp.json").exists()


def test_cli_eval_prints_the_table_and_writes_rows(tmp_path, capsys):
    from obliviate.cli import main

    out = tmp_path / "eval.json"
    assert main(["--home", str(tmp_path / "home"), "eval", "--task", "digits", "--forget", "class:3",
                 "--methods", "ssd", "--suite", "challenge", "--models", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "suite challenge" in text and "N = 4" in text and "ssd" in text
    rows = json.loads(out.read_text())
    assert [r["method"] for r in rows] == ["ssd"] and 0 <= rows[0]["metrics"]["forget_quality"] <= 1
    assert "ulira_auc" not in rows[0]["metrics"]  # the challenge suite only
    assert main(["eval", "--task", "digits", "--forget", "class:3", "--methods", "ssd", "--models", "2"]) == 2
    assert "at least 4" in capsys.readouterr().err
