"""The second ring of classifier methods: each one's defining property, checked on
hand-built cases against the paper's / reference code's definition."""

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from obliviate.core.registry import build
from obliviate import unlearn as obliviate_unlearn
from obliviate.classify.data import UnlearnData, tensors
from obliviate.classify.methods.scar import mahalanobis, shrink
from obliviate.classify.methods.negmerge import NegMerge, sign_consensus_merge
from obliviate.classify.methods.task_vector import forget_task_vector
from obliviate.metrics import accuracy


def test_sign_consensus_merge_keeps_the_mean_only_where_every_sign_agrees():
    # the reference (mgradyn/negmerge, negmerge.py): |Σ sign(τ_i)| == n, then Σ τ_i / n; a zero agrees with nothing
    t1 = {"w": torch.tensor([1.0, -2.0, 0.0, 3.0, 0.5])}
    t2 = {"w": torch.tensor([3.0, -1.0, 1.0, -1.0, 0.5])}
    t3 = {"w": torch.tensor([2.0, -3.0, 1.0, 2.0, 0.0])}
    merged = sign_consensus_merge([t1, t2, t3])["w"]
    assert torch.equal(merged, torch.tensor([2.0, -2.0, 0.0, 0.0, 0.0]))


def test_negmerge_learning_rates_span_the_grid_geometrically():
    assert NegMerge(variants=3, lr=0.01, spread=4.0).learning_rates() == pytest.approx([0.0025, 0.01, 0.04])
    with pytest.raises(ValueError, match="variants must be >= 2"):
        NegMerge(variants=1)


@pytest.mark.parametrize("method", ["task_vector", "negmerge"])
def test_task_negation_moves_the_weights_only_along_minus_the_task_vector(digits_class3, method):
    task, split, original, retrained = digits_class3
    algorithm = build(method, {}, "classifier")
    data = UnlearnData(split.forget, split.retain, 10, target_forget_acc=0.0)
    unlearned = copy.deepcopy(original)
    algorithm.apply(unlearned, data, torch.Generator().manual_seed(0))
    # recompute the task vector(s) from the same generator state: the result is θ0 − λ·τ, nothing else
    generator = torch.Generator().manual_seed(0)
    model = copy.deepcopy(original)
    if method == "task_vector":
        tau = forget_task_vector(model, data, generator, epochs=algorithm.epochs, lr=algorithm.lr,
                                 batch_size=algorithm.batch_size)
    else:
        tau = sign_consensus_merge([forget_task_vector(model, data, generator, epochs=algorithm.epochs, lr=lr,
                                                       batch_size=algorithm.batch_size)
                                    for lr in algorithm.learning_rates()])
        kept = sum(int((t != 0).sum()) for t in tau.values()) / sum(t.numel() for t in tau.values())
        assert 0 < kept < 1 and kept == pytest.approx(algorithm.kept)
    assert algorithm.strength > 0
    before = dict(original.named_parameters())
    for name, p in unlearned.named_parameters():
        torch.testing.assert_close(p.detach(), before[name].detach() - algorithm.strength * tau[name])
    assert accuracy(unlearned, split.forget) <= 0.05 < accuracy(original, split.forget)


def test_scar_modified_mahalanobis_on_a_hand_built_case():
    # f = [4, 0] → Tukey (β = ½) [2, 0] → normalised [1, 0]; class mean [0, 9] → [0, 1]; diff [1, −1]
    features = torch.tensor([[4.0, 0.0]])
    means = torch.tensor([[0.0, 9.0], [4.0, 0.0]])
    inverses = torch.stack([torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.eye(2)])
    d = mahalanobis(features, means, inverses, beta=0.5)
    # class 0: [1, −1] diag(2, 1) [1, −1]ᵀ = 3; class 1: the mean is [4, 0] itself, normalised [1, 0]: 0
    assert torch.allclose(d, torch.tensor([[3.0, 0.0]]))


