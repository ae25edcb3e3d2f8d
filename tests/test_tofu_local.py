"""TOFU from a local copy in its published layout (JSON lines, TOFU's file and field
names), `obliviate evaluate` on it, and retain-model logs in OpenUnlearning's layout."""

import json

import numpy as np
import pytest

from obliviate.cli import main
from obliviate.lm.evaluate import evaluate_lm, read_retain_logs, retain_logs
from obliviate.lm.tofu import tofu_split


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))  # JSON lines, as locuslab/TOFU publishes them


def write_tofu(root, split):
    """TOFU's files for forget10 from a tofu-mini split (tiny, same layout and fields)."""
    root.mkdir(parents=True, exist_ok=True)
    qa_rows = lambda qas: [{"question": q.question, "answer": q.answer} for q in qas]  # noqa: E731
    perturbed = lambda qas: [{"question": q.question, "answer": q.answer, "paraphrased_answer": q.paraphrase,  # noqa: E731
                              "paraphrased_question": q.question, "perturbed_answer": list(q.perturbed)} for q in qas]
    options = lambda qas: [{"question": q.question, "answer": q.answer, "perturbed_answer": list(q.perturbed)}  # noqa: E731
                           for q in qas]
    _write(root / "forget10.json", qa_rows(split.forget))
    _write(root / "forget10_perturbed.json", perturbed(split.forget))
    _write(root / "retain90.json", qa_rows([q for q in split.retain if q.question]))
    _write(root / "retain_perturbed.json", perturbed(split.retain_eval))
    _write(root / "real_authors_perturbed.json", options(split.real_authors))
    _write(root / "world_facts_perturbed.json", options(split.general))
    _write(root / "holdout10.json", qa_rows(split.holdout))


def test_tofu_files_give_the_split_with_paraphrases_and_perturbed_answers(tiny, tmp_path):
    *_, split = tiny
    write_tofu(tmp_path / "TOFU", split)
    read = tofu_split("forget10", tmp_path)  # the data dir holds TOFU/
    assert [q.question for q in read.forget] == [q.question for q in split.forget]
    assert read.forget[0].paraphrase == split.forget[0].paraphrase and read.forget[0].perturbed == split.forget[0].perturbed
    assert len(read.real_authors) == len(split.real_authors) and read.general[0].perturbed == split.general[0].perturbed
    (tmp_path / "TOFU" / "holdout10.json").unlink()
    with pytest.raises(ValueError, match="missing TOFU file\\(s\\) holdout10.json"):
        tofu_split("forget10", tmp_path)
    with pytest.raises(ValueError, match="unknown TOFU split 'forget50'"):
        tofu_split("forget50", tmp_path)


def test_retain_logs_round_trip_in_openunlearnings_layout(tiny):
    *_, retained, tokenizer, split = tiny
    scores = evaluate_lm(retained, tokenizer, split, truth_ratio_against="answer", leak_samples=2, leak_k=1)
    logs = retain_logs(scores)
    # OpenUnlearning's ks_test reads logs["forget_truth_ratio"]["value_by_index"][i]["score"], privleak logs["mia_min_k"]
    assert [v["score"] for v in logs["forget_truth_ratio"]["value_by_index"].values()] == \
        pytest.approx(list(scores["_forget_truth_ratios"]))
    assert logs["mia_min_k"]["agg_value"] == scores["mia_mink_auc"]


def test_obliviate_evaluate_on_local_tofu_with_a_retain_model_or_its_logs(tiny, tmp_path, capsys):
    _, _, original, retained, tokenizer, split = tiny
    write_tofu(tmp_path / "TOFU", split)
    for name, model in (("full", original), ("retain", retained)):
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    base = ["evaluate", "--benchmark", "tofu", "--forget", "forget10", "--data-dir", str(tmp_path)]
    assert main(base + ["--model", str(tmp_path / "retain"), "--save-logs", str(tmp_path / "logs.json")]) == 0
    assert main(base + ["--model", str(tmp_path / "full"), "--retain-model", str(tmp_path / "retain"),
                        "--json", str(tmp_path / "with_model.json")]) == 0
    assert main(base + ["--model", str(tmp_path / "full"), "--retain-logs", str(tmp_path / "logs.json"),
                        "--json", str(tmp_path / "with_logs.json")]) == 0
    out = capsys.readouterr().out
    assert "forget_quality" in out and "model_utility" in out and "text format:" in out
    with_model = json.loads((tmp_path / "with_model.json").read_text())
    with_logs = json.loads((tmp_path / "with_logs.json").read_text())
    assert [r["role"] for r in with_model] == ["evaluated", "retain"]
    for key in ("forget_quality", "privleak", "mia_reference_auc", "model_utility", "forget_truth_ratio"):
        assert with_logs[0]["metrics"][key] == pytest.approx(with_model[0]["metrics"][key])
    assert 0 <= with_model[0]["metrics"]["forget_quality"] <= 1
    logs = read_retain_logs(tmp_path / "logs.json")
    assert isinstance(logs["_forget_truth_ratios"], np.ndarray) and len(logs["_forget_truth_ratios"]) == len(split.forget)


def test_evaluate_refuses_bad_input_in_one_line(tiny, tmp_path, capsys):
    _, _, original, _, tokenizer, split = tiny
    original.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    write_tofu(tmp_path / "TOFU", split)
    (tmp_path / "bad.json").write_text(json.dumps({"forget_truth_ratio": {}}))
    cases = [("trec", [], "unknown benchmark 'trec'"),
             ("tofu", ["--retain-logs", str(tmp_path / "bad.json")], "is not a retain-model log"),
             ("tofu", ["--retain-logs", str(tmp_path / "x.json"), "--retain-model", str(tmp_path / "m")], "not both"),
             ("tofu", ["--set", "lr=1"], "--set lr does not apply here; evaluate takes torch_dtype"),
             ("wmdp", ["--set", "max_length=512"], "--set max_length does not apply here")]
    for benchmark, extra, message in cases:
        assert main(["evaluate", "--model", str(tmp_path / "m"), "--benchmark", benchmark, "--forget", "forget10",
                     "--data-dir", str(tmp_path), *extra]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("obliviate:")]
        assert len(errors) == 1 and message in errors[0]  # (the other stderr lines: saving the model above)
