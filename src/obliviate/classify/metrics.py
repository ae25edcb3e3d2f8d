"""Metrics of a classifier on data: accuracy, true-class confidence, MIA-efficacy.

Accuracy-type functions return fractions in [0, 1]; :func:`obliviate.evaluate`
reports them in percent.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from obliviate.classify.data import Data, predict
from obliviate.core.metrics import logit_confidence, member_rate_at_fpr, svc_mia_efficacy


def accuracy(model: nn.Module, data: Data) -> float:
    """Share of examples whose argmax logit equals the label, in [0, 1]. Higher means the
    model knows the data better (on a forget set, lower is not automatically better:
    the target is the retrained model's accuracy)."""
    logits, y = predict(model, data)
    if len(y) == 0:
        return float("nan")
    return (logits.argmax(1) == y).float().mean().item()


def true_class_confidence(model: nn.Module, data: Data) -> np.ndarray:
    """Softmax probability p_y(x) of the true label for each example (the SVC attack's feature)."""
    logits, y = predict(model, data)
    if len(y) == 0:
        return np.zeros(0)
    return torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1).numpy()


def mia_efficacy(model: nn.Module, forget: Data, retain: Data, test: Data) -> float:
    """MIA-efficacy: share of the forget set that a confidence attack calls non-member.

    The attack (an SVC on the true-class confidence p_y(x)) is trained with the first
    |D_t| retain examples as members and the test set as non-members, then applied
    to the forget set. In [0, 1]; the target is the *retrained* model's value (not 1):
    closer to it is better. For the original model it is near 0 when the forget set
    is memorised. Jia et al., NeurIPS 2023; Fan et al. (SalUn), ICLR 2024.
    """
    from torch.utils.data import DataLoader, Subset

    n_test = len(test.dataset) if isinstance(test, DataLoader) else len(test)
    retain_ds = retain.dataset if isinstance(retain, DataLoader) else retain
    shadow_members = Subset(retain_ds, range(min(n_test, len(retain_ds))))
    return svc_mia_efficacy(
        true_class_confidence(model, shadow_members),
        true_class_confidence(model, test),
        true_class_confidence(model, forget),
    )


RETAIN_EXPOSURE_SAMPLE = 2000


def retain_exposure(model: nn.Module, retain: Data, test: Data, fpr: float = 0.05) -> float:
    """How exposed the retain set is to membership inference: the share of (a fixed
    sample of at most 2000) retain examples a threshold attack on the logit-scaled
    confidence calls "member" at ``fpr`` false positives on the test set
    (:func:`~obliviate.core.metrics.member_rate_at_fpr`; Carlini et al.'s TPR at low
    FPR). In [0, 1]. Compared before (the original) and after unlearning it measures
    the "onion effect" (Carlini et al., "The Privacy Onion Effect", NeurIPS 2022):
    removing some examples exposes others. Lower is more private; the reference is
    the retrained model's value."""
    from obliviate.classify.data import sample

    member_logits, member_y = predict(model, sample(retain, RETAIN_EXPOSURE_SAMPLE))
    test_logits, test_y = predict(model, test)
    return member_rate_at_fpr(logit_confidence(member_logits.numpy(), member_y.numpy()),
                              logit_confidence(test_logits.numpy(), test_y.numpy()), fpr)
