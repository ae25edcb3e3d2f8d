"""MUSE from a local copy in the layout of its repository (data/<corpus>/...), scored as
its reference code scores it."""

import json

import pytest

from obliviate.cli import main
from obliviate.lm.muse import cut_answer, knowmem_prompt, muse_copy


def write_muse(root, split):
    """data/bbc/ with MUSE's file names and fields, from a tofu-mini split (tiny)."""
    folder = root / "data" / "bbc"
    texts = [f"{qa.question} {qa.answer}" for qa in split.forget]
    files = {
        "verbmem/forget.json": [{"prompt": qa.question, "gt": qa.answer} for qa in split.forget[:4]],
        "knowmem/forget_qa.json": [{"question": qa.question, "answer": qa.answer} for qa in split.forget[:4]],
        "knowmem/forget_qa_icl.json": [{"question": qa.question, "answer": qa.answer} for qa in split.forget[4:6]],
        "knowmem/retain2_qa.json": [{"question": qa.question, "answer": qa.answer} for qa in split.retain_eval[:4]],
        "knowmem/retain2_qa_icl.json": [{"question": qa.question, "answer": qa.answer} for qa in split.retain_eval[4:6]],
        "privleak/forget.json": texts,
        "privleak/holdout.json": [f"{qa.question} {qa.answer}" for qa in split.holdout],
    }
    for name, rows in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(rows))


def test_knowmem_prompt_and_answer_cut_are_muses():
    # knowmem/get_rouge_qa.py: "Question: {q}\nAnswer: {a}\n\n" per few-shot example, then "Question: {q}\nAnswer: "
    assert knowmem_prompt("Who?", [{"question": "Q1", "answer": "A1"}]) == "Question: Q1\nAnswer: A1\n\nQuestion: Who?\nAnswer: "
    assert cut_answer("Basil\n\nQuestion: next") == "Basil" and cut_answer("Basil\nQuestion: x") == "Basil"


def test_muse_layout_is_read_and_a_missing_file_refused(tiny, tmp_path):
    *_, split = tiny
    write_muse(tmp_path, split)
    data = muse_copy("news", tmp_path)
    assert data.verbmem[0]["gt"] == split.forget[0].answer and len(data.privleak_holdout) == len(split.holdout)
    (tmp_path / "data" / "bbc" / "privleak" / "holdout.json").unlink()
    with pytest.raises(ValueError, match="missing MUSE file\\(s\\) privleak/holdout.json"):
        muse_copy("news", tmp_path)
    with pytest.raises(ValueError, match="unknown MUSE corpus 'poems'"):
        muse_copy("poems", tmp_path)


def test_obliviate_evaluate_on_local_muse_with_the_retain_model(tiny, tmp_path):
    _, _, original, retained, tokenizer, split = tiny
    write_muse(tmp_path, split)
    for name, model in (("full", original), ("retain", retained)):
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    assert main(["evaluate", "--model", str(tmp_path / "full"), "--retain-model", str(tmp_path / "retain"),
                 "--benchmark", "muse", "--forget", "news", "--data-dir", str(tmp_path),
                 "--json", str(tmp_path / "m.json")]) == 0
    full, retain = json.loads((tmp_path / "m.json").read_text())
    assert retain["role"] == "retain" and "privleak" in full["metrics"] and "privleak" not in retain["metrics"]
    for key in ("verbmem_f", "knowmem_f", "knowmem_r", "mia_mink_auc"):
        assert 0 <= full["metrics"][key] <= 1
    # the original was trained on the forget people, the retain model was not
    assert full["metrics"]["mia_mink_auc"] > retain["metrics"]["mia_mink_auc"]
