"""obliviate eval on the language-model track: the challenge forget quality and U-LiRA
on each forget answer's log-likelihood, over N retain-only models per side."""

import pytest

from obliviate import bench
from obliviate.report import build_report
from obliviate.suite import EvalPlan, plan_eval, run_eval


@pytest.fixture(scope="module")
def lm_rows(tiny):
    """retrain (a second set of retain-only models: the floor) against ga with a
    learning rate too small to change anything (the original in disguise) and npo."""
    task, store, *_ = tiny
    plan = EvalPlan(task, task.split("forget10"), ["retrain", "ga", "npo"], "full", n_models=4,
                    hparams={"ga": {"lr": 1e-9, "epochs": 1.0}, "npo": {"epochs": 5.0}}, forget="forget10")
    return {r["method"]: r for r in run_eval(plan, store)}


def test_retraining_is_indistinguishable_and_a_no_op_is_caught(lm_rows):
    retrain, noop = lm_rows["retrain"]["metrics"], lm_rows["ga"]["metrics"]
    assert noop["forget_quality"] < 0.1  # every forget answer is far likelier than under retraining
    assert retrain["forget_quality"] > noop["forget_quality"] + 0.15  # N = 4 caps it well below 1 (measured 0.21)
    assert noop["ulira_auc"] > 95
    assert retrain["ulira_auc"] < 75  # measured 57
    assert "did_not_forget" in lm_rows["ga"]["flags"]
    assert noop["forget_prob"] > 80 and retrain["forget_prob"] < 50  # percent
    assert noop["relearn_prob"] > noop["relearn_prob_retrain"]


def test_npo_moves_towards_the_retain_only_models(lm_rows):
    npo, noop = lm_rows["npo"]["metrics"], lm_rows["ga"]["metrics"]
    assert npo["forget_prob"] < noop["forget_prob"] - 20
    assert npo["forget_quality"] >= noop["forget_quality"]
    assert npo["retain_prob"] > 50


def test_rows_carry_per_example_confidences_and_no_classifier_only_score(lm_rows):
    row = lm_rows["npo"]
    n = len(row["reference_confidence"])
    assert n == len(row["forget_confidence"]) == len(row["original_confidence"]) > 0
    assert "challenge_score" not in row["metrics"]  # the final score is defined from classifier accuracies
    assert "log-likelihood" in row["confidence_kind"]
    header, body = bench.table_cells(list(lm_rows.values()))
    assert {"F", "U-LiRA AUC", "forget prob", "retain prob", "relearn prob"} <= set(header)
    assert "score" not in header and "UA" not in header
    text = build_report(list(lm_rows.values()))
    for plot_id in ("tradeoff", "challenge", "confidence"):
        assert f"id='{plot_id}'" in text
    assert "log-likelihood" in text


def test_lm_eval_requests_are_validated():
    with pytest.raises(ValueError, match="unknown forget spec 'forget99' for tofu-mini"):
        plan_eval("tofu-mini", "forget99", ["npo"], "privacy")
    with pytest.raises(ValueError, match="unknown method 'npoo' for track 'lm'"):
        plan_eval("tofu-mini", "forget05", ["npoo"], "privacy")
    plan = plan_eval("tofu-mini", "forget05", ["retrain", "npo"], "privacy", n_models=4)
    assert plan.forget == "forget05" and plan.n_models == 4


def test_cli_eval_on_a_language_model_task(tiny, lm_rows, monkeypatch, capsys, tmp_path):
    """`obliviate eval --task tofu-mini` end to end (the tiny task stands in for the
    built-in one; its retain-only models are cached by the fixture above)."""
    import json

    from obliviate.cli import main
    from obliviate.lm import task as lm_task

    task, store, *_ = tiny
    monkeypatch.setitem(lm_task.LM_TASKS, "tofu-mini", task)
    out = tmp_path / "rows.json"
    assert main(["--home", str(store.root), "eval", "--task", "tofu-mini", "--forget", "forget10", "--methods",
                 "retrain,npo", "--suite", "privacy", "--models", "4", "--set", "npo.epochs=5",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean token log-likelihood" in printed and "U-LiRA AUC" in printed
    rows = {r["method"]: r for r in json.loads(out.read_text())}
    assert rows["retrain"]["metrics"]["forget_quality"] == lm_rows["retrain"]["metrics"]["forget_quality"]
    assert set(rows["npo"]["metrics"]) == {"seconds", "forget_quality", "ulira_auc", "ulira_acc", "ulira_tpr_1", "ulira_tpr_01", "ulira_worst10",
                                             "klom_mean", "klom_p95", "threshold_tpr_1", "threshold_tpr_01"}


def test_lm_bench_flags_are_judged_against_the_retain_only_model():
    from obliviate.lm.bench import judged_flags

    original = {"forget_prob": 0.998, "retain_prob": 0.99, "model_utility": 0.76}
    retained = {"forget_prob": 0.08, "retain_prob": 0.99, "model_utility": 0.76}
    # forget probability within a point of the original's, away from the retain-only model's 8%
    stayed = {"forget_prob": 0.995, "retain_prob": 0.99, "model_utility": 0.76}
    assert judged_flags([], original, stayed, retained) == ["did_not_forget"]
    # at the retain-only model's level, utility 0.06 lower: forgot, but lost utility
    costly = {"forget_prob": 0.07, "retain_prob": 0.95, "model_utility": 0.70}
    assert judged_flags([], original, costly, retained) == ["lost_utility"]
    # retain answers' probability down 30 points: collapsed; the run's own divergence is kept
    assert judged_flags([], original, {**costly, "retain_prob": 0.6, "model_utility": 0.76}, retained) == ["collapsed"]
    assert judged_flags(["diverged"], original, costly, retained) == ["diverged", "lost_utility"]
    # nothing to forget (the original is already where the retain-only model is): no flag for staying
    assert judged_flags([], retained, retained, retained) == []
