"""Language-model unlearning methods, one module each; importing registers them."""

from obliviate.lm.methods import (  # noqa: F401
    eco, flat, ga, grad_diff, guardrail, idk_dpo, kl, mudman, npo, rmu, simnpo, soft_prompt, task_vector, uld, undial, wagle,
    wga, whp,
)
