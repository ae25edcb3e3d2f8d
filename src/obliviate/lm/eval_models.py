"""The language-model track's part of ``obliviate eval``: each forget answer's mean
token log-likelihood plays the classifier's confidence; answer probabilities are the
standard scores; the relearning attack (fine-tune on half the forget set) is the
residual test."""

from __future__ import annotations

import statistics
import warnings
from typing import Any

import numpy as np

from obliviate.core.track import EvalModels, EvalSide, mean_std_gap


class LMEval(EvalModels):
    confidence_kind = "mean log-likelihood of each forget answer's tokens"

    def __init__(self, plan: Any, store: Any):
        import transformers

        transformers.logging.set_verbosity_error()
        self.plan, self.store, self.split = plan, store, plan.split
        self.tokenizer = plan.task.tokenizer

    def original(self, seed: int = 0):
        return self.plan.task.model_for(self.store, "original", seed, device=self.plan.device)[0]

    def retrained(self, seed: int):
        return self.plan.task.model_for(self.store, "retrain", seed, self.plan.forget, device=self.plan.device)[0]

    def unlearn(self, original, method: str, seed: int):
        from obliviate.lm.unlearn import unlearn_lm

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # flags go into the table
            return unlearn_lm(original, self.tokenizer, *self.split.to_unlearn(), method, seed,
                              self.plan.hparams.get(method, {}))

    def side(self, models: list) -> EvalSide:
        from obliviate.lm.evaluate import score
        from obliviate.lm.metrics import answer_probability

        confidences, scores = [], []
        for model in models:
            forget_nll = score(model, self.tokenizer, self.split.forget).avg_nll
            confidences.append(-forget_nll)
            scores.append({f"{name}_prob": 100 * float(answer_probability(
                forget_nll if name == "forget" else score(model, self.tokenizer, qas).avg_nll).mean())
                for name, qas in (("forget", None), ("retain", self.split.retain_eval),
                                  ("general", self.split.general))})
        return EvalSide(np.stack(confidences), scores)

    def standard(self, side: EvalSide, reference: EvalSide) -> dict[str, float]:
        """Mean and std over models of the answer probabilities (percent) and their gaps
        to the retain-only models' means."""
        return mean_std_gap(side, reference, ("forget_prob", "retain_prob", "general_prob"))

    def residual(self, models: list) -> dict[str, float]:
        """The relearning attack's answer probability on the held-back forget half (percent)."""
        from obliviate.lm.evaluate import relearn_attack

        return {"relearn_prob": 100 * statistics.fmean(
            relearn_attack(m, self.tokenizer, self.split, seed=i)["relearn_prob"] for i, m in enumerate(models))}

    def robust(self, models: list) -> dict[str, float]:
        """Each attack of :func:`obliviate.lm.attacks.robust_scores`, the mean over ``models``."""
        from obliviate.lm.attacks import robust_scores
        from obliviate.lm.probes import probe_set

        probes = probe_set(self.plan.task.corpus, self.split)
        runs = [robust_scores(m, self.tokenizer, self.split, probes, seed=i) for i, m in enumerate(models)]
        return {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
