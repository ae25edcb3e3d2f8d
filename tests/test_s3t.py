"""Sliced adapters (S3T) on the tofu-mini model: a deletion switches off the affected
adapters at once (the model keeps serving with those that never saw the ids), and
after the scheduled retraining the adapters equal those trained from scratch without
the ids, weight for weight."""

import copy

import pytest
import torch

from obliviate.exact.s3t import SlicedAdapters
from obliviate.lm.evaluate import score
from obliviate.lm.models import LMRecipe, TinyLM, fit
from obliviate.lm.text import encode_qa, pad


@pytest.fixture(scope="module")
def base_and_data(tiny):
    """A base model trained on public data only (the world knowledge and the holdout
    people, never deleted), and the training people's QA pairs as the deletable
    fine-tuning data, ids "name#i". (A base that never saw a person at all gives LoRA
    adapters nothing to build on: 0.5% answer probability after 100 epochs.)"""
    task, _, _, _, tokenizer, _ = tiny
    base = TinyLM(hidden=64, layers=2, heads=2, intermediate=128).build(tokenizer, 0)
    public = task.corpus.world_knowledge() + [qa for p in task.corpus.holdout_people for qa in p.qa]
    fit(base, tokenizer, [encode_qa(tokenizer, qa) for qa in public], LMRecipe(epochs=30, lr=1e-2, batch_size=16), 0)
    people = task.corpus.train_people
    qas = [qa for p in people for qa in p.qa]
    ids = [f"{p.name}#{i}" for p in people for i in range(len(p.qa))]
    return base, tokenizer, qas, ids


def answer_prob(model, tokenizer, qas) -> float:
    return float(torch.tensor(score(model, tokenizer, qas).avg_nll).neg().exp().mean())


def logits(model, tokenizer, qas) -> torch.Tensor:
    batch = pad([encode_qa(tokenizer, qa) for qa in qas], tokenizer.pad_token_id)
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def scratch(base, tokenizer, qas, ids, gone, like):
    keep = [i for i, key in enumerate(ids) if key not in gone]
    return SlicedAdapters(copy.deepcopy(base), tokenizer, slices=3, seed=1).fit(
        [qas[i] for i in keep], [ids[i] for i in keep], assignment=like.assignment)


def test_a_deletion_switches_off_the_affected_adapters_at_once_and_the_retraining_is_exact(base_and_data):
    from obliviate.core.deploy import id_hash

    base, tokenizer, qas, ids = base_and_data
    s3t = SlicedAdapters(copy.deepcopy(base), tokenizer, slices=3, seed=1).fit(qas, ids)
    assert s3t.serving == [0, 1, 2]
    assert answer_prob(s3t.model, tokenizer, qas) > answer_prob(base, tokenizer, qas) + 0.1  # the adapters learnt
    placed = s3t.assignment.place
    last = next(i for i, key in enumerate(ids) if placed[id_hash(key)][1] == 2)  # an example of the last slice

    report = s3t.unlearn([ids[last]])
    assert report.deactivated == [2] and report.serving == [0, 1] and report.pending == [2] and s3t.serving == [0, 1]
    reference = scratch(base, tokenizer, qas, ids, {ids[last]}, s3t)
    reference.serve([0, 1])
    probe = qas[:8] + [qas[last]]
    # at once, before any retraining: exactly the model trained without the id, on the adapters that never saw it
    assert torch.equal(logits(s3t.model, tokenizer, probe), logits(reference.model, tokenizer, probe))

    s3t.retrain_pending()
    reference.serve([0, 1, 2])
    assert s3t.serving == [0, 1, 2] and s3t.pending == []
    ours, theirs = s3t.adapter_state(), reference.adapter_state()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)

    # a whole person: its QA pairs sit in every slice, so every adapter goes at once; the base model serves
    name = next(k.split("#")[0] for k in ids if k.split("#")[0] != ids[last].split("#")[0])
    person = [key for key in ids if key.startswith(name + "#")]
    before = answer_prob(s3t.model, tokenizer, [qas[ids.index(k)] for k in person])
    report = s3t.unlearn(person)
    assert report.serving == [] and report.pending == [0, 1, 2]
    torch.testing.assert_close(logits(s3t.model, tokenizer, probe), logits(base, tokenizer, probe))
    after = answer_prob(s3t.model, tokenizer, [qas[ids.index(k)] for k in person])
    assert after < before / 10  # measured: 9.2% -> 0.16%, the base model's level
    s3t.retrain_pending()
    reference = scratch(base, tokenizer, qas, ids, {ids[last], *person}, s3t)
    ours, theirs = s3t.adapter_state(), reference.adapter_state()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(ValueError, match="were already deleted"):
        s3t.unlearn([person[0]])
    with pytest.raises(ValueError, match="not in the fine-tuning data"):
        s3t.unlearn(["nobody#0"])