def test_scar_shrinkage_adds_the_mean_diagonal_and_mean_off_diagonal():
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 4.0, 1.5], [0.0, 1.5, 6.0]])
    shrunk = shrink(cov, 3.0, 3.0)
    # mean diagonal 4 → +12 on the diagonal; the reference averages the *nonzero* off-diagonal entries:
    # (0.5 + 1.5 + 0.5 + 1.5) / 4 = 1 → +3 on every off-diagonal entry
    assert torch.allclose(shrunk, cov + torch.tensor([[12.0, 3, 3], [3, 12, 3], [3, 3, 12]]))


def test_scar_never_trains_on_the_retain_set(digits_class3):
    task, split, original, retrained = digits_class3
    scar = build("scar", {}, "classifier")
    data = UnlearnData(split.forget, split.retain, 10, target_forget_acc=0.0)
    trained_on = scar.setup(copy.deepcopy(original), data, torch.Generator().manual_seed(0))
    surrogate_x, _ = tensors(trained_on.retain)
    retain_x, _ = tensors(split.retain)
    # the images it distils on are out-of-distribution: none is a retain image
    flat_r = {tuple(r.tolist()) for r in retain_x.reshape(len(retain_x), -1)}
    assert not any(tuple(s.tolist()) in flat_r for s in surrogate_x.reshape(len(surrogate_x), -1))
    # and none the original puts in the forgotten class (the distillation trick)
    assert not (original(surrogate_x).argmax(1) == 3).any()
    teacher = scar.teacher_logits(surrogate_x[:8])
    assert torch.all(teacher[:, 3] == teacher.min())


def test_scar_forgets_a_class_while_retain_accuracy_holds(digits_class3):
    task, split, original, retrained = digits_class3
    result = obliviate_unlearn(original, split.forget, split.retain, method="scar", seed=0, holdout=split.val)
    assert accuracy(result.model, split.forget) <= 0.10
    assert accuracy(result.model, split.retain) >= 0.98 and accuracy(result.model, split.test) >= 0.95


def test_scar_self_forget_uses_only_the_forget_class_identifiers(digits_class3, tmp_path):
    task, split, original, retrained = digits_class3
    x, y = tensors(split.forget)
    noise_with_labels = TensorDataset(torch.randn_like(x), y)  # the forget images themselves never reach SCAR
    result = obliviate_unlearn(original, noise_with_labels, split.retain, method="scar", seed=0, self_forget=True)
    assert accuracy(result.model, split.forget) < accuracy(original, split.forget) - 0.10
    assert accuracy(result.model, split.retain) >= 0.98


def test_scar_surrogate_file_is_read_and_bad_ones_are_refused(digits_class3, tmp_path):
    task, split, original, retrained = digits_class3
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="cannot run on the surrogate inputs of shape"):
        obliviate_unlearn(original, split.forget, split.retain, method="scar", seed=0, surrogate=str(wrong))
    with pytest.raises(ValueError, match="'shuffled' or an existing .npy file"):
        obliviate_unlearn(original, split.forget, split.retain, method="scar", seed=0, surrogate="nope.txt")


def test_opc_contracts_the_forget_features_toward_one_point(digits_class3):
    from obliviate.classify.residual import penultimate_features

    task, split, original, retrained = digits_class3
    result = obliviate_unlearn(original, split.forget, split.retain, method="opc", seed=0, holdout=split.val)

    def norm_ratio(model):  # mean ‖z‖² on the forget set over the retain set's
        f, _ = penultimate_features(model, split.forget)
        r, _ = penultimate_features(model, split.retain)
        return (f ** 2).sum(1).mean() / (r ** 2).sum(1).mean()

    assert norm_ratio(result.model) < 0.25 * norm_ratio(original)
    assert accuracy(result.model, split.forget) <= 0.10 and accuracy(result.model, split.retain) >= 0.98


def test_opc_loss_is_retain_cross_entropy_plus_the_scaled_contraction():
    from obliviate.classify.data import Batch
    from obliviate.classify.methods.opc import OnePointContraction

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    xf, xr, yr = torch.randn(5, 3), torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    opc = OnePointContraction(contraction_weight=0.5)
    opc.scale = 2.0
    z = torch.relu(model[0](xf))
    expected = torch.nn.functional.cross_entropy(model(xr), yr) + 0.5 * (z ** 2).sum(1).mean() / 2.0
    torch.testing.assert_close(opc.loss(model, Batch(forget=(xf, None), retain=(xr, yr))), expected)


