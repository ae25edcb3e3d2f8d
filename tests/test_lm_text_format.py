"""How examples become tokens: max_length and truncation that keeps the answer, chat
templates (OpenUnlearning's convention), BOS, chunked raw text, and TOFU's JSONL fields."""

import json
import warnings

import pytest

from obliviate.lm.corpus import QA
from obliviate.lm.text import (IGNORE, TextFormat, encode, encode_all, prompt_ids, read_data, resolve_format,
                               text_chunks, train_tokenizer, use_format)


class Words:
    """Whitespace tokens; 0 pads, 1 ends, 2 begins (added by the tokenizer itself when ``adds_bos``)."""

    pad_token_id, eos_token_id, bos_token_id = 0, 1, 2
    chat_template = None
    model_max_length = 1_000_000_000_000  # transformers' "unset"

    def __init__(self, adds_bos=False):
        self.ids, self.adds_bos = {}, adds_bos

    def __call__(self, text, add_special_tokens=False):
        ids = [self.ids.setdefault(w, len(self.ids) + 3) for w in text.split()]
        return {"input_ids": ([2] if add_special_tokens and self.adds_bos else []) + ids}


def test_a_long_prompt_is_cut_from_the_left_and_the_answer_kept():
    tok = Words()
    fmt = TextFormat(max_length=8)
    question = " ".join(f"w{i}" for i in range(200))  # 200+ prompt tokens: the old cut left no answer (NaN NLL)
    ex = encode(tok, question, "the answer", fmt)
    answer_ids = [tok.ids["the"], tok.ids["answer"], tok.eos_token_id]
    assert len(ex.input_ids) == 8 and ex.input_ids[-3:] == answer_ids
    assert ex.labels == [IGNORE] * 5 + answer_ids
    assert ex.input_ids[:5] == [tok.ids[w] for w in ("w196", "w197", "w198", "w199", "Answer:")]  # its end stays
    assert (ex.cut_prompt, ex.cut_answer) == (len(question.split()) + 2 - 5, 0)
    long_answer = encode(tok, "q", " ".join(["x"] * 20), fmt)
    assert len(long_answer.input_ids) == 8 and long_answer.labels.count(IGNORE) == 0 and long_answer.cut_answer == 13


def test_cut_examples_are_warned_about_by_count():
    tok = Words()
    use_format(tok, TextFormat(max_length=6))
    qas = [QA("q", "a"), QA(" ".join(["w"] * 10), "a"), QA("q", " ".join(["b"] * 9))]
    with pytest.warns(UserWarning, match=r"forget set: 2 of 3 examples are longer than max_length=6 tokens: "
                                         r"2 prompts cut from the left, 1 answers or texts cut at the end"):
        encode_all(tok, qas, "forget set")


def test_bos_leads_when_the_tokenizer_adds_it_and_survives_the_cut():
    tok = Words(adds_bos=True)
    fmt = resolve_format(tok, max_length=5)
    assert fmt.bos and not fmt.chat and fmt.max_length == 5
    ex = encode(tok, "a long question here", "yes", fmt)
    assert ex.input_ids[0] == 2 and ex.input_ids[-2:] == [tok.ids["yes"], 1] and len(ex.input_ids) == 5
    assert prompt_ids(tok, "q", fmt)[0] == 2
    assert not resolve_format(Words()).bos  # GPT-2-like: no BOS


def test_max_length_defaults_to_the_model_context_capped_and_refuses_more():
    class Config:
        max_position_embeddings = 131072

    class Model:
        config = Config()

    tok = Words()
    assert resolve_format(tok, Model()).max_length == 2048  # capped
    Config.max_position_embeddings = 512
    assert resolve_format(tok, Model()).max_length == 512
    with pytest.raises(ValueError, match="max_length 1024 exceeds the model's context of 512 tokens"):
        resolve_format(tok, Model(), max_length=1024)
    with pytest.raises(ValueError, match="chat_template must be 'auto' or 'none'"):
        resolve_format(tok, chat_template="yes")


