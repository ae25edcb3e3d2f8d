"""``obliviate.evaluate``: the standard classifier scores (see :mod:`obliviate.classify.evaluate`)."""

from obliviate.classify.evaluate import evaluate

__all__ = ["evaluate"]