def test_loreun_weights_favour_the_examples_the_model_still_fits():
    from obliviate.classify import plugins

    # logits are the inputs (an identity model): p(true) = 1/2 → ℓ = ln 2; p(true) = 1/(1 + e^-∞) → ℓ = 0
    logits = torch.tensor([[0.0, 0.0], [60.0, 0.0]])
    data = UnlearnData(TensorDataset(logits, torch.tensor([0, 0])), None, 2)
    w = plugins.loss_weights(torch.nn.Identity(), data, temperature=1.0)
    # w ∝ exp(−ℓ/τ) = [1/2, 1], scaled to mean 1: [2/3, 4/3]
    torch.testing.assert_close(w, torch.tensor([2 / 3, 4 / 3], dtype=torch.float64))
    w_hot = plugins.loss_weights(torch.nn.Identity(), data, temperature=0.1)  # lower τ: sharper
    assert w_hot[1] > w[1]


def test_forget_weights_draw_each_epoch_in_proportion():
    x = torch.arange(4.0)[:, None]
    data = UnlearnData(TensorDataset(x, torch.zeros(4, dtype=torch.long)), None, 2,
                       forget_weights=torch.tensor([0.0, 0.0, 4.0, 0.0]))
    drawn = torch.cat([b.forget[0] for b in data.epoch("forget", 2, torch.Generator().manual_seed(0),
                                                       use_forget=True, use_retain=False)])
    assert drawn.flatten().tolist() == [2.0, 2.0, 2.0, 2.0]


def test_upcore_coreset_drops_the_outlier_of_the_forget_features():
    from obliviate.classify import plugins

    torch.manual_seed(0)
    x = torch.cat([0.1 * torch.randn(19, 2), torch.tensor([[50.0, -50.0]])])
    model = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(2, 2))  # features: the inputs
    data = UnlearnData(TensorDataset(x, torch.zeros(20, dtype=torch.long)), None, 2)
    kept = plugins.coreset(model, data, keep=0.95).forget
    assert len(kept) == 19 and 19 not in kept.indices


def test_reweight_dynamic_recomputes_the_weights_every_epoch(digits_class3, monkeypatch):
    from obliviate.classify import plugins

    task, split, original, retrained = digits_class3
    calls = []
    real = plugins.loss_weights
    monkeypatch.setattr(plugins, "loss_weights", lambda *a, **k: calls.append(1) or real(*a, **k))
    obliviate_unlearn(original, split.forget, split.retain, method="rl", seed=0, reweight="dynamic", epochs=3,
                      min_steps=0)
    assert len(calls) == 3  # before the first epoch (from the original) and before each later one
    calls.clear()
    obliviate_unlearn(original, split.forget, split.retain, method="rl", seed=0, reweight="static", epochs=3,
                      min_steps=0)
    assert len(calls) == 1


@pytest.mark.parametrize("bad, message", [({"reweight": "sometimes"}, "reweight must be one of .none., .static., .dynamic."),
                                          ({"coreset": 0.0}, "coreset must be in \\(0, 1\\]"),
                                          ({"reweight_temperature": 0}, "reweight_temperature must be > 0")])
def test_plugin_options_refuse_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        build("ga", bad, "classifier")


def test_slug_pareto_front_keeps_layers_no_other_beats_on_both_counts():
    from obliviate.classify.methods.slug import pareto_front

    importance = [3.0, 2.0, 1.0, 4.0, 2.5]
    alignment = [0.5, 0.1, 0.05, 0.9, 0.6]
    # layer 4 (2.5, 0.6) is beaten by layer 0 (3.0, 0.5): higher importance and lower alignment
    assert pareto_front(importance, alignment) == [0, 1, 2, 3]
    # ties do not dominate (the reference's strict comparisons)
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [0, 1]


