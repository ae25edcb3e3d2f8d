"""Diffusion unlearning methods; importing this package registers them all."""

from obliviate.diffusion.methods import ca, esd, ga_retain, retrain, salun, uce  # noqa: F401
