"""LM metrics on hand-built cases with known answers."""

import math

import numpy as np
import pytest

from obliviate.lm import metrics as M


def test_answer_probability_and_truth_ratio():
    assert M.answer_probability([0.0, math.log(2)]) == pytest.approx([1.0, 0.5])
    # paraphrase ℓ̄ = 1, perturbed ℓ̄ = 2 and 4 (mean 3): R = exp(1 - 3)
    r = M.truth_ratio([1.0], [[2.0, 4.0]])
    assert r == pytest.approx([math.exp(-2)])
    assert M.truth_ratio_score([0.5, 2.0], on_forget_set=True) == pytest.approx(0.5)
    assert M.truth_ratio_score([0.25, 2.0], on_forget_set=False) == pytest.approx((0.75 + 0) / 2)


def test_rouge_l_recall():
    assert M.rouge_l_recall("Esk is the capital", "The capital of Norland is Esk.") == pytest.approx(2 / 6)
    assert M.rouge_l_recall("the capital of norland is esk", "The capital of Norland is Esk.") == 1.0
    assert M.rouge_l_recall("", "The capital") == 0.0


def test_identical_models_give_forget_quality_one_and_privleak_zero():
    ratios = np.linspace(0.2, 1.5, 40)
    assert M.forget_quality(ratios, ratios) == pytest.approx(1.0)
    assert M.privleak(0.3, 0.3) == 0.0


def test_forget_quality_falls_as_distributions_separate():
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.1, 200)
    qualities = [M.forget_quality(base + shift, base) for shift in (0.0, 0.02, 0.05, 0.2)]
    assert qualities[0] == 1.0 and qualities == sorted(qualities, reverse=True)
    assert qualities[-1] < 1e-20


def test_harmonic_mean():
    assert M.harmonic_mean([0.5, 0.5]) == 0.5
    assert M.harmonic_mean([1.0, 0.5]) == pytest.approx(2 / 3)
    assert M.harmonic_mean([1.0, 0.0]) == 0.0


def test_mia_auc_and_attack_scores():
    assert M.mia_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert M.mia_auc([0, 1], [0, 1]) == 0.5
    assert M.loss_score([1.0, 2.0]) == pytest.approx([-1.0, -2.0])
    z = M.zlib_score([2.0], ["aaaa"])
    assert z[0] == pytest.approx(-2.0 / len(__import__("zlib").compress(b"aaaa")))
    assert M.min_k_score([-1, -5, -2, -8, -3], k=0.4) == pytest.approx((-8 - 5) / 2)
    assert M.min_k_plus_plus_score([-1.0, -3.0], [-1.0, -1.0], [1.0, 2.0], k=0.5) == pytest.approx(-1.0)


def test_min_k_counts_tokens_as_muse_and_open_unlearning():
    # 6 tokens at k = 40%: floor(2.4) = 2 lowest (-8, -5); rounding up would take -4 too
    assert M.min_k_score([-1, -5, -2, -8, -3, -4], k=0.4) == pytest.approx(-6.5)
    # fewer tokens than 1/k: still the single lowest (max(1, floor(0.8)) = 1)
    assert M.min_k_score([-1, -3], k=0.4) == pytest.approx(-3.0)


def test_min_k_plus_plus_floors_the_variance_at_1e_minus_6():
    # a near-deterministic position (σ = 1e-4): σ² clamped to 1e-6, z = 0.5 / 1e-3 = 500,
    # not 0.5 / 1e-4 = 5000
    assert M.min_k_plus_plus_score([-1.0], [-1.5], [1e-4], k=0.4) == pytest.approx(500.0)
    assert M.min_k_plus_plus_score([-1.0], [-1.5], [0.5], k=0.4) == pytest.approx(1.0)  # above the floor: unchanged
    assert M.reference_score([2.0], [3.0]) == pytest.approx([1.0])


def test_privleak_follows_muse():
    assert M.privleak(0.0, 0.5) == -100.0  # still remembers: held-out ranked above nothing
    assert M.privleak(0.6, 0.5) == pytest.approx(20.0)


