"""Every classifier method with its default hyperparameters, on the three built-in
settings and on a user's own model (3 blobs, not a built-in task), against the
outcome documented in docs/methods.md.

- forgets: forget accuracy moves at least half way from the original's to the
  retrained model's, and retain and test accuracy stay within 5 points of it;
- costly:  it forgets at least half way, but retain or test accuracy pays more than
  5 points (never a collapse: retain within 20 points, test within 17);
- weak:    it moves forget accuracy less than half way (the run is flagged when it
  moved less than a point), while retain accuracy holds;
- refused: a clear one-line ``MethodRefused`` naming the method's documented
  limitation (UNSIR is class-level only, and refuses when its impair leaves the class
  recognised; IU refuses a forget set the model already fits);
- damaging: none of these (it neither forgets half way nor keeps retain accuracy):
  a failure, documented in docs/methods.md.

A cell within half a point of a threshold (``BAND``) passes as either neighbour:
another CPU's rounding can move it across (mnist1d random:0.1 RL's test gap: 5.1 points on one machine, under 5 where the
earlier expectations were measured). Two cells ("forgets/costly") are further apart
between the two machines they were measured on (floating-point differences between
the CPUs move early stopping to another check): SalUn on mnist1d random:0.1
(test gap 5.9 on one, 4.1 on the other) and NegGrad+ on mnist1d class:3 (retain /
test gap 2.9 / 3.8 against 5.2 / 6.3).

The last four settings are a user's own small tabular datasets (iris, wine,
breast_cancer from scikit-learn, 4 Gaussian blobs in 6-D), each with an MLP the user
trained with Adam to 100% training accuracy, forgetting class 0, no holdout
(tests/helpers/own_models.py).
"""

import warnings
from types import SimpleNamespace

import pytest

import obliviate
from obliviate.classify.training import train_from_scratch
from obliviate.classify.tasks import get_task
from obliviate.metrics import accuracy

from helpers.own_models import own_setting

