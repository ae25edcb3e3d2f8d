"""Evaluation metrics: pure functions of a model and data, or of arrays.

Accuracy-type functions return fractions in [0, 1] (like scikit-learn);
:func:`obliviate.evaluate` reports them in percent ("points"), as the papers do.
The array metrics live in :mod:`obliviate.core.metrics` (every track uses them), the
classifier's model metrics in :mod:`obliviate.classify.metrics`; both are here.
"""

from obliviate.classify.metrics import accuracy, mia_efficacy, true_class_confidence
from obliviate.core.metrics import (GAP_KEYS, avg_gap, challenge_final_score, challenge_forget_quality,
                                    challenge_score, example_epsilon, klom, linear_cka, logit_confidence,
                                    svc_mia_efficacy, tpr_at_fpr, tug_of_war, ulira)

__all__ = ["GAP_KEYS", "accuracy", "avg_gap", "challenge_final_score", "challenge_forget_quality", "challenge_score",
           "example_epsilon", "klom", "linear_cka", "logit_confidence", "mia_efficacy", "svc_mia_efficacy", "tpr_at_fpr",
           "true_class_confidence", "tug_of_war", "ulira"]
