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
    # the low-FPR regime: the untouched original is caught at 1% and 0.1% FPR, retrained models are not
    assert nothing["ulira_tpr_1"] > 90 and nothing["ulira_tpr_01"] > 80 and same["ulira_tpr_1"] < 30
    assert nothing["ulira_worst10"] >= same["ulira_worst10"]
    # the challenge's per-example threshold attacks at FPR < 1%: N = 4 retrained models admit no false positive
    assert nothing["threshold_tpr_1"] > 90 and same["threshold_tpr_1"] < 60
    assert nothing["threshold_tpr_01"] == nothing["threshold_tpr_1"]
    # features: the no-op keeps the original's representation of the forget set (CKA 1), retrained models do not
    assert nothing["cka_original"] == pytest.approx(1.0) and nothing["cka_original_retrain"] < 0.95
    assert nothing["cka_retrain"] < 0.95 and nothing["cka_retrain"] < nothing["cka_retrain_retrain"] + 0.1
    # the onion effect's "before": a model that changed nothing exposes its retain set as much as before
    assert nothing["retain_exposure"] == pytest.approx(nothing["retain_exposure_original"])


def test_eval_table_lists_every_metric(eval_rows):
    from obliviate.suite import table_cells

    header, body = table_cells(list(eval_rows.values()))
    for column in ("UA", "ToW", "F", "score", "U-LiRA AUC", "U-LiRA acc", "probe", "k-NN", "relearn steps",
                   "TPR@1%FPR", "TPR@0.1%FPR", "worst 10% acc", "CKA orig", "CKA retr", "retain exp.", "(before)",
                   "UA 95% CI", "p(UA=retrain)", "thr. TPR@1%", "KLoM"):
        assert column in header
    assert body[1][0] == "ssd" and "(" in body[1][header.index("probe")]


@pytest.mark.parametrize("args,message", [
    (("digits-canvas", "object:3", ["esd"], "full"), "obliviate eval does not run on the diffusion track"),
    (("digits", "class:3", ["ssd"], "everything"), "unknown suite 'everything'"),
    (("digits", "class:3", ["sdd"], "full"), "did you mean 'ssd'"),
    (("digits", "class:3", ["ssd"], "full", 4, None, None, 5), "--originals must be between 1 and --models \\(4\\)"),
])
def test_eval_plan_refuses_bad_input(args, message):
    from obliviate.suite import plan_eval

    with pytest.raises(ValueError, match=message):
        plan_eval(*args)


def test_each_unlearned_model_starts_from_original_seed_mod_k():
    from obliviate.suite import _unlearn_from

    class Models:
        def unlearn(self, original, method, seed):
            return (original, method, seed)

    started = [_unlearn_from(Models(), ["o0", "o1", "o2"], "ga", seed)[0] for seed in range(7)]
    assert started == ["o0", "o1", "o2", "o0", "o1", "o2", "o0"]


def test_linear_cka_centres_and_is_invariant_to_rotation_and_scale():
    import numpy as np

    from obliviate.metrics import linear_cka

    # 1-D features: linear CKA is the squared Pearson correlation; (1, 2, 3) against (1, 4, 9):
    # centred (−1, 0, 1) and (−11/3, −2/3, 13/3): r² = 8² / (2 · 98/3) = 0.979592 (uncentred it would be 0.9446)
    assert linear_cka(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [4.0], [9.0]])) == pytest.approx(96 / 98)
    x = np.random.default_rng(0).normal(size=(50, 6))
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same >= 2 examples"):
        linear_cka(x, x[:10])


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
    assert record["sensitivity"]["top_trials"] == 3 and set(record["sensitivity"]["top_ranges"]) == {"alpha", "lam"}
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


def test_every_classifier_method_but_retrain_has_a_search_space():
    import obliviate
    from obliviate.tune import search_space

    for info in obliviate.methods("classifier"):
        if info["name"] != "retrain":
            assert search_space(info["name"], "classifier"), info["name"]


def test_sensitivity_reports_the_spread_of_the_top_trials():
    from obliviate.tune import sensitivity

    trials = [({"lr": 0.1}, 5.0), ({"lr": 0.01}, 1.0), ({"lr": 0.02}, 1.5), ({"lr": 0.05}, 2.0),
              ({"lr": 1.0}, float("inf")), ({"lr": 0.3}, 9.0)]
    out = sensitivity(trials)
    # 5 finished trials: the best fifth rounds up to 1, at least 3: gaps 1.0, 1.5, 2.0
    assert out["top_trials"] == 3 and out["top_gaps"] == [1.0, 1.5, 2.0]
    assert out["top_gap_spread"] == 1.0 and out["top_ranges"] == {"lr": [0.01, 0.05]}


@pytest.mark.parametrize("method", ["task_vector", "negmerge", "scar", "opc"])
def test_tune_runs_the_second_ring_methods(method, tmp_path):
    from obliviate.core.store import Store
    from obliviate.tune import tune

    content = tune("digits", "class:3", method, 2, store=Store(tmp_path))
    record = content["_tuned"][method]
    assert len(record["trial_gaps"]) == 2 and record["best_gap"] <= record["default_gap"]
    assert set(content[method]) == set(record["searched"])
