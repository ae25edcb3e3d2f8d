"""Diffusion track: the canvas task, each method's defining property, the metrics on
hand-built cases, the prompt attack on a trained denoiser, and bad input."""

import math

import pytest
import torch

pytest.importorskip("diffusers")

from obliviate.classify.methods.salun import saliency_mask  # noqa: E402
from obliviate.core.registry import build, get_method  # noqa: E402
from obliviate.core.store import Store  # noqa: E402
from obliviate.diffusion.attack import prompt_attack  # noqa: E402
from obliviate.diffusion.canvas import STYLES, Canvas, CanvasEncoder, Concept  # noqa: E402
from obliviate.diffusion.loop import trainable  # noqa: E402
from obliviate.diffusion.methods.uce import uce_solution  # noqa: E402
from obliviate.diffusion.metrics import (attack_success_rate, frechet_distance, kernel_distance,  # noqa: E402
                                         retain_accuracy, unlearning_accuracy)
from obliviate.diffusion.models import drop_words, is_cross_attention, train_denoiser  # noqa: E402
from obliviate.diffusion.task import CANVAS_TASKS  # noqa: E402
from obliviate.diffusion.unlearn import unlearn_diffusion  # noqa: E402

TASK = CANVAS_TASKS["digits-canvas"]


@pytest.fixture(scope="module")
def data():
    return TASK.erase_data("object:3")


def _small(data, n=64):
    """The first ``n`` forget / anchor / retain images (fast method runs on an untrained UNet)."""
    from dataclasses import replace

    from obliviate.diffusion.loop import Images

    cut = lambda imgs: Images(imgs.latents[:n], imgs.prompts[:n])  # noqa: E731
    return replace(data, forget=cut(data.forget), substitutes=data.substitutes[:n], anchor=cut(data.anchor),
                   ablated=data.ablated[:n], retain=cut(data.retain))


# -- the task ---------------------------------------------------------------------

def test_canvas_is_deterministic_and_styles_differ():
    a, b = Canvas(), Canvas()
    assert a.images.shape == (3594, 1, 8, 8) and torch.equal(a.images, b.images)
    assert a.images.min() >= -1 and a.images.max() <= 1
    means = [a.images[a.styles == s].mean().item() for s in range(len(STYLES))]
    assert means[STYLES.index("inverted")] > max(m for i, m in enumerate(means) if i != STYLES.index("inverted"))
    assert len(set(round(m, 3) for m in means)) == len(STYLES)
    assert a.objects.bincount().min() > 300  # every digit, in two styles each


def test_erase_data_for_an_object(data):
    assert data.concept == "3" and data.guide == ""
    assert all(p.split()[0] == "3" for p in data.forget.prompts)
    assert len(data.forget) + len(data.retain) == len(TASK.canvas.images)
    for p, sub in zip(data.forget.prompts, data.substitutes):  # another digit in the same style
        assert sub.split()[1] == p.split()[1] and sub.split()[0] != "3"
    assert all(a in STYLES for a in data.anchor.prompts)  # "3 inverted" → "inverted"
    assert all(ab.split() == ["3", a] for ab, a in zip(data.ablated, data.anchor.prompts))
    assert "3" not in data.preserve and "5" in data.preserve and "inverted" in data.preserve


def test_erase_data_for_a_style():
    d = TASK.erase_data("style:blurred")
    assert d.concept == "blurred"
    assert all(p.split()[1] == "blurred" for p in d.forget.prompts)
    assert all(len(a.split()) == 1 and a.isdigit() for a in d.anchor.prompts)


def test_encoder_is_frozen_and_positional():
    enc = CanvasEncoder()
    e = enc(["3 inverted", "3", ""])
    assert e.shape == (3, 3, 32)
    assert torch.equal(e[0, 1], e[1, 1])  # the word "3" has one embedding
    assert torch.equal(e[1, 2], e[2, 2])  # padding
    assert not any(p.requires_grad for p in enc.parameters())


def test_drop_words_gives_every_kind_of_prompt():
    g = torch.Generator().manual_seed(0)
    seen = {drop_words("3 inverted", g) for _ in range(300)}
    assert seen == {"3 inverted", "3", "inverted", ""}


# -- bad input --------------------------------------------------------------------