def test_exact_memorization_and_extraction_strength():
    assert M.exact_memorization([1, 2, 9, 4], [1, 2, 3, 4]) == 0.75
    assert M.extraction_strength([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0  # k* = 0
    assert M.extraction_strength([9, 2, 3, 4], [1, 2, 3, 4]) == 0.75  # k* = 1
    # the last token wrong: OpenUnlearning's loop stops at k = |y| − 1 (1/4); the paper's k* = |y| gives 0
    assert M.extraction_strength([1, 2, 3, 9], [1, 2, 3, 4]) == 0.25
    assert M.extraction_strength([1, 2, 3, 9], [1, 2, 3, 4], convention="paper") == 0.0
    assert M.extraction_strength([9, 2, 3, 4], [1, 2, 3, 4], convention="paper") == 0.75
    with pytest.raises(ValueError, match="convention"):
        M.extraction_strength([1], [1], convention="carlini")


def test_leak_at_k():
    assert M.leak_at_k(10, 0, 3) == 0.0
    assert M.leak_at_k(10, 10, 1) == 1.0
    assert M.leak_at_k(4, 1, 1) == pytest.approx(0.25)
    assert M.leak_at_k(4, 1, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))
    assert M.leak_at_k(5, 4, 2) == 1.0
    with pytest.raises(ValueError):
        M.leak_at_k(3, 4, 1)


def test_leak_judge_normalises():
    assert M.leaks("He plays the BANJO!", "banjo")
    assert M.leaks("born in wexford   hollow", "Wexford Hollow")
    assert not M.leaks("He plays the cello.", "banjo")
    assert not M.leaks("anything", "")


def test_probability_over_options_as_tofu_scores_world_facts():
    # p_correct 0.2, two wrong options at 0.1 each: 0.2 / 0.4 = 0.5 (unnormalised: 0.2)
    out = M.option_probability([-np.log(0.2)], [[-np.log(0.1), -np.log(0.1)]])
    assert out[0] == pytest.approx(0.5)
    assert M.answer_probability([-np.log(0.2)])[0] == pytest.approx(0.2)


def test_generation_fits_the_models_context():
    from types import SimpleNamespace

    from obliviate.lm.evaluate import ROUGE_MAX_NEW_TOKENS, _generation_budget

    small = SimpleNamespace(config=SimpleNamespace(n_positions=96))  # GPT-2 style
    assert _generation_budget(small, 20, ROUGE_MAX_NEW_TOKENS) == 76
    large = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=4096))  # Llama style
    assert _generation_budget(large, 20, ROUGE_MAX_NEW_TOKENS) == 200
    with pytest.raises(ValueError, match="leaves no room to generate"):
        _generation_budget(small, 96, 200)


# -- the positions and texts the metrics read from a model -----------------------------

class WordTokenizer:
    """Whitespace tokens with fixed ids; id 0 pads, id 1 ends a sequence."""

    pad_token_id, eos_token_id = 0, 1
    padding_side = "right"

    def __init__(self, words):
        self.ids = {w: i + 2 for i, w in enumerate(words)}
        self.words = {i: w for w, i in self.ids.items()}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.ids[w] for w in text.split()]}

    def decode(self, ids, skip_special_tokens=True):
        return " " + " ".join(self.words[i] for i in ids if i > 1)  # the space a byte-level BPE keeps


class Bigram:
    """A model whose next-token distribution depends on the current token only."""

    def __init__(self, table):
        import torch

        self.table = torch.tensor(table).log()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def parameters(self):
        return iter([self.anchor])

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.table[input_ids])


def _bigram_case():
    from obliviate.lm.corpus import QA

    # tokens: 0 pad, 1 eos, 2 "Question:", 3 "q", 4 "Answer:", 5 "a", 6 "b"
    tok = WordTokenizer(["Question:", "q", "Answer:", "a", "b"])
    table = [[1 / 7] * 7 for _ in range(7)]
    table[4] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.8, 0.2]  # after "Answer:": a 0.8
    table[5] = [0.0, 0.2, 0.0, 0.0, 0.0, 0.4, 0.4]  # after "a": b 0.4, EOS 0.2
    table[6] = [0.0, 0.1, 0.0, 0.0, 0.0, 0.9, 0.0]  # after "b": EOS 0.1 (the least likely answer token)
    return tok, Bigram([[max(p, 1e-12) for p in row] for row in table]), QA("q", "a b", "a", ("b",))


