"""Diffusion track: concept and class erasure in text-conditioned diffusion models.

``load_pipeline`` wraps a local Stable Diffusion pipeline, ``prompt_data`` builds what
the methods need from prompts, ``save_pipeline`` writes the result; the built-in
benchmark task is ``digits-canvas`` (``obliviate.diffusion.task``)."""

from obliviate.diffusion.loop import EraseData, Images
from obliviate.diffusion.models import Diffusion
from obliviate.diffusion.pipeline import load_pipeline, prompt_data, save_pipeline

__all__ = ["Diffusion", "EraseData", "Images", "load_pipeline", "prompt_data", "save_pipeline"]