@pytest.mark.parametrize("spec,message", [
    ("object:12", "unknown object '12'"),
    ("style:sepia", "unknown style 'sepia'"),
    ("shape:round", "use object:K"),
    ("3", "use object:K"),
])
def test_unknown_concepts_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        Concept.parse(spec)


def test_unknown_words_in_prompts_are_refused():
    with pytest.raises(ValueError, match="unknown word 'sepia'"):
        CanvasEncoder()(["3 sepia"])


def test_unknown_parameter_sets_are_refused():
    # the ESD reference README names "noxattn-full", which its code does not accept
    with pytest.raises(ValueError, match="unknown parameter set 'noxattn'.*x \\(cross-attention only\\)"):
        build("esd", {"parameter_set": "noxattn"}, "diffusion")


def test_bench_plan_refuses_bad_input():
    from obliviate.bench import plan

    with pytest.raises(ValueError, match="unknown style 'sepia'"):
        plan("digits-canvas", "style:sepia", ["esd"], [0])
    with pytest.raises(ValueError, match="unknown method 'esdx'.*did you mean 'esd'"):
        plan("digits-canvas", "object:3", ["esdx"], [0])
    with pytest.raises(ValueError, match="unknown hyperparameter 'eta_'"):
        plan("digits-canvas", "object:3", ["esd"], [0], {"esd": {"eta_": 1}})