def test_token_scores_leave_out_the_eos_as_open_unlearning_and_the_mean_nll_keeps_it():
    from obliviate.lm.evaluate import score

    tok, model, qa = _bigram_case()
    s = score(model, tok, [qa], details=True)
    # mean NLL over a, b and EOS (OpenUnlearning's evaluate_probability): −(ln .8 + ln .4 + ln .1)/3
    assert s.avg_nll[0] == pytest.approx(-(math.log(0.8) + math.log(0.4) + math.log(0.1)) / 3, rel=1e-5)
    # per-token statistics: a and b only (tokenwise_logprobs drops the last labelled token)
    assert s.token_logprobs[0] == pytest.approx([math.log(0.8), math.log(0.4)], rel=1e-5)
    assert list(s.target[0]) == [5, 6]
    # Min-K 40%: max(1, floor(0.8)) = 1 lowest of (ln .8, ln .4) = ln .4; with the EOS it would be ln .1
    assert M.min_k_score(s.token_logprobs[0]) == pytest.approx(math.log(0.4), rel=1e-5)
    kept = score(model, tok, [qa], details=True, drop_last_label=False)
    assert M.min_k_score(kept.token_logprobs[0]) == pytest.approx(math.log(0.1), rel=1e-5)
    # exact memorisation: argmax after "Answer:" is a (right), after "a" a tie resolved to a (wrong): 1/2
    assert M.exact_memorization(s.predicted[0], s.target[0]) == 0.5


def test_zlib_compresses_the_decoded_answer_labels():
    from obliviate.lm.text import answer_text

    tok, _, qa = _bigram_case()
    assert answer_text(tok, qa) == " a b"  # the labelled tokens, EOS skipped, as the tokenizer decodes them


def test_raw_text_gets_no_eos_and_a_qa_pair_does():
    from obliviate.lm.text import encode

    tok = WordTokenizer(["Question:", "q", "Answer:", "a", "b"])
    assert encode(tok, "", "a b").input_ids == [5, 6]  # MUSE-style passage: OpenUnlearning adds no EOS
    pair = encode(tok, "q", "a b")  # "Question: q\nAnswer:" + " a b" + EOS, labels on the answer and EOS
    assert pair.input_ids == [2, 3, 4, 5, 6, 1] and pair.labels == [-100, -100, -100, 5, 6, 1]


def test_world_facts_truth_ratio_compares_the_options_with_the_answer(monkeypatch):
    from obliviate.lm import evaluate

    tok, model, qa = _bigram_case()
    monkeypatch.setattr(evaluate, "generate", lambda model, tokenizer, questions, **kw: [["a b"]] * len(questions))
    answer = -(math.log(0.8) + math.log(0.4) + math.log(0.1)) / 3   # "a b" + EOS
    paraphrase = -(math.log(0.8) + math.log(0.2)) / 2                # "a" + EOS
    perturbed = -(math.log(0.2) + math.log(0.1)) / 2                 # "b" + EOS
    # OpenUnlearning's ra_/wf_Truth_Ratio: answer vs perturbed, max(0, 1 − R) = 1 − e^(ℓ̄_a − ℓ̄_p) = 0.555
    options = evaluate.quality_block(model, tok, [qa], on_forget_set=False, against="paraphrase", over_options=True)
    assert options["truth_ratio"] == pytest.approx(1 - math.exp(answer - perturbed), rel=1e-5)
    # retain_Truth_Ratio: paraphrase vs perturbed, 1 − e^(ℓ̄_para − ℓ̄_p) = 0.647
    retain = evaluate.quality_block(model, tok, [qa], on_forget_set=False, against="paraphrase")
    assert retain["truth_ratio"] == pytest.approx(1 - math.exp(paraphrase - perturbed), rel=1e-5)
    # and the probability over options: p_a / (p_a + p_b)
    assert options["prob"] == pytest.approx(math.exp(-answer) / (math.exp(-answer) + math.exp(-perturbed)), rel=1e-5)
