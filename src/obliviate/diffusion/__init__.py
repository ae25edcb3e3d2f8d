"""Diffusion track: concept and class erasure in text-conditioned diffusion models."""