def test_cli_bad_concept_is_one_line_and_writes_nothing(tmp_path, capsys):
    from obliviate.cli import main

    code = main(["--home", str(tmp_path / "home"), "bench", "--task", "digits-canvas", "--forget", "style:sepia",
                 "--methods", "esd", "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "sepia" in err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "home").exists()


def test_empty_forget_set_is_refused(data):
    from dataclasses import replace

    from obliviate.diffusion.loop import Images

    with pytest.raises(ValueError, match="forget set is empty"):
        replace(data, forget=Images(data.forget.latents[:0], []), substitutes=[])


# -- methods: defining properties ---------------------------------------------------

def test_uce_equals_the_least_squares_solution():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 4, generator=g, dtype=torch.float64)
    E, G, P = (torch.randn(n, 4, generator=g, dtype=torch.float64) for n in (2, 2, 3))
    lam, s = 0.5, 2.0
    # min λ‖W'−W‖² + Σ‖W'e − W g‖² + s Σ‖W'p − W p‖² as one stacked least-squares problem in W'ᵀ
    A = torch.cat([math.sqrt(lam) * torch.eye(4, dtype=torch.float64), E, math.sqrt(s) * P])
    B = torch.cat([math.sqrt(lam) * W.T, G @ W.T, math.sqrt(s) * P @ W.T])
    expected = torch.linalg.lstsq(A, B).solution.T
    assert torch.allclose(uce_solution(W, E, G, P, lam, s), expected, atol=1e-10)


def test_uce_edits_only_cross_attention_keys_and_values_and_maps_the_concept(data):
    model = TASK.new_model()
    result = unlearn_diffusion(model, data, "uce")
    before, after = dict(model.unet.named_parameters()), dict(result.model.unet.named_parameters())
    moved = [n for n in before if not torch.equal(before[n], after[n])]
    assert moved and all(is_cross_attention(n) and (".to_k." in n or ".to_v." in n) for n in moved)
    enc = model.encode(["3", ""])[:, 1]  # the word "3" and the padding in its place
    for name in moved:
        old, new = before[name].detach(), after[name].detach()
        assert (new @ enc[0] - old @ enc[1]).norm() < 0.5 * (old @ enc[0] - old @ enc[1]).norm()
    assert result.seconds < 5


@pytest.mark.parametrize("parameter_set", ["x", "u"])
def test_esd_trains_only_its_parameter_set(data, parameter_set):
    model = TASK.new_model()
    result = unlearn_diffusion(model, _small(data), "esd", 0, {"parameter_set": parameter_set, "iterations": 3,
                                                                 "batch_size": 4, "sample_steps": 3})
    before = dict(model.unet.named_parameters())
    moved = {n for n, p in result.model.unet.named_parameters() if not torch.equal(p, before[n])}
    cross = {n for n in before if is_cross_attention(n)}
    assert moved and cross
    if parameter_set == "x":
        assert moved <= cross
    else:
        assert not moved & cross
    assert set(trainable(model, parameter_set)) >= moved


def test_esd_u_is_what_both_reference_versions_train():
    model = TASK.new_model()
    chosen = set(trainable(model, "u"))
    names = {n for n, _ in model.unet.named_parameters()}
    # trained by the original (noxattn) and the diffusers rewrite (esd-u) alike
    for name in ("conv_in.weight", "down_blocks.0.resnets.0.conv1.weight", "down_blocks.0.resnets.0.time_emb_proj.weight",
                 "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight",
                 "mid_block.attentions.0.transformer_blocks.0.ff.net.2.bias", "mid_block.attentions.0.proj_in.weight"):
        assert name in chosen, name
    # left out by one version or the other: cross-attention, time embedding, output block, norms
    left_out = {n for n in names if is_cross_attention(n) or n.startswith(("time_embedding.", "conv_out.", "conv_norm_out."))
                or ".norm" in n}
    assert left_out and not chosen & left_out
    assert chosen | left_out == names


def test_salun_keeps_masked_out_weights_bit_identical(data):
    small = _small(data)
    model = TASK.new_model()
    hp = {"keep": 0.3, "iterations": 6, "lr": 1e-2, "batch_size": 8, "saliency_batches": 2}
    result = unlearn_diffusion(model, small, "salun", 0, hp)
    # the same mask, recomputed from the same seed
    algo = build("salun", hp, "diffusion")
    from obliviate.core.seeding import seed_everything

    algo.setup(model, small, seed_everything(0))
    changed = kept = 0
    for name, p in result.model.unet.named_parameters():
        old = dict(model.unet.named_parameters())[name]
        frozen = ~algo.mask[name]
        assert torch.equal(p[frozen], old[frozen]), name  # Adam's momentum never leaks through
        changed += int((p[~frozen] != old[~frozen]).sum())
        kept += int(frozen.sum())
    total = sum(p.numel() for p in model.unet.parameters())
    assert changed > 0.2 * total and abs(kept / total - 0.7) < 1e-3


def test_saliency_mask_is_a_global_top_k():
    masks = saliency_mask({"a": torch.tensor([5.0, 1.0]), "b": torch.tensor([3.0, 0.0, 4.0])}, 0.4)
    assert masks["a"].tolist() == [True, False] and masks["b"].tolist() == [False, False, True]


def test_ca_and_ga_retain_run_and_the_same_seed_gives_the_same_weights(data):
    small = _small(data)
    model = TASK.new_model()
    for method in ("ca", "ga_retain"):
        hp = {"iterations": 3, "batch_size": 8}
        a = unlearn_diffusion(model, small, method, 1, hp)
        b = unlearn_diffusion(model, small, method, 1, hp)
        assert all(torch.equal(p, q) for p, q in zip(a.model.unet.parameters(), b.model.unet.parameters()))
        assert not all(torch.equal(p, q) for p, q in zip(a.model.unet.parameters(), model.unet.parameters()))
        assert len(a.history) == 3 and all(math.isfinite(v) for v in a.history)


def test_ca_trains_keys_and_values_only(data):
    model = TASK.new_model()
    result = unlearn_diffusion(model, _small(data), "ca", 0, {"iterations": 2, "batch_size": 8})
    before = dict(model.unet.named_parameters())
    moved = [n for n, p in result.model.unet.named_parameters() if not torch.equal(p, before[n])]
    assert moved and all(".attn2.to_k." in n or ".attn2.to_v." in n for n in moved)


def test_every_diffusion_method_is_registered():
    for name in ("esd", "uce", "ca", "salun", "ga_retain", "retrain", "advunlearn", "scd", "unguide"):
        assert get_method(name, "diffusion").track == "diffusion"


# -- metrics ------------------------------------------------------------------------

def test_accuracy_metrics_on_hand_built_predictions():
    pred = torch.tensor([3, 3, 5, 1])
    assert unlearning_accuracy(pred, 3) == 50.0
    assert attack_success_rate(pred, 3) == 50.0
    assert retain_accuracy(pred, torch.tensor([3, 0, 5, 0])) == 50.0


def test_frechet_distance_of_shifted_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, 2.0, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, abs=1e-6)  # ‖μa − μb‖², equal covariances
    b = 2 * torch.randn(4000, 3, generator=g)  # Tr(Σa + Σb − 2√(ΣaΣb)) = 3·(1 + 4 − 4) = 3
    assert frechet_distance(a, b) == pytest.approx(3.0, rel=0.1)