CHAT = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def _chat_tokenizer():
    corpus = ["<|system|> <|user|> <|assistant|> <|end|> You are a helpful assistant. Who wrote it? Basil did."] * 20
    tok = train_tokenizer(corpus, vocab_size=300)
    tok.add_special_tokens({"bos_token": "<bos>", "additional_special_tokens": ["<|system|>", "<|user|>",
                                                                                "<|assistant|>", "<|end|>"]})
    tok.chat_template = CHAT
    return tok


def test_a_chat_template_is_used_with_openunlearnings_system_prompt_and_labels_the_reply():
    tok = _chat_tokenizer()
    fmt = resolve_format(tok)
    assert fmt.chat and fmt.system_prompt == "You are a helpful assistant."
    ex = encode(tok, "Who wrote it?", "Basil did.", fmt)
    assert tok.decode(ex.input_ids) == ("<bos><|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWho wrote "
                                        "it?<|end|>\n<|assistant|>\nBasil did.<|end|>\n<eos>")
    # labels: the reply as the template renders it, then EOS (appended when the template has none, as OpenUnlearning)
    assert tok.decode([t for t in ex.labels if t != IGNORE]) == "Basil did.<|end|>\n<eos>"
    asked = prompt_ids(tok, "Who wrote it?", fmt)
    assert tok.decode(asked).endswith("<|assistant|>\n") and ex.input_ids[:len(asked)] == asked
    plain = encode(tok, "Who wrote it?", "Basil did.", resolve_format(tok, chat_template="none"))
    assert tok.decode(plain.input_ids).startswith("Question: Who wrote it?\nAnswer:")
    cut = encode(tok, "Who wrote it?", "Basil did.", TextFormat(max_length=8, chat=True))
    assert cut.input_ids[0] == tok.bos_token_id and len(cut.input_ids) == 8  # BOS kept when the prompt is cut


def test_raw_text_is_split_into_chunks_for_training_and_nothing_is_dropped():
    tok = Words()
    use_format(tok, TextFormat(max_length=4))
    text = " ".join(f"t{i}" for i in range(10))
    chunks = text_chunks(tok, text)
    assert [len(c.input_ids) for c in chunks] == [4, 4, 2]
    assert sum((c.input_ids for c in chunks), []) == tok(text)["input_ids"]
    assert all(c.labels == c.input_ids for c in chunks)


def _jsonl(tmp_path, rows):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_tofu_field_names_are_read_and_unknown_fields_refused(tmp_path):
    # a row of TOFU's forget01_perturbed.json
    row = {"question": "Who is Basil?", "answer": "A writer.", "paraphrased_answer": "He writes.",
           "paraphrased_question": "Who's Basil?", "perturbed_answer": ["A baker.", "A judge."]}
    (qa,) = read_data(_jsonl(tmp_path, [row]))
    assert (qa.paraphrase, qa.perturbed) == ("He writes.", ("A baker.", "A judge."))
    with pytest.raises(ValueError, match=r"data.jsonl:1: unknown field\(s\) 'answers'; known fields: question, "
                                         r"answer, text, paraphrase, paraphrased_answer, perturbed, perturbed_answer"):
        read_data(_jsonl(tmp_path, [{"question": "q", "answers": "a"}]))
    with pytest.raises(ValueError, match="both 'perturbed_answer' and another name for 'perturbed'"):
        read_data(_jsonl(tmp_path, [{"question": "q", "answer": "a", "perturbed": ["b"], "perturbed_answer": ["c"]}]))


def test_a_missing_field_that_disables_a_metric_is_warned_about_by_name(tmp_path):
    path = _jsonl(tmp_path, [{"question": "q", "answer": "a", "perturbed_answer": ["b"]},
                             {"question": "r", "answer": "c"}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_data(path, warn_missing=True)
    messages = [str(w.message) for w in caught]
    assert any("2 of 2 rows have no paraphrase / paraphrased_answer: the truth ratio against the paraphrase" in m
               for m in messages)
    assert any("1 of 2 rows have no perturbed / perturbed_answer: the truth ratio and forget quality" in m
               for m in messages)
