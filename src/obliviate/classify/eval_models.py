"""The classifier track's part of ``obliviate eval``: logit-scaled confidence per forget
example, the standard accuracies, probe / k-NN / relearning attacks."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from obliviate.classify.data import predict
from obliviate.classify.evaluate import evaluate
from obliviate.classify.metrics import retain_exposure
from obliviate.classify.training import cached_model
from obliviate.classify.unlearn import unlearn_classifier
from obliviate.core import metrics
from obliviate.core.track import EvalModels, EvalSide, mean_std_gap, side_mean


CKA_REFERENCE_SEED = 1_000_003  # the retrained model CKA compares with: in neither side of any N


class ClassifierEval(EvalModels):
    """Classifier models: logit-scaled confidence, accuracies, probe / k-NN / relearning."""

    confidence_kind = "logit-scaled confidence: log p_y − log(1 − p_y)"

    def __init__(self, plan: Any, store: Any):
        self.plan, self.store, self.split = plan, store, plan.split

    def original(self, seed: int = 0):
        return cached_model(self.store, self.plan.task, "original", seed, self.split, device=self.plan.device)[0]

    def retrained(self, seed: int):
        return cached_model(self.store, self.plan.task, "retrain", seed, self.split, device=self.plan.device)[0]

    def unlearn(self, original, method: str, seed: int):
        split = self.split
        return unlearn_classifier(original, split.forget, split.retain, method, seed,
                                  self.plan.task.method_hparams(method, self.plan.hparams.get(method)),
                                  holdout=split.holdout)

    def side(self, models: list) -> EvalSide:
        split, confidences = self.split, []
        for model in models:
            logits, labels = predict(model, split.forget)
            confidences.append(metrics.logit_confidence(logits.numpy(), labels.numpy()))
        scores = [evaluate(m, split.forget, split.retain, split.test, forget_test=split.forget_test)
                  | {"retain_exposure": 100 * retain_exposure(m, split.retain, split.test)} for m in models]
        return EvalSide(np.stack(confidences), scores)

    def standard(self, side: EvalSide, reference: EvalSide) -> dict[str, float]:
        """Mean and std over models of the standard scores, their gaps to the retrained
        models' means, and tug-of-war against those means (percent)."""
        out = mean_std_gap(side, reference, (*metrics.GAP_KEYS, "retain_exposure"))
        ref = {k: side_mean(reference, k) / 100 for k in ("forget_acc", "retain_acc", "test_acc")}
        tows = [metrics.tug_of_war({k: s[k] / 100 for k in ref}, ref) for s in side.scores]
        forget = [s["forget_acc"] for s in side.scores]
        out["forget_acc_ci_low"], out["forget_acc_ci_high"] = metrics.bootstrap_ci(forget)
        out["forget_acc_p"] = metrics.welch_p_value(forget, [s["forget_acc"] for s in reference.scores])
        out["tow"] = 100 * statistics.fmean(tows)
        out["tow_std"] = 100 * (statistics.stdev(tows) if len(tows) > 1 else 0.0)
        return out

    def before(self, original: EvalSide) -> dict[str, float]:
        """The retain set's exposure before unlearning (the onion effect's "before")."""
        return {"retain_exposure_original": original.scores[0]["retain_exposure"]}

    def residual(self, models: list) -> dict[str, float]:
        """Probe / k-NN recovery, relearning steps and the feature similarity (linear
        CKA on the forget set) to the original and to a retrained model outside both
        sides (seed ``CKA_REFERENCE_SEED``), means over models."""
        from obliviate.classify.residual import penultimate_features, probe_recovery, relearn_attack

        split = self.split
        probes = [probe_recovery(m, split.forget, split.retain, seed=i) for i, m in enumerate(models)]
        relearn = [relearn_attack(m, split.forget, seed=i) for i, m in enumerate(models)]
        features = lambda model: penultimate_features(model, split.forget)[0]  # noqa: E731
        original, retrained = features(self.original(0)), features(self.retrained(CKA_REFERENCE_SEED))
        mine = [features(m) for m in models]
        return {"probe_acc": 100 * statistics.fmean(p["probe_acc"] for p in probes),
                "knn_acc": 100 * statistics.fmean(p["knn_acc"] for p in probes),
                "relearn_steps": statistics.fmean(r["steps_to_recover"] for r in relearn),
                "cka_original": statistics.fmean(metrics.linear_cka(f, original) for f in mine),
                "cka_retrain": statistics.fmean(metrics.linear_cka(f, retrained) for f in mine)}

    def final_score(self, forget_quality: float, side: EvalSide, reference: EvalSide) -> float:
        return metrics.challenge_final_score(
            forget_quality, (side_mean(side, "retain_acc"), side_mean(reference, "retain_acc")),
            (side_mean(side, "test_acc"), side_mean(reference, "test_acc")))
