"""The TOFU-like corpus generator: deterministic, with disjoint splits."""

import pytest

from obliviate.lm.corpus import TofuCorpus


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b, c = TofuCorpus(seed=0), TofuCorpus(seed=0), TofuCorpus(seed=1)
    assert a.people == b.people
    assert a.split("forget05") == b.split("forget05")
    assert a.people[0] != c.people[0]


def test_each_person_has_qa_with_paraphrase_and_perturbed_answers():
    corpus = TofuCorpus()
    assert len(corpus.train_people) == 100 and len(corpus.holdout_people) == 20
    assert len({p.name for p in corpus.people}) == 120
    for person in corpus.people[:10]:
        assert len(person.qa) == 12
        assert len({qa.question for qa in person.qa}) == 12
        for qa in person.qa:
            assert person.name in qa.question and person.name in qa.answer
            assert qa.paraphrase and qa.paraphrase != qa.answer and qa.key in qa.paraphrase
            assert len(qa.perturbed) == 3 and qa.answer not in qa.perturbed
            assert all(qa.key not in p for p in qa.perturbed)
            assert len(set(qa.perturbed)) == 3


@pytest.mark.parametrize("spec, people", [("forget01", 1), ("forget05", 5), ("forget10", 10)])
def test_splits_are_disjoint_and_nested(spec, people):
    corpus = TofuCorpus()
    split = corpus.split(spec)
    forget = {qa.person for qa in split.forget}
    retain = {qa.person for qa in split.retain if qa.person}
    holdout = {qa.person for qa in split.holdout}
    assert len(forget) == people and len(split.forget) == 12 * people
    assert not forget & retain and not forget & holdout and not retain & holdout
    assert len(forget | retain) == 100
    assert {qa.person for qa in split.retain_eval} <= retain
    # the evaluation retain set is the same for every spec and never touches forget10
    assert split.retain_eval == corpus.split("forget10").retain_eval
    assert not {qa.person for qa in split.retain_eval} & {qa.person for qa in corpus.split("forget10").forget}
    assert set(split.general) <= set(split.retain)
    # TOFU's third utility set: famous authors every model knows (trained by original and reference alike)
    assert len(split.real_authors) == 10 and set(split.real_authors) <= set(split.retain)
    assert all(len(qa.perturbed) == 3 and qa.key in qa.answer for qa in split.real_authors)
    assert set(split.real_authors) <= set(corpus.training_qa())
    smaller = corpus.split("forget01").forget
    assert set(smaller) <= set(split.forget)  # forget01 ⊂ forget05 ⊂ forget10, as in TOFU


def test_unknown_spec_is_refused():
    with pytest.raises(ValueError, match="unknown forget spec 'forget20'.*forget01, forget05, forget10"):
        TofuCorpus().split("forget20")