def test_frechet_distance_is_finite_with_singular_covariances():
    a = torch.randn(10, 50)  # fewer samples than dimensions
    assert math.isfinite(frechet_distance(a, a.flip(0) + 0.1))


def test_kernel_distance_is_about_zero_for_one_distribution_and_grows_apart():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    same = kernel_distance(a, b)
    assert abs(same) < 0.05
    assert kernel_distance(a, b + 1) > 10 * abs(same) + 0.1


# -- the prompt attack on a trained denoiser ------------------------------------------

@pytest.fixture(scope="module")
def small_trained():
    """A denoiser trained in about a minute on digits 0, 1 and 3 in two styles."""
    c = TASK.canvas
    keep = ((c.objects == 0) | (c.objects == 1) | (c.objects == 3)) & (c.styles <= 1)
    model = TASK.new_model()
    train_denoiser(model, c.images[keep], c.prompts(keep.nonzero().squeeze(1)), epochs=30, lr=4e-3,
                   batch_size=64, seed=0, drop=drop_words)
    return model


def test_the_attack_raises_attack_success_rate_on_the_original(small_trained, tmp_path):
    judges = TASK.judges(Store(tmp_path))
    c = TASK.canvas

    def asr(emb):
        images, _ = small_trained.sample(emb.expand(64, -1, -1), torch.Generator().manual_seed(1))
        return attack_success_rate(judges["object"](images).argmax(1), 3)

    start = small_trained.encode(["0 thick"])  # a prompt that draws zeros, not threes
    adversarial = prompt_attack(small_trained, start, c.images[(c.objects == 3) & (c.styles == 1)],
                                torch.Generator().manual_seed(0))
    before, after = asr(start), asr(adversarial)
    assert before < 20 and after > before + 20
    assert all(p.requires_grad for p in small_trained.unet.parameters())  # the model is left trainable


def test_every_fine_tuning_method_states_its_reference_settings():
    # docs/methods.md promises the reference learning rates and iteration counts in each docstring
    import importlib

    for name in ("esd", "ca", "salun", "ga_retain"):
        doc = importlib.import_module(f"obliviate.diffusion.methods.{name}").__doc__
        assert "Reference" in doc and "lr " in doc and ("iterations" in doc or "epochs" in doc or "steps" in doc), name


def test_erasing_after_an_earlier_erasure_neither_retains_nor_substitutes_it():
    first, second = TASK.erase_data("object:1"), TASK.erase_data("object:3", erased_before=("object:1",))
    assert not any(p.startswith("1 ") for p in second.retain.prompts + second.substitutes)
    assert len(second.retain.prompts) == len(first.retain.prompts) - len(second.forget.prompts)
    assert "1" not in second.preserve and "3" not in second.preserve
    assert second.forget.prompts == TASK.erase_data("object:3").forget.prompts


def test_the_relearning_attack_lowers_the_concepts_denoising_loss_on_a_copy(small_trained):
    from obliviate.diffusion.attack import relearned

    c = TASK.canvas
    threes = (c.objects == 3) & (c.styles == 2)  # a style the small model never saw
    images, emb = c.images[threes][:64], small_trained.encode(c.prompts(threes.nonzero().squeeze(1)[:64]))
    def loss(model):
        with torch.no_grad():
            return float(model.denoising_loss(images, emb, torch.Generator().manual_seed(5)))

    before = [p.clone() for p in small_trained.unet.parameters()]
    attacked = relearned(small_trained, images, emb, torch.Generator().manual_seed(0), steps=30, lr=1e-3)
    assert loss(attacked) < loss(small_trained) - 0.01
    assert all(torch.equal(a, b) for a, b in zip(before, small_trained.unet.parameters()))


def test_sequential_erasure_reports_every_erased_concept_and_what_was_kept(small_trained, tmp_path):
    from obliviate.diffusion.evaluate import CanvasEval
    from obliviate.diffusion.sequential import per_concept_accuracy, sequential_erasure

    judges = TASK.judges(Store(tmp_path))
    settings = CanvasEval(retain_samples=4)
    before = per_concept_accuracy(small_trained, judges, settings)
    rows = sequential_erasure(TASK, small_trained, ["object:3", "object:1"], "uce", judges, settings=settings)
    assert [r["erased"] for r in rows] == ["object:3", "object:1"]
    assert set(rows[0]["ua"]) == {"3"} and set(rows[1]["ua"]) == {"3", "1"}
    assert rows[1]["ua"]["1"] > 100 - before["object"]["1"] + 20  # the second erasure worked
    assert rows[1]["ua"]["3"] > 100 - before["object"]["3"] + 20  # and the first one held
    kept = [o for o in before["object"] if o not in ("1", "3")]
    assert rows[1]["kept_object_change"] == pytest.approx(
        rows[1]["kept_object_acc"] - sum(before["object"][o] for o in kept) / len(kept))
    with pytest.raises(ValueError, match="two different concepts"):
        sequential_erasure(TASK, small_trained, ["object:3", "object:3"], "uce", judges)


