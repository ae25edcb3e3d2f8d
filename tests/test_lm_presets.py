"""LM defaults scale with the model: the reference (OpenUnlearning TOFU) settings from
100M parameters, the methods' own below; the user's values always win."""

import pytest

from obliviate.core.registry import build
from obliviate.lm.presets import REFERENCE, REFERENCE_FROM, method_defaults


def test_large_models_get_openunlearnings_tofu_settings():
    hparams, note = method_defaults("npo", 1_235_814_400, {})
    method = build("npo", hparams, "lm")
    assert (method.lr, method.epochs, method.warmup_ratio, method.weight_decay) == (1e-5, 10.0, 0.1, 0.01)
    assert (method.batch_size, method.grad_accumulation, method.lr_schedule) == (8, 4, "linear")
    assert (method.beta, method.retain_weight) == (0.1, 1.0)
    assert "reference settings for a 1.24B-parameter model" in note
    undial = build("undial", method_defaults("undial", 7_000_000_000, {})[0], "lm")
    assert (undial.lr, undial.beta, undial.retain_weight) == (1e-4, 10.0, 0.0)  # UNDIAL.yaml


def test_tiny_models_keep_the_methods_own_defaults_and_the_user_wins():
    hparams, note = method_defaults("npo", 443_000, {})
    assert hparams == {} and "the method's own" in note and "0.4M parameters" in note
    hparams, _ = method_defaults("npo", REFERENCE_FROM, {"lr": "3e-5"})
    assert hparams["lr"] == "3e-5" and build("npo", hparams, "lm").lr == pytest.approx(3e-5)


def test_every_registered_lm_method_has_a_reference_preset():
    import obliviate

    assert {m["name"] for m in obliviate.methods("lm")} == set(REFERENCE)
