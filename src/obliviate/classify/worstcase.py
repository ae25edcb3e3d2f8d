"""Worst-case forget sets (forget spec ``worst:FRAC``).

Random forget sets are too easy ("Challenging Forgets", Fan et al., ECCV 2024): most
random examples are typical, so a model retrained without them still gets them
right and any method looks good. The paper selects the forget set by bi-level
optimisation against one method; this is a cheaper, method-agnostic proxy built on
the finding that memorised examples are the hardest to unlearn (Zhao et al., "What
makes unlearning hard and what to do about it", NeurIPS 2024):

1. a candidate pool: a random 2·FRAC of the training split (fixed seed);
2. two models with the task's recipe (seed 0): one on the whole training split, one
   without the pool;
3. memorisation of each pool example = its logit-scaled confidence under the first
   minus under the second (how much its own presence in training lifts it);
4. the forget set = the FRAC·n most memorised pool examples.

``worst:FRAC:METHOD`` targets one method, a greedy one-step version of the bi-level
search: step 3 scores each pool example by the *residue* the method leaves on it
(its confidence after METHOD unlearns the whole pool from the first model, minus its
confidence under the model retrained without the pool), and the forget set is the
FRAC·n examples with the largest residue: those the method forgets least well
compared with retraining.

Deterministic, and cached per process; it costs two trainings of the task's model
(plus one unlearning run with a method).
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def worst_case_ids(task_name: str, frac: float, method: str | None = None) -> torch.Tensor:
    from obliviate.bench import train_from_scratch
    from obliviate.classify.data import predict
    from obliviate.classify.tasks import get_task
    from obliviate.metrics import logit_confidence

    task = get_task(task_name)
    x, y = task.train.tensors
    n = len(y)
    k = max(1, round(frac * n))
    g = torch.Generator().manual_seed(task.split_seed)
    pool = torch.randperm(n, generator=g)[: min(n - 1, 2 * k)].sort().values
    keep = torch.ones(n, dtype=torch.bool)
    keep[pool] = False
    from torch.utils.data import TensorDataset

    with_pool, _ = train_from_scratch(task, task.train, seed=0)
    without_pool, _ = train_from_scratch(task, TensorDataset(x[keep], y[keep]), seed=0)
    pool_data = TensorDataset(x[pool], y[pool])
    if method is not None:
        import warnings

        from obliviate.classify.unlearn import unlearn_classifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a method that fails here makes the set harder, which is the point
            with_pool = unlearn_classifier(with_pool, pool_data, TensorDataset(x[keep], y[keep]), method, 0, {},
                                           holdout=task.val).model
    c_in = logit_confidence(predict(with_pool, pool_data)[0].numpy(), y[pool].numpy())
    c_out = logit_confidence(predict(without_pool, pool_data)[0].numpy(), y[pool].numpy())
    difficulty = torch.as_tensor(c_in - c_out)  # memorisation, or the method's residue
    chosen = pool[torch.argsort(difficulty, descending=True, stable=True)[:k]]
    return chosen.sort().values
