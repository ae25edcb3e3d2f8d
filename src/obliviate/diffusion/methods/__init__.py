"""Diffusion unlearning methods; importing this package registers them all."""

from obliviate.diffusion.methods import advunlearn, ca, esd, ga_retain, retrain, salun, scd, uce, unguide  # noqa: F401
