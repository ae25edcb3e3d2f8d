"""Real models: a ``diffusers`` Stable Diffusion pipeline saved in a local directory.

:func:`load_pipeline` wraps its UNet, text encoder, VAE and scheduler as a
:class:`~obliviate.diffusion.models.Diffusion`, so every diffusion method runs on it
unchanged; :func:`prompt_data` builds a method's :class:`EraseData` from prompts by
generating the images with the model itself (as ESD, CA and SalUn do for Stable
Diffusion); :func:`save_pipeline` writes the unlearned pipeline atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from obliviate.diffusion.loop import EraseData, Images
from obliviate.diffusion.models import Diffusion


def is_pipeline_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "model_index.json").is_file()


def read_prompts(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a prompts file (one-line ``ValueError`` if unreadable or empty)."""
    try:
        lines = [line.strip() for line in Path(path).read_text().splitlines()]
    except OSError as err:
        raise ValueError(f"cannot read prompts file {path}: {err.strerror}") from None
    prompts = [line for line in lines if line]
    if not prompts:
        raise ValueError(f"{path} holds no prompts")
    return prompts


class PromptEncoder(torch.nn.Module):
    """A pipeline's tokenizer and text encoder as one module (it moves with ``.to``)."""

    def __init__(self, tokenizer, text_encoder: torch.nn.Module):
        super().__init__()
        self.tokenizer, self.text_encoder = tokenizer, text_encoder

    def forward(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.text_encoder.device))[0]


def load_pipeline(path: str | os.PathLike, device: str | torch.device | None = None,
                  torch_dtype: torch.dtype | None = None) -> Diffusion:
    """A local Stable Diffusion pipeline directory (model_index.json, unet/, vae/,
    text_encoder/, tokenizer/, scheduler/) as a :class:`Diffusion` on ``device``
    (default CPU), weights in ``torch_dtype`` (default as saved). No downloads."""
    from obliviate.core.devices import resolve_device

    import diffusers
    import transformers
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    diffusers.utils.logging.disable_progress_bar()  # loading bars would bury the one-line errors
    transformers.utils.logging.disable_progress_bar()
    path = Path(path)
    if not is_pipeline_dir(path):
        raise ValueError(f"{path} is not a diffusers pipeline directory (no model_index.json)")
    pipe = StableDiffusionPipeline.from_pretrained(path, safety_checker=None, requires_safety_checker=False,
                                                   local_files_only=True,
                                                   **({"torch_dtype": torch_dtype} if torch_dtype else {}))
    pipe.set_progress_bar_config(disable=True)
    pipe.to(resolve_device(device))
    for module in (pipe.text_encoder, pipe.vae, pipe.unet):
        module.eval()
    encode = PromptEncoder(pipe.tokenizer, pipe.text_encoder)

    size = pipe.unet.config.sample_size
    return Diffusion(unet=pipe.unet, encoder=encode, scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
                     latent_shape=(pipe.unet.config.in_channels, size, size), vae=pipe.vae,
                     latent_scale=pipe.vae.config.scaling_factor,
                     extra={"pipeline": pipe})


def save_pipeline(model: Diffusion, out: str | os.PathLike) -> Path:
    """Write the pipeline with ``model``'s (unlearned) UNet to the new directory ``out``,
    atomically: it appears complete or not at all."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} already exists; choose a new output directory")
    pipe = model.extra.get("pipeline")
    if pipe is None:
        raise ValueError("this model was not loaded from a pipeline; nothing to save as one")
    pipe.unet = model.unet
    tmp = Path(tempfile.mkdtemp(prefix=".obliviate-", dir=out.parent))
    try:
        pipe.save_pretrained(tmp, safe_serialization=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_prompts(concept: str, forget_prompts: list[str]) -> None:
    if not concept.strip():
        raise ValueError("the concept to erase is empty")
    if not forget_prompts:
        raise ValueError("no forget prompts given")
    missing = [p for p in forget_prompts if concept not in p]
    if missing:
        raise ValueError(f"forget prompt {missing[0]!r} does not contain the concept {concept!r}")


def prompt_data(model: Diffusion, concept: str, forget_prompts: list[str], retain_prompts: list[str], *,
                anchor: str = "", images_per_prompt: int = 4, seed: int = 0, steps: int = 20,
                guidance: float = 7.5) -> EraseData:
    """EraseData for erasing ``concept`` from prompts alone.

    Every forget prompt must contain ``concept``; its anchor prompt replaces the
    concept with ``anchor`` (CA's anchor, SalUn's substitute, ESD's and UCE's guide).
    Images of the forget, anchor and retain prompts are generated by ``model``."""
    check_prompts(concept, forget_prompts)
    anchors = [" ".join(p.replace(concept, anchor).split()) for p in forget_prompts]
    g = torch.Generator().manual_seed(seed)

    def images(prompts: list[str]) -> Images:
        repeated = [p for p in prompts for _ in range(images_per_prompt)]
        if not repeated:
            return Images(model.put(torch.zeros((0, *model.latent_shape))), [])
        latents, _ = model.sample(model.encode(repeated), g, steps=steps, guidance=guidance)
        return Images(latents, repeated)

    forget, anchor_images = images(forget_prompts), images(anchors)
    substitutes = [p.replace(concept, anchor) for p in forget.prompts]
    ablated = [forget_prompts[i // images_per_prompt] for i in range(len(anchor_images))]
    retain = images(retain_prompts) if retain_prompts else anchor_images
    return EraseData(concept=concept, forget=forget, substitutes=[" ".join(s.split()) for s in substitutes],
                     anchor=anchor_images, ablated=ablated, retain=retain,
                     preserve=list(retain_prompts), guide=anchor)