# -- the next ring: AdvUnlearn, SCD (DoCo), UnGuide ---------------------------------------

def test_advunlearn_attacks_with_a_warm_started_delta_that_brings_the_concept_back(data):
    from obliviate.core.seeding import seed_everything

    model, small = TASK.new_model(), _small(data)
    algo = build("advunlearn", {"attack_steps": 5, "attack_lr": 5e-2, "batch_size": 4, "sample_steps": 3}, "diffusion")
    generator = seed_everything(0)
    algo.setup(model, small, generator)
    for p in model.unet.parameters():  # perturb the model a little so that it no longer matches the original
        p.data.add_(1e-2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    x_t, t, _ = algo.erase_batch(model, generator)
    with torch.no_grad():
        wanted = algo.original(x_t, t, encoder_hidden_states=algo.c.expand(4, -1, -1)).sample
    gap = lambda d: float(((model.eps(x_t, t, (algo.c + d).expand(4, -1, -1)) - wanted) ** 2).mean().detach())  # noqa: E731
    grads_before = [p.grad for p in model.unet.parameters()]
    delta = algo.attack(model, x_t, t)
    assert gap(delta) < gap(torch.zeros_like(delta))  # the attack does what the reference's does
    assert all(g is None for g in grads_before) and all(p.grad is None for p in model.unet.parameters())
    algo.delta = delta
    again = algo.attack(model, x_t, t)
    assert gap(again) <= gap(delta) + 1e-6  # warm start: from the last δ, not from zero


def test_advunlearn_trains_cross_attention_and_the_same_seed_gives_the_same_weights(data):
    small, model = _small(data), TASK.new_model()
    hp = {"iterations": 4, "warmup": 1, "attack_steps": 2, "batch_size": 4, "sample_steps": 3}
    a, b = (unlearn_diffusion(model, small, "advunlearn", 3, hp) for _ in range(2))
    before = dict(model.unet.named_parameters())
    moved = {n for n, p in a.model.unet.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(is_cross_attention(n) for n in moved)
    assert all(torch.equal(p, q) for p, q in zip(a.model.unet.parameters(), b.model.unet.parameters()))


def test_the_concept_preserving_gradient_removes_only_the_conflicting_component():
    from obliviate.diffusion.methods.scd import preserving_gradient

    g_r = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]
    conflicting = [torch.tensor([-1.0, 2.0]), torch.tensor([3.0])]  # g_u·g_r = −1 < 0
    out = preserving_gradient(conflicting, g_r, weight=0.5)
    assert out[0].tolist() == [0.5, 2.0] and out[1].tolist() == [3.0]  # (0, 2, 3) + 0.5·(1, 0, 0)
    agreeing = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]
    assert [t.tolist() for t in preserving_gradient(agreeing, g_r, weight=1.0)] == [[2.0, 2.0], [3.0]]


