"""``evaluate``: the standard classifier scores of one model, and their gaps to retraining."""

from __future__ import annotations

from typing import Mapping

from torch import nn

from obliviate.classify import metrics as classifier_metrics
from obliviate.core import metrics
from obliviate.classify.data import Data


def evaluate(
    model: nn.Module, forget: Data, retain: Data, test: Data,
    reference: nn.Module | Mapping[str, float] | None = None,
    forget_test: Data | None = None,
) -> dict[str, float]:
    """Forget, retain and test accuracy and MIA-efficacy of ``model``, all in percent.

    - ``forget_acc`` (= 100 − UA), ``retain_acc`` (RA), ``test_acc`` (TA): accuracy on
      the forget, retain and test sets. For class forgetting pass the test set without
      the forgotten class as ``test`` and that class's test examples as
      ``forget_test`` (reported as ``forget_test_acc``).
    - ``mia_efficacy``: :func:`obliviate.metrics.mia_efficacy` in percent.

    With ``reference`` (the retrained model, or its own ``evaluate`` dict) the result
    also holds ``<key>_gap`` = abs(value − reference value) in points for each of the
    four scores, and ``avg_gap``, their mean (lower is better; 0 = like retraining).
    """
    scores = {
        "forget_acc": 100 * classifier_metrics.accuracy(model, forget),
        "retain_acc": 100 * classifier_metrics.accuracy(model, retain),
        "test_acc": 100 * classifier_metrics.accuracy(model, test),
        "mia_efficacy": 100 * classifier_metrics.mia_efficacy(model, forget, retain, test),
    }
    if forget_test is not None:
        scores["forget_test_acc"] = 100 * classifier_metrics.accuracy(model, forget_test)
    if reference is not None:
        if isinstance(reference, nn.Module):
            reference = evaluate(reference, forget, retain, test, forget_test=forget_test)
        for key in metrics.GAP_KEYS:
            scores[f"{key}_gap"] = abs(scores[key] - reference[key])
        scores["avg_gap"] = metrics.avg_gap(scores, reference)
    return scores