OWN = ("iris", "wine", "breast_cancer", "blobs")  # tests/helpers/own_models.py
SETTINGS = ("digits class:3", "mnist1d random:0.1", "mnist1d class:3", "own blobs") + tuple(f"{n} class:0" for n in OWN)
EXPECTED = {  # one entry per setting, in the order above
    "bad_teacher":      ("forgets", "costly", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "boundary_expand":  ("forgets", "costly", "costly", "weak", "forgets", "forgets", "forgets", "weak"),
    "boundary_shrink":  ("forgets", "costly", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "dmm":              ("forgets", "weak", "forgets", "forgets", "costly", "forgets", "forgets", "forgets"),
    "duck":             ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "fisher":           ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "ft":               ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "ga":               ("forgets", "costly", "costly", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "iu":               ("forgets", "weak", "forgets", "forgets", "refused", "forgets", "forgets", "forgets"),
    "laf":              ("costly", "costly", "damaging", "forgets", "weak", "weak", "forgets", "weak"),
    "l1_sparse":        ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "lfssd":            ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "negmerge":         ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "neggrad_plus":     ("forgets", "forgets", "forgets/costly", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "opc":              ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "rl":               ("forgets", "costly", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "salun":            ("forgets", "forgets/costly", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "scar":             ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "scrub":            ("forgets", "costly", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "slug":             ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "ssd":              ("forgets", "weak", "forgets", "forgets", "forgets", "forgets", "forgets", "weak"),
    "sisa":             ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "task_vector":      ("forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets", "forgets"),
    "unsir":            ("forgets", "refused", "forgets", "refused", "refused", "refused", "refused", "refused"),
}


def test_every_registered_classifier_method_has_a_documented_outcome():
    names = {m["name"] for m in obliviate.methods("classifier")} - {"retrain"}
    assert names == set(EXPECTED)


@pytest.fixture(scope="module")
def settings(digits_class3, own_blobs):
    out = {}
    task, split, original, retrained = digits_class3
    out["digits class:3"] = (original, retrained, split)
    mnist = get_task("mnist1d")
    mnist_original, _ = train_from_scratch(mnist, mnist.train, seed=0)
    for spec in ("random:0.1", "class:3"):
        sp = mnist.split(spec)
        out[f"mnist1d {spec}"] = (mnist_original, train_from_scratch(mnist, sp.retain, seed=0)[0], sp)
    model, forget, retain, test = own_blobs  # a user's own model and data, no holdout
    out["own blobs"] = (model, None, SimpleNamespace(forget=forget, retain=retain, test=test, val=None))
    for name in OWN:  # small tabular sets, MLPs trained with Adam to 100% training accuracy, no holdout
        own = own_setting(name)
        out[f"{name} class:0"] = (own.original, own.retrained,
                                  SimpleNamespace(forget=own.forget, retain=own.retain, test=own.test, val=None))
    return out


BAND = 0.005  # half a point: CPUs with other vector units round differently, and a cell on a threshold may flip


def outcome(original, retrained, split, method, band: float = 0.0):
    """Run ``method`` at its defaults; its outcome (see the module docstring), the
    result (None when refused) and a one-line summary. ``band`` widens (> 0) or
    narrows (< 0) every threshold: the outcomes within ``BAND`` of the measured one."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = obliviate.unlearn(original, split.forget, split.retain, method=method, seed=0, holdout=split.val)
    except obliviate.MethodRefused as err:
        return {"refused"}, None, str(err)
    model = result.model
    # the retrained model forgets a whole class entirely; on blobs there is no reference
    target = accuracy(retrained, split.forget) if retrained is not None else 0.0
    ref_retain = accuracy(retrained, split.retain) if retrained is not None else accuracy(original, split.retain)
    ref_test = accuracy(retrained, split.test) if retrained is not None else accuracy(original, split.test)
    before, after = accuracy(original, split.forget), accuracy(model, split.forget)
    retain_gap = ref_retain - accuracy(model, split.retain)
    test_gap = ref_test - accuracy(model, split.test)
    summary = f"forget {before:.3f}->{after:.3f} (target {target:.3f}), retain gap {retain_gap:.3f}, test gap {test_gap:.3f}"
    result.caught = caught
    return {classify(before, after, target, retain_gap, test_gap, b) for b in (-band, 0.0, band)}, result, summary


def classify(before, after, target, retain_gap, test_gap, band=0.0) -> str:
    half_way = abs(after - target) <= (0.5 + band) * abs(before - target)
    if half_way and abs(retain_gap) <= 0.05 + band and abs(test_gap) <= 0.05 + band:
        return "forgets"
    if half_way and retain_gap <= 0.20 + band and test_gap <= 0.17 + band:
        return "costly"
    if not half_way and abs(retain_gap) <= 0.05 + band:
        return "weak"
    return "damaging"


@pytest.mark.parametrize("method", sorted(EXPECTED))
@pytest.mark.parametrize("setting", SETTINGS)
def test_default_outcome_is_as_documented(settings, method, setting):
    original, retrained, split = settings[setting]
    expected = EXPECTED[method][SETTINGS.index(setting)]
    near, result, summary = outcome(original, retrained, split, method, band=BAND)
    assert near & set(expected.split("/")), f"{near}, documented {expected}: update docs/methods.md if it is better ({summary})"
    if expected == "refused":
        assert "class-level only" in summary or "(documented limitation); use " in summary
        assert "\n" not in summary
        return
    if expected == "weak" and abs(result.after["forget_acc"] - result.before["forget_acc"]) < 1:
        assert "did_not_forget" in result.flags
        assert any(issubclass(w.category, obliviate.UnlearningWarning) for w in result.caught)
    assert result.seconds > 0 and "collapsed" not in result.flags and "diverged" not in result.flags
