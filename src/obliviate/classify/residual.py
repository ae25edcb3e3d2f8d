"""Residual knowledge: is the forgotten information still in the model, just hidden?

Accuracy measures what the head outputs; these attacks look underneath it ("Are we
truly forgetting?", 2025; Hayes et al. 2025). Each returns forget accuracy (fraction)
*recovered* by the attack; run it on the retrained model too: the gap to the
retrained model's recovery is the residue (higher than retrain's = knowledge left).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from obliviate.classify.data import Data, batches, labels, predict, sample, size
from obliviate.classify.models import features_and_logits
from obliviate.core.devices import to_model


@torch.no_grad()
def penultimate_features(model: nn.Module, data: Data, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Frozen penultimate features (the input of the last linear layer) and labels."""
    model.eval()
    feats, ys = [], []
    for x, y in batches(data, batch_size, shuffle=False):
        feats.append(features_and_logits(model, *to_model(model, x))[0].double().cpu())  # for scikit-learn
        ys.append(y)
    return torch.cat(feats).numpy(), torch.cat(ys).numpy()


def _split_forget(forget: Data, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = size(forget)
    if n <= shots:
        raise ValueError(f"the forget set has {n} examples; the attack needs more than shots={shots}")
    order = np.random.default_rng(seed).permutation(n)
    return order[:shots], order[shots:]


def probe_recovery(model: nn.Module, forget: Data, retain: Data, *, shots: int = 5, retain_samples: int = 1000,
                   k: int = 5, seed: int = 0) -> dict[str, float]:
    """Forget accuracy recovered by a linear probe and by k-NN on frozen penultimate
    features, trained on ``retain_samples`` retain examples plus ``shots`` labelled
    forget examples and scored on the other forget examples. Fractions in [0, 1];
    compare with the retrained model's (the reference; higher = more residue)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    fx, fy = penultimate_features(model, forget)
    rx, ry = penultimate_features(model, sample(retain, retain_samples, seed))
    known, held = _split_forget(forget, shots, seed)
    x_train = np.concatenate([rx, fx[known]])
    y_train = np.concatenate([ry, fy[known]])
    scaler = StandardScaler().fit(x_train)
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(x_train), y_train)
    knn = KNeighborsClassifier(n_neighbors=k).fit(scaler.transform(x_train), y_train)
    x_held = scaler.transform(fx[held])
    return {"probe_acc": float((probe.predict(x_held) == fy[held]).mean()),
            "knn_acc": float((knn.predict(x_held) == fy[held]).mean())}


def relearn_attack(model: nn.Module, forget: Data, *, shots: int = 10, steps: int = 30, lr: float = 1e-3,
                   recover_at: float = 0.5, seed: int = 0) -> dict:
    """Relearning attack: fine-tune a copy of ``model`` (Adam, full batch) on ``shots``
    forget examples for ``steps`` steps and follow the accuracy on the *other* forget
    examples. Returns ``curve`` (accuracy after each step, fraction), ``relearn_acc``
    (after the last step) and ``steps_to_recover`` (the first step at which accuracy
    reaches ``recover_at``; ``steps + 1`` if never). Knowledge that was only hidden
    returns in a few steps; the retrained model must learn it afresh (measured on
    digits class:3 at the defaults: 18 steps for the retrained model, 2 after FT, 3
    after GA, 7 after SSD, 15 after SalUn). More steps is better, retrain's count is
    the target."""
    from torch.utils.data import DataLoader, Subset

    known, held = _split_forget(forget, shots, seed)
    base = forget.dataset if isinstance(forget, DataLoader) else forget
    shots_data, held_data = Subset(base, known.tolist()), Subset(base, held.tolist())
    x = torch.cat([xb for xb, _ in batches(shots_data, shots, shuffle=False)])
    x, y = to_model(model, x, labels(shots_data))
    attacked = copy.deepcopy(model)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(attacked.parameters(), lr=lr)
    curve = []
    for _ in range(steps):
        attacked.train()
        loss = F.cross_entropy(attacked(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        logits, held_y = predict(attacked, held_data)
        curve.append(float((logits.argmax(1) == held_y).float().mean()))
    reached = [i + 1 for i, acc in enumerate(curve) if acc >= recover_at]
    return {"relearn_acc": curve[-1], "steps_to_recover": reached[0] if reached else steps + 1, "curve": curve}
