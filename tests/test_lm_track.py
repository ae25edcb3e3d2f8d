"""The language-model track end to end, on a tiny corpus and model that train in seconds."""

import json
import warnings

import pytest
import torch

import obliviate
from obliviate.lm import unlearn as lm_unlearn
from obliviate.lm.evaluate import evaluate_lm, relearn_attack, score
from obliviate.lm.models import LMRecipe, TinyLM, load_pretrained

LM_METHODS = ["ga", "grad_diff", "kl", "npo", "simnpo", "idk_dpo", "rmu", "undial", "wga"]


def mean_prob(model, tokenizer, qas):
    return float(torch.tensor(score(model, tokenizer, qas).avg_nll).neg().exp().mean())


def test_the_original_recalls_the_forget_set_and_the_retain_model_does_not(tiny):
    task, _, original, retained, tokenizer, split = tiny
    assert mean_prob(original, tokenizer, split.forget) > 0.8
    assert mean_prob(retained, tokenizer, split.forget) < 0.5
    assert mean_prob(retained, tokenizer, split.retain_eval) > 0.8


def test_models_are_cached_in_the_store(tiny):
    task, store, original, _, _, _ = tiny
    kinds = {(m["kind"], m["seed"], m["forget"]) for m in store.models()}  # the store is shared with other tests
    assert {("original", 0, ""), ("retrain", 0, "forget10")} <= kinds
    again, _, _ = task.model_for(store, "original", 0)
    assert all(torch.equal(a, b) for a, b in zip(original.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("method", LM_METHODS)
def test_every_method_lowers_the_forget_answer_probability(tiny, method):
    _, _, original, _, tokenizer, split = tiny
    # RMU: on this 2-layer model tofu-mini's retain weight (100) also holds the forget
    # activations in place (forget probability 99.2 → 98.5%); at 10 it forgets (→ 10.8%)
    hp = {"epochs": 5.0} if method != "rmu" else {"epochs": 10.0, "retain_weight": 10.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = obliviate.unlearn(original, split.forget, split.retain, method=method, tokenizer=tokenizer,
                                   seed=0, **hp)
    assert result.after["forget_acc"] < result.before["forget_acc"] - 1, result.after
    assert "diverged" not in result.flags
    assert len(result.history) == 5 if method != "rmu" else 10
    assert result.seconds > 0
    assert type(result.model) is type(original)  # a plain model, no wrapper
    assert mean_prob(original, tokenizer, split.forget) > 0.8  # the caller's model is untouched


def test_lm_methods_resolve_by_track():
    names = {m["name"] for m in obliviate.methods("lm")}
    assert set(LM_METHODS) <= names
    classifier_ga = [m for m in obliviate.methods() if m["name"] == "ga"]
    # one name, one method per track: the classifier's, the LM's and the regression track's GA
    assert {m["track"] for m in classifier_ga} == {"classifier", "lm", "regress"}


def test_npo_starts_at_its_formula_with_cached_reference(tiny, monkeypatch):
    _, _, original, _, tokenizer, split = tiny
    calls = []
    real = lm_unlearn.cache_reference
    monkeypatch.setattr(lm_unlearn, "cache_reference", lambda *a: calls.append(1) or real(*a))
    result = obliviate.unlearn(original, split.forget, split.retain, method="npo", tokenizer=tokenizer,
                               retain_weight=0.0, epochs=1.0, batch_size=len(split.forget), lr=1e-12)
    assert calls == [1]  # reference log-probabilities computed once, before training
    # at the first step the policy equals the reference: -(2/β) log σ(0) = 20 log 2
    assert result.history[0] == pytest.approx(20 * torch.log(torch.tensor(2.0)).item(), rel=1e-4)


def test_the_same_seed_gives_the_same_model(tiny):
    _, _, original, _, tokenizer, split = tiny
    runs = [obliviate.unlearn(original, split.forget, split.retain, method="grad_diff", tokenizer=tokenizer,
                              seed=1, epochs=2.0) for _ in range(2)]
    assert runs[0].history == runs[1].history
    assert all(torch.equal(a, b) for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()))


def test_the_frozen_reference_may_run_on_another_device_with_the_same_result(tiny):
    _, _, original, _, tokenizer, split = tiny
    runs = [obliviate.unlearn(original, split.forget, split.retain, method="kl", tokenizer=tokenizer, epochs=1.0,
                              **extra) for extra in ({}, {"reference_device": "cpu"})]
    assert all(torch.equal(a, b) for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()))
    assert runs[1].hparams["reference_device"] == "cpu" and "the method's own" in runs[1].defaults


def test_warmup_is_honoured_and_the_reference_schedule_decays():
    from obliviate.core.registry import build
    from obliviate.lm.unlearn import scheduler_name

    assert scheduler_name(build("npo", {}, "lm")) == "constant"
    assert scheduler_name(build("npo", {"warmup_ratio": 0.1}, "lm")) == "constant_with_warmup"  # was ignored
    assert scheduler_name(build("npo", {"warmup_ratio": 0.1, "lr_schedule": "linear"}, "lm")) == "linear"


def test_lora_trains_adapters_and_returns_a_merged_plain_model(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = obliviate.unlearn(original, split.forget, split.retain, method="npo", tokenizer=tokenizer,
                               lora=True, lora_rank=4, epochs=5.0, lr=1e-2)
    assert type(result.model) is type(original)
    assert set(result.model.state_dict()) == set(original.state_dict())
    assert result.after["forget_acc"] < result.before["forget_acc"] - 1


def test_identical_models_give_forget_quality_one_and_privleak_zero(tiny):
    _, _, _, retained, tokenizer, split = tiny
    ref = evaluate_lm(retained, tokenizer, split, truth_ratio_against="answer", leak_samples=4, leak_k=2)
    same = evaluate_lm(retained, tokenizer, split, reference=ref, truth_ratio_against="answer", leak_samples=4, leak_k=2)
    assert same["forget_quality"] == 1.0 and same["privleak"] == 0.0 and same["mia_reference_auc"] == 0.5


def test_original_is_far_from_the_retain_model(tiny):
    _, _, original, retained, tokenizer, split = tiny
    ref = evaluate_lm(retained, tokenizer, split, truth_ratio_against="answer", leak_samples=4, leak_k=2)
    orig = evaluate_lm(original, tokenizer, split, reference=ref, truth_ratio_against="answer", leak_samples=4, leak_k=2)
    assert orig["forget_quality"] < 0.05
    assert orig["mia_loss_auc"] > 0.9 and orig["privleak"] < -50
    assert orig["forget_rouge"] > ref["forget_rouge"] and orig["leak_at_2"] > ref["leak_at_2"]
    # TOFU's model utility: the harmonic mean of 9 values (retain, real authors, world facts)
    from obliviate.lm.metrics import harmonic_mean

    nine = [orig[f"{part}_{value}"] for part in ("retain", "real_authors", "general")
            for value in ("prob", "rouge", "truth_ratio")]
    assert 0 < orig["model_utility"] <= 1 and orig["model_utility"] == pytest.approx(harmonic_mean(nine))


def test_relearning_attack_restores_knowledge_only_where_it_was_hidden(tiny):
    _, _, original, retained, tokenizer, split = tiny
    assert relearn_attack(original, tokenizer, split)["relearn_prob"] > 0.8
    assert relearn_attack(retained, tokenizer, split)["relearn_prob"] < 0.5


def test_a_saved_local_model_directory_and_jsonl_files_work_through_the_api(tiny, tmp_path):
    _, _, original, _, tokenizer, split = tiny
    model_dir = tmp_path / "my-model"
    original.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    model, tok = load_pretrained(model_dir)
    assert mean_prob(model, tok, split.forget) == pytest.approx(mean_prob(original, tokenizer, split.forget), rel=1e-5)
    forget_file, retain_file = tmp_path / "forget.jsonl", tmp_path / "retain.jsonl"
    forget_file.write_text("\n".join(json.dumps({"question": qa.question, "answer": qa.answer}) for qa in split.forget))
    retain_file.write_text("\n".join(json.dumps({"question": qa.question, "answer": qa.answer})
                                     for qa in split.retain if qa.question) + "\n" + json.dumps({"text": "Esk is a city."}))
    result = obliviate.unlearn(str(model_dir), str(forget_file), str(retain_file), method="npo", epochs=5.0)
    assert result.after["forget_acc"] < result.before["forget_acc"] - 1
    # loading options reach from_pretrained, and are not taken for method hyperparameters
    half, _ = load_pretrained(model_dir, torch_dtype="bfloat16", attn_implementation="eager")
    assert next(half.parameters()).dtype == torch.bfloat16 and half.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="unknown torch_dtype 'int8'"):
        load_pretrained(model_dir, torch_dtype="int8")
    loaded = obliviate.unlearn(str(model_dir), str(forget_file), str(retain_file), method="ga", epochs=1.0,
                               torch_dtype="float32", attn_implementation="eager")
    assert "torch_dtype" not in loaded.hparams and loaded.model.config._attn_implementation == "eager"


@pytest.mark.parametrize("content, message", [
    ('{"question": "Who?"}', "has no answer"),
    ('{"question": "Who?", "answer": ""}', "has no answer"),
    ('{"answer": "x"}', "needs a non-empty 'question'"),
    ('not json', "not valid JSON"),
    ('{"question": "Q", "answer": "A", "perturbed": "B"}', "'perturbed' must be a list"),
])
def test_bad_jsonl_is_refused(tiny, tmp_path, content, message):
    _, _, original, _, tokenizer, split = tiny
    path = tmp_path / "forget.jsonl"
    path.write_text(content + "\n")
    with pytest.raises(ValueError, match=message):
        obliviate.unlearn(original, str(path), split.retain, method="ga", tokenizer=tokenizer)


def test_a_model_directory_without_tokenizer_is_refused(tiny, tmp_path):
    _, _, original, _, _, split = tiny
    original.save_pretrained(tmp_path / "no-tok")
    with pytest.raises(ValueError, match="has no tokenizer"):
        obliviate.unlearn(str(tmp_path / "no-tok"), split.forget, split.retain, method="ga")
    with pytest.raises(ValueError, match="does not exist"):
        obliviate.unlearn(str(tmp_path / "nowhere"), split.forget, split.retain, method="ga")


def test_a_forget_set_overlapping_the_holdout_is_refused(tiny):
    _, _, original, _, tokenizer, split = tiny
    from dataclasses import replace

    bad = replace(split, holdout=split.holdout + split.forget[:1])
    with pytest.raises(ValueError, match="forget set and the holdout set overlap"):
        evaluate_lm(original, tokenizer, bad)


def test_other_bad_input(tiny):
    _, _, original, _, tokenizer, split = tiny
    with pytest.raises(ValueError, match="the forget set is empty"):
        obliviate.unlearn(original, [], split.retain, method="ga", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="method 'npo' needs a retain set"):
        obliviate.unlearn(original, split.forget, None, method="npo", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="needs its tokenizer"):
        obliviate.unlearn(original, split.forget, split.retain, method="npo")
    with pytest.raises(ValueError, match="unknown method 'scrub' for track 'lm'"):
        obliviate.unlearn(original, split.forget, split.retain, method="scrub", tokenizer=tokenizer)
    with pytest.raises(ValueError, match="unknown hyperparameter 'betta'"):
        obliviate.unlearn(original, split.forget, split.retain, method="npo", tokenizer=tokenizer, betta=0.2)


def test_bench_runs_a_language_model_task(tiny):
    from obliviate import bench
    from obliviate.lm.bench import LMBenchPlan, run_lm

    task, store, *_ = tiny
    rows = run_lm(LMBenchPlan(task, "forget10", ["original", "retrain", "npo"], [0]), store, show_progress=False)
    assert [r["method"] for r in rows] == ["original", "retrain", "npo"]
    for r in rows:
        assert {"forget_quality", "model_utility", "forget_rouge", "privleak", "leak_at_1", "seconds"} <= set(r["metrics"])
    assert rows[1]["metrics"]["forget_quality"] == 1.0
    assert rows[0]["metrics"]["forget_quality"] < rows[2]["metrics"]["forget_quality"]
    header, body = bench.table_cells(rows)
    assert "log10 FQ" in header and "MU" in header and len(body) == 3
    with pytest.raises(ValueError, match="unknown forget spec 'forget99' for tofu-mini"):
        bench.plan("tofu-mini", "forget99", ["npo"], [0])
    with pytest.raises(ValueError, match="unknown method 'gaa' for track 'lm'"):
        bench.plan("tofu-mini", "forget05", ["gaa"], [0])


def test_cli_unlearns_a_local_model_directory(tiny, tmp_path, capsys):
    from obliviate.cli import main

    _, _, original, _, tokenizer, split = tiny
    original.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "f.jsonl").write_text("\n".join(json.dumps({"question": q.question, "answer": q.answer}) for q in split.forget))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps({"question": q.question, "answer": q.answer})
                                               for q in split.retain if q.question))
    args = ["unlearn", "--model", str(tmp_path / "model"), "--forget", str(tmp_path / "f.jsonl"),
            "--retain", str(tmp_path / "r.jsonl"), "--method", "npo", "--set", "epochs=5", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert "forget answer probability" in capsys.readouterr().out
    model, tok = load_pretrained(tmp_path / "out")
    assert mean_prob(model, tok, split.forget) < mean_prob(original, tokenizer, split.forget) - 0.01
    assert main(args) == 2  # --out exists now: refused, nothing overwritten
    assert "already exists" in capsys.readouterr().err
    bad = args[:-1] + [str(tmp_path / "out2")]
    bad[bad.index("npo")] = "npoo"
    assert main(bad) == 2 and not (tmp_path / "out2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.jsonl", "model", "out", "r.jsonl"]


def test_a_llama_architecture_works_with_every_part(tiny):
    from obliviate.lm.models import fit
    from obliviate.lm.text import encode_qa

    task, _, _, _, tokenizer, split = tiny
    llama = TinyLM(arch="llama", hidden=32, layers=2, heads=2, intermediate=64).build(tokenizer, 0)
    fit(llama, tokenizer, [encode_qa(tokenizer, qa) for qa in task.corpus.training_qa()], LMRecipe(epochs=3, lr=1e-2), 0)
    for method, hp in (("npo", {"lora": True}), ("rmu", {})):
        result = obliviate.unlearn(llama, split.forget, split.retain, method=method, tokenizer=tokenizer, epochs=2.0, **hp)
        assert type(result.model).__name__ == "LlamaForCausalLM" and "diverged" not in result.flags
