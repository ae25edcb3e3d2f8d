"""Real models: the same diffusion methods on a tiny random Stable Diffusion pipeline
that the test builds and saves (text encoder, tokenizer, UNet, VAE, scheduler)."""

import pytest
import torch

pytest.importorskip("diffusers")

from obliviate.diffusion.models import is_cross_attention  # noqa: E402
from obliviate.diffusion.pipeline import load_pipeline, prompt_data, save_pipeline  # noqa: E402
from obliviate.diffusion.unlearn import unlearn_diffusion  # noqa: E402
from helpers.pipelines import write_tiny_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    return write_tiny_pipeline(tmp_path_factory.mktemp("sd") / "pipe")


def test_loading_a_saved_local_pipeline(pipeline_dir):
    model = load_pipeline(pipeline_dir)
    assert model.latent_shape == (4, 8, 8)
    emb = model.encode(["a painting of a cat", ""])
    assert emb.shape == (2, 16, 32)
    assert not torch.equal(emb[0], emb[1])
    latents, _ = model.sample(emb, torch.Generator().manual_seed(0), steps=2)
    assert latents.shape == (2, 4, 8, 8) and torch.isfinite(latents).all()
    assert model.to_images(latents).shape == (2, 3, 16, 16)


def test_not_a_pipeline_directory(tmp_path):
    with pytest.raises(ValueError, match="not a diffusers pipeline directory"):
        load_pipeline(tmp_path)


@pytest.mark.parametrize("method,hparams,changed", [
    ("esd", {"parameter_set": "x", "iterations": 3, "batch_size": 2, "sample_steps": 3}, "cross"),
    ("uce", {}, "kv"),
    ("ca", {"iterations": 3, "batch_size": 2}, "kv"),
    ("salun", {"iterations": 3, "batch_size": 2, "saliency_batches": 1}, "any"),
])
def test_methods_run_unchanged_on_a_pipeline_and_save(pipeline_dir, tmp_path, method, hparams, changed):
    model = load_pipeline(pipeline_dir)
    data = prompt_data(model, "van gogh", ["a painting of van gogh style", "van gogh style house"],
                       ["a photo of a cat", "a painting of a tree"], anchor="", images_per_prompt=2, steps=2)
    assert data.substitutes[0] == "a painting of style"
    before = {n: p.detach().clone() for n, p in model.unet.named_parameters()}
    result = unlearn_diffusion(model, data, method, seed=0, hparams=hparams)
    moved = {n for n, p in result.model.unet.named_parameters() if not torch.equal(p, before[n])}
    assert moved, f"{method} changed nothing"
    if changed == "cross":
        assert all(is_cross_attention(n) for n in moved)
    if changed == "kv":
        assert all(is_cross_attention(n) and (".to_k." in n or ".to_v." in n) for n in moved)
    assert all(torch.equal(p, before[n]) for n, p in model.unet.named_parameters())  # the input is untouched
    out = save_pipeline(result.model, tmp_path / "erased")
    reloaded = load_pipeline(out)
    for name, p in reloaded.unet.named_parameters():
        assert torch.equal(p, dict(result.model.unet.named_parameters())[name])
    image = reloaded.extra["pipeline"]("a photo of a cat", num_inference_steps=2, output_type="np",
                                       generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 16, 16, 3)


def test_save_refuses_an_existing_directory(pipeline_dir, tmp_path):
    model = load_pipeline(pipeline_dir)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        save_pipeline(model, tmp_path / "taken")


def test_forget_prompts_must_contain_the_concept(pipeline_dir):
    model = load_pipeline(pipeline_dir)
    with pytest.raises(ValueError, match="does not contain the concept"):
        prompt_data(model, "van gogh", ["a photo of a cat"], [], images_per_prompt=1, steps=1)


def test_cli_erases_a_concept_from_a_pipeline_directory(pipeline_dir, tmp_path, capsys):
    from obliviate.cli import main

    forget, retain = tmp_path / "forget.txt", tmp_path / "retain.txt"
    forget.write_text("a painting of van gogh style\n\nvan gogh style house\n")
    retain.write_text("a photo of a cat\n")
    out = tmp_path / "erased"
    assert main(["unlearn", "--model", str(pipeline_dir), "--concept", "van gogh", "--forget", str(forget),
                 "--retain", str(retain), "--method", "uce", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "denoising loss on the concept's images" in text and "written to" in text
    erased, original = load_pipeline(out), load_pipeline(pipeline_dir)
    moved = [n for n, p in erased.unet.named_parameters() if not torch.equal(p, dict(original.unet.named_parameters())[n])]
    assert moved and all(".attn2.to_k." in n or ".attn2.to_v." in n for n in moved)


@pytest.mark.parametrize("extra,message", [
    (["--concept", "monet"], "does not contain the concept 'monet'"),
    ([], "--concept is required"),
    (["--concept", "van gogh", "--set", "lamda=1"], "unknown hyperparameter 'lamda'.*did you mean 'lam'"),
])
def test_cli_pipeline_bad_input_is_one_line_and_writes_nothing(pipeline_dir, tmp_path, capsys, extra, message):
    import re

    from obliviate.cli import main

    forget = tmp_path / "forget.txt"
    forget.write_text("a painting of van gogh style\n")
    out = tmp_path / "erased"
    code = main(["unlearn", "--model", str(pipeline_dir), "--forget", str(forget), "--method", "uce",
                 "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and re.search(message, err)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["forget.txt"]


def test_public_api_takes_a_pipeline_directory(pipeline_dir):
    import obliviate

    model = load_pipeline(pipeline_dir)
    data = prompt_data(model, "van gogh", ["van gogh style house"], [], images_per_prompt=2, steps=2)
    result = obliviate.unlearn(str(pipeline_dir), data, method="uce", lam=0.25)
    assert result.hparams["lam"] == 0.25 and result.after["forget_loss"] > 0
    with pytest.raises(ValueError, match="forget must be an EraseData"):
        obliviate.unlearn(model, ["van gogh"], method="uce")
