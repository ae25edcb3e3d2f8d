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


def write_muse_raw(root, split):
    """data/bbc/raw/ as MUSE publishes it: forget.txt (the articles, one text), forget.json
    (a JSON array of the same articles), retain1.txt."""
    raw = root / "data" / "bbc" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    articles = [f"{qa.question} {qa.answer}" for qa in split.forget]
    (raw / "forget.txt").write_text("\n\n".join(articles))
    (raw / "forget.json").write_text(json.dumps(articles))
    (raw / "retain1.txt").write_text("\n\n".join(f"{qa.question} {qa.answer}" for qa in split.retain if qa.question))
    return raw, articles


def test_muse_raw_files_are_read_as_raw_text_and_chunked_without_dropping_a_token(tiny, tmp_path):
    from obliviate.lm.text import TextFormat, format_of, read_data, use_format
    from obliviate.lm.unlearn import training_items

    *_, tokenizer, split = tiny
    raw, articles = write_muse_raw(tmp_path, split)
    (whole,) = read_data(raw / "forget.txt")  # the .txt is one text: MUSE tokenises the whole file
    assert whole.question == "" and whole.answer == (raw / "forget.txt").read_text()
    per_article = read_data(raw / "forget.json")  # the .json is a JSON array of texts
    assert [qa.answer for qa in per_article] == articles and all(qa.question == "" for qa in per_article)

    previous = format_of(tokenizer)
    use_format(tokenizer, TextFormat(max_length=16))
    try:
        items, questions = training_items(tokenizer, [whole], "forget")
    finally:
        use_format(tokenizer, previous)
    ids = tokenizer(whole.answer, add_special_tokens=False)["input_ids"]
    assert len(items) == -(-len(ids) // 16) and all(len(i["example"].input_ids) <= 16 for i in items)
    assert sum((i["example"].input_ids for i in items), []) == ids  # consecutive chunks, nothing dropped
    assert questions == [""] * len(items)

    (raw / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="empty.txt holds no text"):
        read_data(raw / "empty.txt")
    (raw / "bad.json").write_text(json.dumps(["a text", 3]))
    with pytest.raises(ValueError, match=r"bad.json\[1\]: expected an object or a text, got int"):
        read_data(raw / "bad.json")


def test_obliviate_unlearn_trains_on_muse_raw_text_files(tiny, tmp_path, capsys):
    _, _, original, _, tokenizer, split = tiny
    raw, _ = write_muse_raw(tmp_path, split)
    original.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    assert main(["unlearn", "--model", str(tmp_path / "model"), "--forget", str(raw / "forget.txt"),
                 "--retain", str(raw / "retain1.txt"), "--method", "npo", "--set", "epochs=10",
                 "--out", str(tmp_path / "out")]) == 0
    assert "forget answer probability" in capsys.readouterr().out
    from obliviate.lm.evaluate import score
    from obliviate.lm.models import load_pretrained
    from obliviate.lm.text import read_data

    articles = read_data(raw / "forget.json")
    unlearned, tok = load_pretrained(tmp_path / "out")
    before, after = score(original, tokenizer, articles).avg_nll, score(unlearned, tok, articles).avg_nll
    assert sum(after) / len(after) > sum(before) / len(before) + 0.25  # the forget texts became less likely (6.01 -> 6.56 nats/token)
