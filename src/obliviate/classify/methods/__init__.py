"""Classifier unlearning methods, one module each; importing registers them."""

from obliviate.classify.methods import (  # noqa: F401
    bad_teacher, boundary_expand, boundary_shrink, dmm, duck, fisher, ft, ga, iu, l1_sparse, laf, lfssd, negmerge,
    neggrad_plus, opc, retrain, rl, salun, scar, scrub, slug, ssd, task_vector, unsir,
)
