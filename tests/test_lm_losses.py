"""Every LM unlearning loss against its formula, on hand-computed cases."""

import math

import pytest
import torch

from obliviate.lm import losses

IGN = losses.IGNORE


def logits_for(probs_per_position):
    """Logits whose softmax is the given distribution at each position (batch of 1)."""
    return torch.tensor([probs_per_position]).log()


def test_sequence_nll_sums_the_answer_tokens_only():
    # positions 0..3; labels say: prompt, prompt, answer, answer -> targets of positions 1,2
    probs = [[0.5, 0.5], [0.25, 0.75], [0.9, 0.1], [0.5, 0.5]]
    labels = torch.tensor([[IGN, IGN, 1, 0]])
    nll, count = losses.sequence_nll(logits_for(probs), labels)
    # token 2 (label 1) is predicted at position 1: p = 0.75; token 3 (label 0) at position 2: p = 0.9
    assert nll.item() == pytest.approx(-math.log(0.75) - math.log(0.9))
    assert count.item() == 2


def test_ga_and_nll_losses():
    avg = torch.tensor([1.0, 3.0])
    assert losses.ga_loss(avg).item() == -2.0
    assert losses.nll_loss(avg).item() == 2.0


def test_npo_loss_hand_computed():
    value = losses.npo_loss(torch.tensor([-5.0]), torch.tensor([-3.0]), beta=0.1)
    # -(2/0.1) * log sigmoid(-0.1 * (-5 + 3)) = 20 * log(1 + e^-0.2)
    assert value.item() == pytest.approx(20 * math.log(1 + math.exp(-0.2)), rel=1e-6)
    # equal to the reference: 20 * log 2, the starting value of NPO
    assert losses.npo_loss(torch.tensor([-4.0]), torch.tensor([-4.0])).item() == pytest.approx(20 * math.log(2))


def test_simnpo_loss_hand_computed():
    value = losses.simnpo_loss(torch.tensor([2.0]), beta=4.5, gamma=0.0)
    assert value.item() == pytest.approx((2 / 4.5) * math.log(1 + math.exp(-9.0)), rel=1e-6)
    shifted = losses.simnpo_loss(torch.tensor([2.0]), beta=4.5, gamma=1.0)
    assert shifted.item() == pytest.approx((2 / 4.5) * math.log(1 + math.exp(-8.0)), rel=1e-6)


def test_dpo_loss_hand_computed():
    value = losses.dpo_loss(torch.tensor([-4.0]), torch.tensor([-6.0]), torch.tensor([-5.0]),
                            torch.tensor([-5.0]), beta=0.1)
    # margin = (-4 + 5) - (-6 + 5) = 2 -> -20 log sigmoid(0.2)
    assert value.item() == pytest.approx(20 * math.log(1 + math.exp(-0.2)), rel=1e-6)


def test_kl_to_reference_over_all_positions_or_the_answer():
    # three positions; the reference differs from the policy at positions 0 and 2
    policy = [[0.5, 0.5], [0.2, 0.8], [0.5, 0.5]]
    reference = [[0.9, 0.1], [0.2, 0.8], [0.8, 0.2]]
    labels = torch.tensor([[IGN, 0, IGN]])  # one answer token, predicted at position 0
    kl0 = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # 0.3681
    kl2 = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)  # 0.1927
    # OpenUnlearning: the mean over all B·T = 3 positions, the last (which predicts nothing) included
    value = losses.kl_to_reference(logits_for(policy), logits_for(reference), labels, "all")
    assert value.item() == pytest.approx((kl0 + 0.0 + kl2) / 3, rel=1e-6)
    # answer tokens only: position 0
    value = losses.kl_to_reference(logits_for(policy), logits_for(reference), labels, "answer")
    assert value.item() == pytest.approx(kl0, rel=1e-6)
    assert losses.kl_to_reference(logits_for(policy), logits_for(policy), labels).item() == pytest.approx(0, abs=1e-7)
    with pytest.raises(ValueError, match="positions"):
        losses.kl_to_reference(logits_for(policy), logits_for(policy), labels, "prompt")