def test_scd_steps_along_the_preserving_gradient_and_trains_its_discriminator(data):
    from obliviate.core.seeding import seed_everything

    small, model = _small(data), TASK.new_model()
    algo = build("scd", {"batch_size": 8, "warmup": 0}, "diffusion")
    generator = seed_everything(0)
    algo.setup(model, small, generator)
    start = [p.detach().clone() for p in algo.discriminator.parameters()]
    loss = algo.loss(model, small, generator)
    loss.backward()
    assert not all(torch.equal(a, b) for a, b in zip(start, algo.discriminator.parameters()))
    assert all(p.grad is not None for p in model.unet.parameters())
    result = unlearn_diffusion(model, small, "scd", 0, {"iterations": 3, "warmup": 1, "batch_size": 8})
    before = dict(model.unet.named_parameters())
    moved = {n for n, p in result.model.unet.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(is_cross_attention(n) for n in moved)


def test_unguide_trains_a_low_rank_update_of_keys_and_values_and_mixes_per_prompt(data):
    from obliviate.diffusion.methods.unguide import UnGuidedDiffusion

    small, model = _small(data), TASK.new_model()
    result = unlearn_diffusion(model, small, "unguide", 0, {"iterations": 3, "batch_size": 4, "sample_steps": 3,
                                                             "probe_samples": 2})
    erased = result.model
    assert isinstance(erased, UnGuidedDiffusion)
    before = dict(model.unet.named_parameters())
    for name, p in erased.unet.named_parameters():
        delta = p - before[name]
        if ".attn2.to_k." in name or ".attn2.to_v." in name:
            assert torch.linalg.matrix_rank(delta.detach()) == 1  # rank-1 LoRA, merged
        else:
            assert torch.equal(p, before[name])
    assert all(torch.equal(p, before[n]) for n, p in erased.base_unet.named_parameters())
    # UnGuidance: w from the prompt's change against the empty prompt's, the same w for both halves of CFG
    emb = erased.encode(["3 inverted"])
    erased.decisions.clear()
    erased.decisions[""] = -1.0  # every prompt moved more than this: w = w_concept
    x_t, t = torch.randn(1, *erased.latent_shape, generator=torch.Generator().manual_seed(0)), torch.tensor([500])
    w = erased.w_concept
    expected = []
    for unet in (erased.base_unet, erased.unet):
        cond = unet(x_t, t, encoder_hidden_states=emb).sample
        uncond = unet(x_t, t, encoder_hidden_states=erased.encode([""])).sample
        expected.append(uncond + 1.5 * (cond - uncond))
    got = erased.guided_eps(x_t, t, emb, 1.5)
    assert torch.allclose(got, w * expected[0] + (1 - w) * expected[1], atol=1e-5)
    erased.decisions[""] = float("inf")  # nothing moved more: w = w_other
    assert torch.allclose(erased.eps(x_t, t, emb), 2 * erased.base_unet(x_t, t, encoder_hidden_states=emb).sample
                          - erased.unet(x_t, t, encoder_hidden_states=emb).sample, atol=1e-5)


def test_tune_on_the_diffusion_track_never_generates_the_evaluation_prompts(monkeypatch, tmp_path):
    import obliviate.diffusion.evaluate as evaluate
    from obliviate.core.track import track_named
    from obliviate.classify.models import SmallCNN

    torch.manual_seed(0)
    judges = {"object": SmallCNN(10), "style": SmallCNN(len(STYLES))}
    models = {"original": TASK.new_model(), "retrain": TASK.new_model()}
    for p in models["retrain"].unet.parameters():
        p.data.mul_(0.9)
    monkeypatch.setattr(type(TASK), "model_for", lambda self, store, kind, spec="", progress=None, device=None:
                        (models[kind], 0.0))
    monkeypatch.setattr(type(TASK), "judges", lambda self, store: judges)

    def evaluation(*args, **kwargs):
        raise AssertionError("the evaluation's object-and-style prompts were generated")

    monkeypatch.setattr(evaluate, "_generate", evaluation)
    monkeypatch.setattr(evaluate, "VALIDATION_SAMPLES", 2)
    distance = track_named("diffusion").tuner("digits-canvas", "object:3", Store(tmp_path), 0)
    hp = {"iterations": 2, "batch_size": 4, "sample_steps": 2}
    got = distance("esd", hp)
    erased = unlearn_diffusion(models["original"], TASK.erase_data("object:3", 0), "esd", 0, hp).model
    ours, reference = (evaluate.validation_scores(m, "object:3", judges) for m in (erased, models["retrain"]))
    assert got == pytest.approx(sum(abs(ours[k] - reference[k]) for k in ("ua", "ira", "cra")) / 3)
    with pytest.raises(ValueError, match="unknown object"):
        track_named("diffusion").tuner("digits-canvas", "object:ten", Store(tmp_path), 0)
    from obliviate.tune import plan_tune, search_space

    with pytest.raises(ValueError, match="unknown object"):  # refused before any training
        plan_tune("digits-canvas", "object:ten", "esd", 2)
    assert set(search_space("esd", "diffusion")) == {"lr", "iterations"}
    assert set(search_space("uce", "diffusion")) == {"lam", "preserve_scale"}
