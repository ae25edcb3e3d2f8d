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
    assert M.extraction_strength([1, 2, 3, 9], [1, 2, 3, 4]) == 0.0  # k* = 4


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