def test_rmu_loss_hand_computed():
    h_f = torch.tensor([[[1.0, 2.0]]])
    control = torch.tensor([3.0, 0.0])
    h_r, h_ref = torch.tensor([[[1.0, 1.0]]]), torch.tensor([[[0.0, 1.0]]])
    value = losses.rmu_loss(h_f, control, h_r, h_ref, alpha=10.0)
    assert value.item() == pytest.approx(((1 - 3) ** 2 + 2 ** 2) / 2 + 10 * (1 / 2))


def test_undial_loss_over_all_positions_or_the_answer():
    # three positions; position 1 predicts the one answer token (1); positions 0 and 2 predict none
    policy = [[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]]
    reference = [[0.8, 0.2], [1 / (1 + math.e ** 2), math.e ** 2 / (1 + math.e ** 2)], [0.5, 0.5]]
    labels = torch.tensor([[IGN, IGN, 1]])
    # answer position: reference logits (0, 2), the true token lowered by β = 2 -> (0, 0): target (0.5, 0.5)
    answer = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    value = losses.undial_loss(logits_for(policy), logits_for(reference), labels, beta=2.0, positions="answer")
    assert value.item() == pytest.approx(answer, rel=1e-6)
    # OpenUnlearning's: the mean over the B·(T−1) = 2 shifted positions; position 0's target is the
    # reference's own (0.8, 0.2), unadjusted (the reference code would lower the last entry there)
    position0 = -(0.8 * math.log(0.5) + 0.2 * math.log(0.5))
    value = losses.undial_loss(logits_for(policy), logits_for(reference), labels, beta=2.0)
    assert value.item() == pytest.approx((position0 + answer) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="positions"):
        losses.undial_loss(logits_for(policy), logits_for(reference), labels, positions="prompt")


def test_wga_loss_weights_tokens_by_their_probability():
    probs = [[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]
    labels = torch.tensor([[IGN, 1, 0]])  # p = 0.8 then 0.6
    value = losses.wga_loss(logits_for(probs), labels, beta=1.0)
    expected = -(0.8 * -math.log(0.8) + 0.6 * -math.log(0.6)) / 2
    assert value.item() == pytest.approx(expected, rel=1e-6)
    flat = losses.wga_loss(logits_for(probs), labels, beta=0.0)  # no weights: token-level GA
    assert flat.item() == pytest.approx((math.log(0.8) + math.log(0.6)) / 2, rel=1e-6)


def test_batch_nll_is_the_token_mean_over_the_batch_by_default():
    # ℓ = 2 over 1 token and ℓ = 30 over 10 tokens: token mean 32/11 (Hugging Face's,
    # OpenUnlearning's GA and retain NLL), sequence mean (2 + 3)/2 = 2.5
    total, count = torch.tensor([2.0, 30.0]), torch.tensor([1, 10])
    assert losses.batch_nll(total, count).item() == pytest.approx(32 / 11)
    assert losses.batch_nll(total, count, "sequence").item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="unknown NLL average"):
        losses.batch_nll(total, count, "answer")


def test_simnpo_margin_inside_the_sigmoid_as_the_reference_code():
    # β = 2, ℓ̄ = 1, δ = 0.5: −(2/β)·log σ(2·(1 − 0.5)) = −log σ(1); the paper's γ = 0.5
    # gives −log σ(1.5); γ = βδ = 1 matches δ
    avg = torch.tensor([1.0])
    inside = losses.simnpo_loss(avg, beta=2.0, delta=0.5).item()
    assert inside == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))
    assert losses.simnpo_loss(avg, beta=2.0, gamma=0.5).item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.5))))
    assert losses.simnpo_loss(avg, beta=2.0, gamma=1.0).item() == pytest.approx(inside)


def test_every_language_model_method_states_its_reference_settings():
    # docs/methods.md promises the reference learning rates and epochs in each docstring
    import importlib

    for name in ("ga", "grad_diff", "kl", "npo", "simnpo", "idk_dpo", "rmu", "undial", "wga"):
        doc = importlib.import_module(f"obliviate.lm.methods.{name}").__doc__
        assert "Reference settings" in doc and "lr " in doc and "epochs" in doc, name
