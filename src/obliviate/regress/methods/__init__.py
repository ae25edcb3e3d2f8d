"""Regression unlearning methods, one module each; importing registers them."""

from obliviate.regress.methods import blindspot, ft, ga, neggrad_plus, retrain  # noqa: F401
