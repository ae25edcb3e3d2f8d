"""SISA (Bourtoule et al., S&P 2021): exactness weight for weight, manifests, checkpoints
on disk, aggregation, the reference's epoch schedule, and the `sisa` method in bench."""

import copy
import re

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import obliviate
from obliviate.exact import DirectoryCheckpoints, SISAEnsemble, id_hash, slice_epochs
from obliviate.exact import sisa as sisa_module


class BNNet(nn.Module):
    """A small classifier with batch norm, so that buffers are part of what must match."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Dropout(0.1), nn.Linear(24, 3))

    def forward(self, x):
        return self.net(x)


def blobs(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 6, generator=g) + 2.5 * nn.functional.one_hot(y, 6).float()
    return TensorDataset(x, y)


RECIPE = dict(epochs=6, lr=0.05, batch_size=16, schedule="cosine")


def ensemble(shards=3, slices=2, aggregate="softmax", checkpoints=None, seed=7):
    torch.manual_seed(123)  # the template's own initialisation must not matter
    return SISAEnsemble(BNNet(), 3, shards, slices, RECIPE, aggregate, seed, checkpoints)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def parse(name: str) -> tuple[int, int]:
    """(shard, slice) of a checkpoint file name; the initial weights are slice -1."""
    found = re.fullmatch(r"shard(\d+)-(init|slice(\d+))-[0-9a-f]{16}\.safetensors", name)
    return int(found[1]), -1 if found[2] == "init" else int(found[3])


def from_scratch(data, deleted, like, **kwargs):
    keep = [i for i in range(len(data)) if i not in set(deleted)]
    return ensemble(**kwargs).fit(Subset(data, keep), ids=keep, assignment=like.assignment)


def test_slice_epochs_are_the_reference_schedule():
    # sisa.py: avg = 2R/(R+1) * E/R; slice r trains int((r+1) avg) - int(r avg) epochs
    assert slice_epochs(20, 1) == [20]
    assert slice_epochs(20, 4) == [8, 8, 8, 8]  # avg 8: 8·(1+2+3+4)/4 = 20 passes over the shard
    assert slice_epochs(7, 2) == [4, 5]  # avg 14/3: int(4.67) = 4, int(9.33) − 4 = 5
    assert slice_epochs(10, 3) == [5, 5, 5]


@pytest.mark.parametrize("shards,slices", [(1, 1), (3, 2), (4, 3)])
def test_deleting_ids_gives_the_ensemble_trained_without_them_weight_for_weight(shards, slices):
    data = blobs()
    trained = ensemble(shards, slices).fit(data)
    deleted = [3, 50, 51, 200]
    report = trained.unlearn(deleted)
    scratch = from_scratch(data, deleted, trained, shards=shards, slices=slices)
    assert same_weights(trained, scratch)
    placed = trained.assignment.place
    first = {}
    for i in deleted:
        s, r = placed[id_hash(i)]
        first[s] = min(first.get(s, slices), r)
    assert report.retrained == first  # only the shards that held an id, from its first slice
    # one at a time gives the same ensemble again
    one_by_one = ensemble(shards, slices).fit(data)
    for i in deleted:
        one_by_one.unlearn([i])
    assert same_weights(one_by_one, scratch)


def test_only_the_affected_shard_is_retrained_from_the_checkpoint_before_its_slice(monkeypatch):
    data = blobs()
    trained = ensemble(3, 3).fit(data)
    placed = trained.assignment.place
    victim = next(i for i in range(len(data)) if placed[id_hash(i)][1] == 2)  # an id in a shard's last slice
    shard = placed[id_hash(victim)][0]
    others = {s: copy.deepcopy(trained.members[s].state_dict()) for s in range(3) if s != shard}
    calls = []
    original_apply = sisa_module._SliceTraining.apply
    monkeypatch.setattr(sisa_module._SliceTraining, "apply",
                        lambda self, model, data, g, progress=None: calls.append(len(data.retain)) or
                        original_apply(self, model, data, g, progress))
    report = trained.unlearn([victim])
    assert report.retrained == {shard: 2} and report.slices_retrained == 1
    assert len(calls) == 1  # one slice trained: slices 0 and 1 of that shard came from checkpoints
    assert calls[0] == sum(1 for k, (s, _) in placed.items() if s == shard) - 1
    for s, state in others.items():
        assert all(torch.equal(state[k], v) for k, v in trained.members[s].state_dict().items())


def test_no_checkpoint_the_unlearned_ensemble_depends_on_saw_a_deleted_id(tmp_path):
    data = blobs()
    store = DirectoryCheckpoints(tmp_path / "ckpt")
    trained = ensemble(3, 2, checkpoints=store).fit(data)
    files_before = set(store.files())
    placed = trained.assignment.place
    in_slice = lambda s, r: [i for i in range(len(data)) if placed[id_hash(i)] == (s, r)]  # noqa: E731
    deleted = in_slice(0, 1)[:2] + in_slice(1, 0)[:1]  # shard 2 keeps everything
    report = trained.unlearn(deleted)
    assert report.retrained == {0: 1, 1: 0}
    hashes = {id_hash(i) for i in deleted}
    for (s, r), manifest in trained.manifests().items():
        assert not hashes & set(manifest)
        assert len(manifest) == len(set(manifest))
    # the superseded checkpoints (trained on a deleted id) are gone from disk; the others are untouched
    on_disk = {p.name for p in (tmp_path / "ckpt").glob("*.safetensors")}
    assert on_disk == set(store.files())
    where = lambda f: parse(f)  # noqa: E731
    kept = {f for f in files_before if where(f)[1] < report.retrained.get(where(f)[0], 99)}
    assert {where(f) for f in kept} == {(0, -1), (0, 0), (1, -1), (2, -1), (2, 0), (2, 1)}
    assert kept <= on_disk and not (files_before - kept) & on_disk
    # the raw ids are never written, only their hashes
    text = (tmp_path / "ckpt" / "checkpoints.json").read_text()
    assert id_hash(in_slice(2, 0)[0]) in text and f'"{in_slice(2, 0)[0]}"' not in text
    # and the ensemble on disk is the one trained from scratch
    assert same_weights(trained, from_scratch(data, deleted, trained, shards=3, slices=2))


def test_a_damaged_checkpoint_is_refused_in_one_line(tmp_path):
    store = DirectoryCheckpoints(tmp_path / "ckpt")
    ensemble(2, 2, checkpoints=store).fit(blobs())
    victim = tmp_path / "ckpt" / sorted(store.files())[0]
    victim.write_bytes(victim.read_bytes()[:-8] + b"\0" * 8)
    shard, slice_ = parse(victim.name)
    with pytest.raises(ValueError, match=r"shard \d, slice -?\d\) is missing or damaged: its SHA-256"):
        store.get(shard, slice_)


def test_aggregation_mean_softmax_or_vote_and_emptied_shards_do_not_vote():
    data = blobs()
    soft = ensemble(3, 1).fit(data)
    vote = ensemble(3, 1, aggregate="vote").fit(data)
    tie = ensemble(2, 1, aggregate="vote").fit(data)
    x = data.tensors[0][:5]
    with torch.no_grad():
        probs = torch.stack([m(x).softmax(-1) for m in soft.members]).mean(0)
        torch.testing.assert_close(soft(x).exp(), probs)
        shares = vote(x).exp()
        picks = torch.stack([m(x).argmax(-1) for m in vote.members])
        for i in range(5):
            counts = torch.bincount(picks[:, i], minlength=3).float() / 3
            assert torch.allclose(shares[i], counts.clamp_min(1e-12))
        # ties go to the lowest class (the reference's argmax): two shards voting differently
        picks = torch.stack([m(data.tensors[0]).argmax(-1) for m in tie.members])
        split = (picks[0] != picks[1]).nonzero().flatten()
        assert len(split)
        for i in split.tolist()[:5]:
            assert int(tie(data.tensors[0][i:i + 1]).argmax()) == int(picks[:, i].min())
    # a shard emptied by deletions no longer votes
    placed = soft.assignment.place
    shard0 = [i for i in range(len(data)) if placed[id_hash(i)][0] == 0]
    soft.unlearn(shard0)
    assert soft.active() == [1, 2]
    with torch.no_grad():
        torch.testing.assert_close(soft(x).exp(), torch.stack([soft.members[s](x).softmax(-1) for s in (1, 2)]).mean(0))


def test_bad_requests_are_refused_in_one_line():
    data = blobs(60)
    trained = ensemble(2, 2).fit(data)
    with pytest.raises(ValueError, match="1 of the 2 id\\(s\\) are not in the training data"):
        trained.unlearn([3, 999])
    trained.unlearn([3])
    with pytest.raises(ValueError, match="1 of the 1 id\\(s\\) were already deleted"):
        trained.unlearn([3])
    with pytest.raises(ValueError, match="the ids repeat"):
        ensemble(2, 2).fit(data, ids=[0] * 60)
    with pytest.raises(ValueError, match="60 examples cannot fill 8 shards x 8 slices"):
        ensemble(8, 8).fit(data)
    with pytest.raises(ValueError, match="unknown SISA aggregate 'mean'"):
        ensemble(aggregate="mean")
    with pytest.raises(ValueError, match="never trained"):
        ensemble().unlearn([1])


def test_sisa_is_a_classifier_method_whose_time_is_the_deletion(digits_class3):
    task, split, original, retrained = digits_class3
    before = copy.deepcopy(original.state_dict())
    result = obliviate.unlearn(original, split.forget, split.retain, method="sisa", seed=0, shards=2, epochs=10)
    # shards=None: the most of 8, 4, 2, 1 that keeps retain accuracy within 5 points (10 epochs on digits: 1)
    auto = obliviate.unlearn(original, split.forget, split.retain, method="sisa", seed=0, epochs=10)
    assert "SISA 1 shards x 1 slices" in auto.stop_reason and "chosen from 8/4/2/1" in auto.stop_reason
    assert "points below the model's" in result.stop_reason  # two shards at 10 epochs cost more: said so
    assert isinstance(result.model, SISAEnsemble) and len(result.model.members) == 2
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in before.items())  # the caller's model is unchanged
    from obliviate.metrics import accuracy

    assert accuracy(result.model, split.forget) == 0.0  # a class no shard model has seen any more
    assert accuracy(result.model, split.test) > 0.85  # two shard models, each on half the data, 10 epochs
    assert "SISA 2 shards x 1 slices" in result.stop_reason and "retrained 2 of 2 shards" in result.stop_reason
    trained_in = float(result.stop_reason.split("trained in ")[1].split(" s")[0])
    assert 0 < result.seconds < trained_in  # the deletion is timed, not the ensemble's own training


def test_sisa_in_bench_takes_the_task_recipe_and_the_exact_track_guards_its_ensembles(tmp_path):
    from obliviate import bench
    from obliviate.core.store import Store
    from obliviate.core.track import track_for_model

    (tmp_path / "ids.txt").write_text("5\n17\n")  # two training examples: at most two of 8 shards retrain
    plan = bench.plan("digits", f"ids:{tmp_path / 'ids.txt'}", ["retrain", "sisa"], [0], {"sisa": {"shards": "8"}})
    task = plan.task
    assert plan.hparams["sisa"] == task.recipe | {"shards": 8}  # trained as the original was
    rows = {r["method"]: r for r in bench.run(plan, Store(tmp_path / "home"), show_progress=False)}
    assert "retrained 2 of 8 shards" in rows["sisa"]["stop_reason"] or "retrained 1 of 8" in rows["sisa"]["stop_reason"]
    assert rows["sisa"]["metrics"]["seconds"] < rows["retrain"]["metrics"]["seconds"] / 2
    # SISA's price: 8 shard models of ~160 images each vote (91.7% against one model's 97.2% on this CPU)
    assert rows["sisa"]["metrics"]["test_acc"] > 85
    ens = ensemble(2, 1).fit(blobs(60))
    assert track_for_model(ens).name == "exact"
    with pytest.raises(ValueError, match="ensemble.unlearn\\(ids\\)"):
        obliviate.unlearn(ens, blobs(6), None, method="ft")


def test_a_restored_ensemble_predicts_and_deletes_as_the_one_that_was_saved(tmp_path):
    import json

    data = blobs()
    trained = ensemble(3, 2, checkpoints=DirectoryCheckpoints(tmp_path / "ckpt")).fit(data)
    trained.unlearn([4])
    (tmp_path / "record.json").write_text(json.dumps(trained.record()))
    restored = SISAEnsemble.restore(BNNet(), json.loads((tmp_path / "record.json").read_text()),
                                    DirectoryCheckpoints(tmp_path / "ckpt"))
    assert same_weights(restored, trained) and restored.active() == trained.active()
    with pytest.raises(ValueError, match="call attach\\(data, ids\\)"):
        restored.unlearn([9])
    with pytest.raises(ValueError, match="1 training example\\(s\\) of this ensemble are not in the data given"):
        restored.attach(Subset(data, list(range(1, 240))), ids=list(range(1, 240)))  # 0 is missing, 4 is deleted
    keep = [i for i in range(240) if i != 4]
    restored.attach(Subset(data, keep), ids=keep).unlearn([9])  # the deleted example need not be there
    trained.unlearn([9])
    assert same_weights(restored, trained)
    assert same_weights(restored, from_scratch(data, [4, 9], trained, shards=3, slices=2))