def test_slug_changes_one_layer_along_its_forget_gradient_once(digits_class3):
    import torch.nn.functional as F

    from obliviate.classify.grads import summed_batch_grads

    task, split, original, retrained = digits_class3
    slug = build("slug", {}, "classifier")
    model = copy.deepcopy(original)
    slug.apply(model, UnlearnData(split.forget, split.retain, 10, target_forget_acc=0.0), torch.Generator())
    changed = [n for (n, p), (_, q) in zip(model.named_parameters(), original.named_parameters())
               if not torch.equal(p, q)]
    assert changed == [slug.layer] and slug.layer in slug.candidates
    g_sum, batches = summed_batch_grads(original, split.forget, slug.batch_size, F.cross_entropy)
    step = dict(model.named_parameters())[slug.layer] - dict(original.named_parameters())[slug.layer]
    torch.testing.assert_close(step, slug.strength * g_sum[slug.layer] / batches)  # one gradient, at θ₀
    assert accuracy(model, split.forget) <= 0.05 and accuracy(model, split.retain) >= 0.97


def test_laf_losses_follow_the_reference_formulas():
    from obliviate.classify.methods.laf import bounded_error, contrastive, vae_loss

    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    out = torch.tensor([[1.0, 1.0], [0.0, 0.0]])  # squared errors e = (1, 4)
    torch.testing.assert_close(bounded_error(out, z), torch.exp(torch.tensor(0.5)) + torch.exp(torch.tensor(0.8)))
    # VAE: summed squared error / batch + 0.025 · KL(N(μ, σ²) ‖ N(0, 1)) / batch; μ = 0, σ = 1: KL = 0
    mu, sigma = torch.zeros(2, 3), torch.ones(2, 3)
    torch.testing.assert_close(vae_loss(out, z, mu, sigma), torch.tensor(5.0 / 2), atol=1e-6, rtol=0)
    # contrastive: retain at the original (d_r = 0), forget orthogonal to it (d_f = 1), τ = 1, one pair each:
    # log(exp(0) / exp(1)) = −1
    r = torch.tensor([[1.0, 0.0]])
    f, f0 = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(contrastive(r, r, f, f0, 1.0), torch.tensor(-1.0))


def test_laf_never_reads_a_label(digits_class3):
    task, split, original, retrained = digits_class3
    (xf, yf), (xr, yr) = tensors(split.forget), tensors(split.retain)
    scrambled = lambda x, y: TensorDataset(x, torch.randint(0, 10, y.shape, generator=torch.Generator().manual_seed(1)))  # noqa: E731
    # labels reach only the guard's accuracy checks: with those off, scrambled labels give the same weights
    runs = [obliviate_unlearn(original, f, r, method="laf", seed=0, early_stop=False, epochs=2, min_steps=0,
                              adapt_lr=False)
            for f, r in ((TensorDataset(xf, yf), TensorDataset(xr, yr)), (scrambled(xf, yf), scrambled(xr, yr)))]
    for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        torch.testing.assert_close(p, q)


def test_dmm_head_refit_is_scikit_learns_multinomial_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from obliviate.classify.methods.dmm import refit_head

    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 5, generator=g, dtype=torch.float64)
    y = (z[:, 0] + 0.5 * z[:, 1] > 0).long() + (z[:, 2] > 1).long()
    decay = 0.01
    w, b = refit_head(torch.zeros(3, 5, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), z, y, decay)
    # mean CE + decay/2 ‖W‖² is scikit-learn's ½‖W‖² + C Σ CE with C = 1 / (n · decay), intercept unpenalised
    reference = LogisticRegression(C=1 / (len(z) * decay), tol=1e-10, max_iter=10_000).fit(z.numpy(), y.numpy())
    ours = torch.softmax(z @ w.T + b, dim=1).numpy()
    assert np.abs(ours - reference.predict_proba(z.numpy())).max() < 1e-4


def test_dmm_matches_the_predicted_retrained_logits(digits_class3):
    task, split, original, retrained = digits_class3
    result = obliviate_unlearn(original, split.forget, split.retain, method="dmm", seed=0, holdout=split.val)
    assert accuracy(result.model, split.forget) == 0.0  # the refitted head never predicts the forgotten class
    assert accuracy(result.model, split.retain) >= 0.99 and accuracy(result.model, split.test) >= 0.97
