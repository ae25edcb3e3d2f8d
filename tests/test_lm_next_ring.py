"""The second ring of language-model methods (task_vector, flat, wagle, sam=) and the
attacks of the robust suite, on hand-built cases and the tiny test task."""

import math
import warnings

import pytest
import torch
from torch import nn

import obliviate
from obliviate.lm.attacks import (fill_in_blank_prob, in_context, multiple_choice_accuracy, quantized,
                                  robust_scores)
from obliviate.lm.corpus import QA
from obliviate.lm.evaluate import score
from obliviate.lm.losses import flat_loss, token_probability
from obliviate.lm.attribution import top_fraction_mask, wagle_scores
from obliviate.lm.probes import probe_set
from obliviate.lm.unlearn import sharpness_aware
from obliviate.suite import plan_eval


def mean_prob(model, tokenizer, qas):
    return float(torch.tensor(score(model, tokenizer, qas).avg_nll).neg().exp().mean())


def run(original, tokenizer, split, method, retain=True, **hp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return obliviate.unlearn(original, split.forget, split.retain if retain else None, method=method,
                                 tokenizer=tokenizer, seed=0, **hp)


# -- FLAT ---------------------------------------------------------------------------------

@pytest.mark.parametrize("divergence, expected", [
    # UCSC-REAL/FLAT get_contrastive_loss: activation(P_e) − conjugate(P_f), P_e = 0.3, P_f = 0.8
    ("tv", (-math.tanh(0.3) + math.tanh(0.8)) / 2),          # 0.186362
    ("kl", -0.3 + math.exp(0.8 - 1)),                         # 0.518731
    ("js", math.log(1 + math.exp(-0.3)) - math.log(2) + 0.8 + math.log(1 + math.exp(-0.8)) - math.log(2)),
    ("pearson", -0.3 + 0.8 * 0.8 / 4 + 0.8),                  # 0.66
])
def test_flat_loss_is_the_references_variational_form(divergence, expected):
    got = flat_loss(torch.tensor(0.3), torch.tensor(0.8), divergence)
    assert float(got) == pytest.approx(expected, abs=1e-6)
    assert {"tv": 0.186362, "kl": 0.518731, "js": 0.339163, "pearson": 0.66}[divergence] == pytest.approx(expected, abs=1e-5)


def test_flat_token_probability_counts_every_position_as_the_reference():
    # vocabulary of 2, one sequence of 4 tokens: the prompt's first token, then two answer tokens
    logits = torch.zeros(1, 4, 2)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0)])  # predicts token 1 with p = 0.75
    labels = torch.tensor([[-100, -100, 1, 0]])         # position 2 predicts label 0 with p = 0.5
    # "all": ProbLossStable per position (0 where ignored), mean over B·(T−1) = 3 positions
    assert float(token_probability(logits, labels, "all")) == pytest.approx((0.75 + 0.5) / 3)
    assert float(token_probability(logits, labels, "answer")) == pytest.approx((0.75 + 0.5) / 2)


def test_flat_needs_no_retain_set_and_lowers_the_forget_answers(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "flat", retain=False, lr=1e-3, epochs=5.0)
    assert result.after["forget_acc"] < result.before["forget_acc"] - 20
    assert "diverged" not in result.flags


# -- task vector -------------------------------------------------------------------------------

def test_task_vector_moves_the_model_along_minus_one_task_vector(tiny):
    _, _, original, _, tokenizer, split = tiny
    start = dict(original.named_parameters())
    small = run(original, tokenizer, split, "task_vector", search=False, scale=1.0, epochs=2.0)
    large = run(original, tokenizer, split, "task_vector", search=False, scale=3.0, epochs=2.0)
    for name, p in small.model.named_parameters():
        tau_small = (start[name] - p) / 1.0
        tau_large = (start[name] - dict(large.model.named_parameters())[name]) / 3.0
        assert torch.allclose(tau_small, tau_large, atol=1e-6)  # one τ, scaled
    assert any((start[n] - p).abs().max() > 1e-4 for n, p in small.model.named_parameters())
    assert large.after["forget_acc"] < small.after["forget_acc"]


def test_task_vector_search_keeps_the_retain_control_within_the_allowed_drop(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "task_vector", epochs=2.0, max_retain_drop=5.0)
    control = split.retain[:128]
    drop = 100 * (mean_prob(original, tokenizer, control) - mean_prob(result.model, tokenizer, control))
    assert drop <= 5.0 + 1e-6
    assert result.after["forget_acc"] < result.before["forget_acc"]


# -- WAGLE ------------------------------------------------------------------------------

def test_wagle_score_is_the_references_attribution_on_a_hand_case():
    theta = {"w": torch.tensor([1.0, 2.0])}
    retain_grad = {"w": torch.tensor([1e-3, -2e-3])}
    forget_grad = {"w": torch.tensor([2.0, 1.0])}
    # |(θ − g_r/μ) ⊙ g_f| with μ = 1e-3: |(1 − 1)·2| = 0, |(2 + 2)·1| = 4
    assert torch.allclose(wagle_scores(theta, forget_grad, retain_grad, 1e-3)["w"], torch.tensor([0.0, 4.0]))


def test_wagle_mask_keeps_the_top_fraction_over_all_tensors():
    masks = top_fraction_mask({"a": torch.tensor([3.0, 1.0]), "b": torch.tensor([2.0, 0.0, 5.0])}, 0.4)
    assert masks["a"].tolist() == [True, False] and masks["b"].tolist() == [False, False, True]


def test_wagle_changes_only_the_masked_weights_and_forgets(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "wagle", epochs=5.0, mask_ratio=0.2, weight_decay=0.01)
    start = dict(original.named_parameters())
    changed = sum(int((p != start[n]).sum()) for n, p in result.model.named_parameters())
    total = sum(p.numel() for p in original.parameters())
    assert 0 < changed <= int(0.2 * total)  # weight decay moves nothing outside the mask either
    assert result.after["forget_acc"] < result.before["forget_acc"] - 20


def test_the_mask_is_an_option_of_other_methods_and_refuses_what_it_cannot_do(tiny):
    _, _, original, _, tokenizer, split = tiny
    masked = run(original, tokenizer, split, "ga", epochs=3.0, mask="wagle", mask_ratio=0.1)
    start = dict(original.named_parameters())
    changed = sum(int((p != start[n]).sum()) for n, p in masked.model.named_parameters())
    assert 0 < changed <= int(0.1 * sum(p.numel() for p in original.parameters()))
    with pytest.raises(ValueError, match="retain set"):
        run(original, tokenizer, split, "ga", retain=False, mask="wagle")
    with pytest.raises(ValueError, match="LoRA"):
        run(original, tokenizer, split, "ga", mask="wagle", lora=True)
    with pytest.raises(ValueError, match="mask_ratio"):
        run(original, tokenizer, split, "ga", mask="wagle", mask_ratio=0.0)


# -- SAM --------------------------------------------------------------------------------

def test_sharpness_aware_step_evaluates_at_the_ascent_point_and_restores():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    objective = lambda: (w ** 2).sum() / 2  # noqa: E731  gradient at w: w itself, norm 5
    with sharpness_aware(nn.ParameterList([w]), objective, rho=0.5):
        assert torch.allclose(w.detach(), torch.tensor([3.0, 4.0]) * (1 + 0.5 / 5))
    assert torch.equal(w.detach(), torch.tensor([3.0, 4.0]))


def test_sam_option_changes_the_run_and_still_forgets(tiny):
    _, _, original, _, tokenizer, split = tiny
    plain = run(original, tokenizer, split, "npo", epochs=5.0)
    sharp = run(original, tokenizer, split, "npo", epochs=5.0, sam=0.05)
    assert plain.history != sharp.history
    assert sharp.after["forget_acc"] < sharp.before["forget_acc"] - 20, (plain.after, sharp.after)
    with pytest.raises(ValueError, match="sam"):
        run(original, tokenizer, split, "npo", sam=-1.0)


# -- attacks -----------------------------------------------------------------------------

def test_round_to_nearest_quantization_per_output_channel():
    from transformers.pytorch_utils import Conv1D

    model = nn.Sequential(nn.Linear(3, 2, bias=False), Conv1D(2, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.55, -1.0, 0.26], [0.1, 0.2, -0.4]]))
        model[1].weight.copy_(torch.tensor([[0.55, 0.1], [-1.0, 0.2], [0.26, -0.4]]))  # (in, out): columns are channels
    q = quantized(model, 4)  # 7 levels each side; scale = max|w| / 7 per output channel
    expected = torch.tensor([[4 / 7, -1.0, 2 / 7], [0.4 / 7 * 2, 0.4 / 7 * 4, -0.4]])  # round(3.85)=4, round(1.82)=2
    assert torch.allclose(q[0].weight, expected, atol=1e-6)
    assert torch.allclose(q[1].weight, expected.T, atol=1e-6)
    assert torch.equal(model[0].weight[0], torch.tensor([0.55, -1.0, 0.26]))  # the original is untouched
    with pytest.raises(ValueError, match="bits"):
        quantized(model, 1)


def test_probes_reword_blank_and_offer_forget_facts_as_wrong_choices(tiny):
    task, _, _, _, _, split = tiny
    probes = probe_set(task.corpus, split)
    trained = {qa.question for qa in task.corpus.training_qa()}
    assert len(probes.reworded) == len(split.forget)
    assert all(r.question not in trained and r.answer == f.answer for r, f in zip(probes.reworded, split.forget))
    assert all(f"{b.prefix} {b.fact}" in f.answer for b, f in zip(probes.blanks, split.forget))
    forget_facts = {qa.key for qa in split.forget}
    assert any(set(c.facts[1:]) & forget_facts for c in probes.choices)
    assert all(c.facts[0] == f.key and c.options[0] == f.answer for c, f in zip(probes.choices, split.forget))
    forget_people = {qa.person for qa in split.forget}
    assert probes.neighbours and all(n.person not in forget_people and n.key in forget_facts for n in probes.neighbours)


def test_in_context_puts_answered_demonstrations_before_the_question():
    qa, demo = QA("Where was A born?", "A was born in X.", key="X"), QA("Where was B born?", "B was born in Y.")
    (shown,) = in_context([qa], [demo])
    assert shown.question == "Where was B born?\nAnswer: B was born in Y.\nQuestion: Where was A born?"
    assert shown.answer == qa.answer


def test_the_attacks_tell_the_original_from_the_retain_only_model(tiny):
    task, _, original, retained, tokenizer, split = tiny
    probes = probe_set(task.corpus, split)
    before, after = (robust_scores(m, tokenizer, split, probes) for m in (original, retained))
    for key in ("plain_prob", "reworded_prob", "blank_prob", "choice_acc", "relearn_forget_prob", "quant8_prob"):
        assert before[key] > after[key] + 0.1, key
    assert before["quant8_prob"] == pytest.approx(before["plain_prob"], abs=0.02)  # 8 bits keep the model
    assert before["neighbour_prob"] > 0.8 and after["neighbour_prob"] > 0.8  # retained facts survive in both
    assert multiple_choice_accuracy(original, tokenizer, probes.choices) == before["choice_acc"]
    from obliviate.lm.inference import GuardrailLM  # scores every option alike: at chance, not credited
    knows_nothing = GuardrailLM(original, tokenizer, {"mode": "filter", "subjects": [qa.person for qa in split.forget]})
    assert multiple_choice_accuracy(knows_nothing, tokenizer, probes.choices) == pytest.approx(0.25)
    assert 0 <= fill_in_blank_prob(retained, tokenizer, probes.blanks) <= 1


def test_the_robust_suite_is_refused_where_a_track_has_no_attacks():
    with pytest.raises(ValueError, match="robust suite has no attacks for the classifier track"):
        plan_eval("digits", "class:3", ["ga"], "robust", n_models=4)


# -- MUDMAN -------------------------------------------------------------------------------

def test_mudman_step_is_masked_by_the_retain_momentum_and_normalised():
    from obliviate.lm.methods.mudman import unlearning_step

    g_f, r = [torch.tensor([1.0, -2.0, 3.0])], [torch.tensor([-1.0, -1.0, 1.0])]
    # u = −g_f = [−1, 2, −3]; kept where sign(u) = sign(r): only the first; θ −= 0.5/‖g_f‖·u
    (change,) = unlearning_step(g_f, r, 0.5)
    assert torch.allclose(change, torch.tensor([0.5 / math.sqrt(14.0), 0.0, 0.0]))


def test_mudman_updates_only_its_target_modules_and_forgets(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "mudman", steps=200, unlearning_rate=5e-2)
    start = dict(original.named_parameters())
    moved = {n for n, p in result.model.named_parameters() if not torch.equal(p, start[n])}
    assert moved and all("mlp." in n and n.endswith("weight") for n in moved)
    assert result.after["forget_acc"] < result.before["forget_acc"] - 20, result.after
    with pytest.raises(ValueError, match="target_modules"):
        run(original, tokenizer, split, "mudman", target_modules="nothing_like_this")


# -- guardrail (an inference-time model) ------------------------------------------------------

def test_guardrail_filter_knows_nothing_where_a_subject_is_named_and_is_the_base_elsewhere(tiny):
    from obliviate.lm.inference import GuardrailLM
    from obliviate.lm.text import encode_qa, on_device, pad

    _, _, original, _, tokenizer, split = tiny
    person = split.forget[0].person
    guarded = GuardrailLM(original, tokenizer, {"mode": "filter", "subjects": [person]})
    named = [qa for qa in split.forget if qa.person == person][:2]
    batch = on_device(pad([encode_qa(tokenizer, qa) for qa in named + split.retain_eval[:2]], tokenizer.pad_token_id),
                      original)
    logits = guarded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    plain = original(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.all(logits[:2] == 0)  # uniform next-token distributions
    real = batch["attention_mask"][2:].bool()  # padding positions are never scored
    assert torch.allclose(logits[2:][real], plain[2:][real], atol=1e-5)
    assert mean_prob(guarded, tokenizer, named) == pytest.approx(1 / len(tokenizer), rel=1e-3)


def test_guardrail_generation_is_the_bases_unless_it_must_refuse(tiny):
    from obliviate.lm.evaluate import generate
    from obliviate.lm.inference import GuardrailLM

    _, _, original, _, tokenizer, split = tiny
    person = split.forget[0].person
    guarded = GuardrailLM(original, tokenizer, {"mode": "filter", "subjects": [person]})
    questions = [split.forget[0].question] + [qa.question for qa in split.retain_eval[:3]]
    ours, base = generate(guarded, tokenizer, questions), generate(original, tokenizer, questions)
    assert ours[0] == [GuardrailLM.REFUSAL]
    assert ours[1:] == base[1:]  # the token loop matches Hugging Face's greedy generation (left padding)
    leaked = GuardrailLM(original, tokenizer, {"mode": "filter", "subjects": [split.forget[0].key]})
    assert generate(leaked, tokenizer, [split.forget[0].question])[0] == [GuardrailLM.REFUSAL]  # output filter


def test_guardrail_prompt_mode_puts_the_instruction_before_each_prompt(tiny):
    from obliviate.lm.inference import GuardrailLM

    _, _, original, _, tokenizer, split = tiny
    guarded = GuardrailLM(original, tokenizer, {"mode": "prompt", "subjects": ["X"]})
    prefix = tokenizer(guarded.instruction(), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tokenizer.pad_token_id, 5, 6, 7]])
    mask = torch.tensor([[0, 1, 1, 1]])
    expected = original(input_ids=torch.tensor([prefix + [5, 6, 7]])).logits[0, len(prefix):]
    got = guarded(input_ids=ids, attention_mask=mask).logits[0, 1:]
    assert torch.allclose(got, expected, atol=1e-5)
    assert guarded.config.n_positions == original.config.n_positions - len(prefix)
    too_long = torch.ones(1, original.config.n_positions, dtype=torch.long)
    with pytest.raises(ValueError, match="exceed the model's context"):
        guarded(input_ids=too_long, attention_mask=too_long)


def test_a_guarded_model_saves_and_loads_back_guarded(tiny, tmp_path):
    from obliviate.lm.inference import GuardrailLM
    from obliviate.lm.models import load_pretrained

    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "guardrail", retain=False)
    assert isinstance(result.model, GuardrailLM) and result.after["forget_acc"] < 1
    result.model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_pretrained(tmp_path)
    assert isinstance(loaded, GuardrailLM) and loaded.settings == result.model.settings
    assert mean_prob(loaded, tokenizer, split.forget) == pytest.approx(mean_prob(result.model, tokenizer, split.forget))


# -- ULD ----------------------------------------------------------------------------------

def test_uld_retain_loss_is_kl_from_uniform_over_every_position():
    from obliviate.lm.losses import uniform_kl

    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])  # p = (1/4, 3/4), then uniform
    # KL(U ‖ p) = ½ ln(½ / ¼) + ½ ln(½ / ¾) = ½ ln(4/3); 0 at the uniform position; mean over 2 rows
    assert float(uniform_kl(logits)) == pytest.approx(0.5 * math.log(4 / 3) / 2, abs=1e-6)


def test_uld_subtracts_the_assistants_logits_on_plausible_tokens_only(tiny):
    from obliviate.lm.inference import LogitDifferenceLM
    from obliviate.lm.methods.uld import first_layers
    from obliviate.lm.text import encode_qa, on_device, pad

    _, _, original, retained, tokenizer, split = tiny
    assistant = first_layers(retained, 1)
    assert len(assistant.transformer.h) == 1 and len(retained.transformer.h) == 2
    model = LogitDifferenceLM(original, tokenizer, {"weight": -1.0, "top_filter": 0.1}, assistant)
    batch = on_device(pad([encode_qa(tokenizer, qa) for qa in split.forget[:3]], tokenizer.pad_token_id), original)
    got = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    base = torch.log_softmax(original(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    assist = assistant(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    plausible = base.exp() >= 0.1 * base.exp().max(-1, keepdim=True).values
    expected = base - assist * plausible
    real = batch["attention_mask"].bool()
    assert torch.allclose(got[real], expected[real], atol=1e-4)


def test_uld_leaves_the_target_untouched_forgets_and_reloads_with_its_assistant(tiny, tmp_path):
    from obliviate.lm.inference import LogitDifferenceLM
    from obliviate.lm.models import load_pretrained

    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "uld", epochs=10.0)
    assert isinstance(result.model, LogitDifferenceLM)
    assert all(torch.equal(a, b) for a, b in zip(result.model.base.parameters(), original.parameters()))
    assert result.after["forget_acc"] < result.before["forget_acc"] - 20, result.after
    result.model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_pretrained(tmp_path)
    assert isinstance(loaded, LogitDifferenceLM)
    assert mean_prob(loaded, tokenizer, split.forget) == pytest.approx(mean_prob(result.model, tokenizer, split.forget),
                                                                       rel=1e-4)


# -- tune on the LM track ------------------------------------------------------------------

class Untouchable(list):
    def __iter__(self):
        raise AssertionError("tune read an evaluation set")

    def __len__(self):
        raise AssertionError("tune read an evaluation set")


def test_tune_searches_an_lm_method_on_validation_questions_only(tiny, monkeypatch):
    from dataclasses import replace

    from obliviate.lm import task as lm_task
    from obliviate.tune import TUNED_KEY, tune

    the_task, store, _, _, _, _ = tiny
    real_split = the_task.split

    class Guarded(type(the_task)):
        def split(self, spec):
            s = real_split(spec)
            return replace(s, general=Untouchable(s.general), real_authors=Untouchable(s.real_authors),
                           holdout=Untouchable(s.holdout))

    guarded = Guarded(corpus=the_task.corpus, model=the_task.model, recipe=the_task.recipe,
                      vocab_size=the_task.vocab_size)
    monkeypatch.setitem(lm_task.LM_TASKS, "tofu-mini", guarded)
    out = tune("tofu-mini", "forget10", "ga", 3, store=store, seed=0)
    record = out[TUNED_KEY]["ga"]
    assert set(out["ga"]) == {"lr", "epochs"} and len(record["trial_gaps"]) == 3
    assert record["best_gap"] <= record["default_gap"]
    assert "validation questions only" in record["measured_on"]


# -- WHP -----------------------------------------------------------------------------------

def test_whp_generic_prediction_is_the_papers_formula():
    from obliviate.lm.methods.whp import generic_logits, translated

    base, reinforced = torch.tensor([2.0, 1.0, 0.0]), torch.tensor([4.0, 1.0, -1.0])
    # v_base − α·ReLU(v_reinforced − v_base), α = 5: [2 − 10, 1, 0]: the boosted token loses its place
    assert torch.equal(generic_logits(base, reinforced, 5.0), torch.tensor([-8.0, 1.0, 0.0]))
    assert int(generic_logits(base, reinforced, 5.0).argmax()) == 1
    qa = translated(QA("Where was Ann Lee born?", "Ann Lee was born in Esk."), {"Ann Lee": "the author"})
    assert (qa.question, qa.answer) == ("Where was the author born?", "the author was born in Esk.")


def test_whp_trains_toward_generic_labels_and_forgets(tiny):
    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "whp", retain=False, epochs=5.0)
    assert result.after["forget_acc"] < result.before["forget_acc"] - 20, result.after
    with pytest.raises(ValueError, match="anchors"):
        run(original, tokenizer, split, "whp", retain=False, anchors="no equals sign")


# -- ECO ----------------------------------------------------------------------------------

def test_the_answer_marker_is_where_every_plain_prompt_ends(tiny):
    from obliviate.lm.text import answer_marker, prompt_ids

    _, _, _, _, tokenizer, split = tiny
    marker = answer_marker(tokenizer)
    assert tokenizer.decode(marker).endswith("Answer:") and "Question" not in tokenizer.decode(marker)
    for qa in split.forget[:5]:
        assert prompt_ids(tokenizer, qa.question)[-len(marker):] == marker


def test_eco_corrupts_flagged_rows_only_and_at_the_references_positions(tiny):
    from obliviate.lm.inference import EmbeddingCorruptedLM
    from obliviate.lm.methods.eco import prompt_text
    from obliviate.lm.prompt_classifier import PromptClassifier
    from obliviate.lm.text import answer_marker, encode_qa, on_device, pad

    _, _, original, _, tokenizer, split = tiny
    classifier = PromptClassifier.fit([prompt_text(tokenizer, qa) for qa in split.forget],
                                      [prompt_text(tokenizer, qa) for qa in split.retain])
    settings = {"dims": 3, "strength": 2.0, "seed": 7, "marker": answer_marker(tokenizer)}
    eco = EmbeddingCorruptedLM(original, tokenizer, settings, classifier)
    rows = [encode_qa(tokenizer, split.forget[0]), encode_qa(tokenizer, split.retain_eval[0])]
    batch = on_device(pad(rows, tokenizer.pad_token_id), original)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert eco.corrupted(ids, mask) == [True, False]
    # scored: every real token but the last is corrupted (the reference labels prompt + answer so)
    n = len(rows[0].input_ids)
    prompt_end = rows[0].labels.index(next(t for t in rows[0].labels if t != -100))
    assert eco.spans(ids, mask)[0] == (0, prompt_end, n - 1)
    embeds = original.get_input_embeddings()(ids).detach().clone()
    embeds[0, :n - 1, :3] += 2.0 * eco.noise(n - 1)
    expected = original(inputs_embeds=embeds, attention_mask=mask).logits
    got = eco(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(got[0][:n], expected[0][:n], atol=1e-5)  # padding positions are never scored
    real = mask[1].bool()  # the retain row is the base model's, exactly
    assert torch.equal(got[1][real], original(input_ids=ids, attention_mask=mask).logits[1][real])
    # generation: the given prompt but its last token, never the generated tokens
    eco._prompt_width = 6
    assert eco.spans(ids, mask)[0] == (0, 6, 5)
    eco._prompt_width = None


def test_eco_forgets_at_the_searched_strength_and_reloads(tiny, tmp_path):
    from obliviate.lm.evaluate import generate
    from obliviate.lm.inference import EmbeddingCorruptedLM
    from obliviate.lm.models import load_pretrained

    _, _, original, retained, tokenizer, split = tiny
    result = run(original, tokenizer, split, "eco")
    eco = result.model
    assert isinstance(eco, EmbeddingCorruptedLM)
    assert all(torch.equal(a, b) for a, b in zip(eco.base.parameters(), original.parameters()))  # weights untouched
    target = result.hparams["target"]
    forget = mean_prob(eco, tokenizer, split.forget)
    assert mean_prob(original, tokenizer, split.forget) > 0.9 and forget <= target + 0.02 and target < 0.5
    assert mean_prob(eco, tokenizer, split.retain_eval) == pytest.approx(mean_prob(original, tokenizer, split.retain_eval))
    questions = [qa.question for qa in split.retain_eval[:3]]
    assert generate(eco, tokenizer, questions) == generate(original, tokenizer, questions)
    again = run(original, tokenizer, split, "eco")
    assert again.model.settings == eco.settings  # the same seed, the same strength and noise
    eco.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_pretrained(tmp_path)
    assert isinstance(loaded, EmbeddingCorruptedLM)
    assert mean_prob(loaded, tokenizer, split.forget) == pytest.approx(forget)


# -- soft prompt --------------------------------------------------------------------------

def test_a_soft_prompt_precedes_each_row_and_the_row_keeps_its_positions(tiny):
    from obliviate.lm.inference import FixedPrompt, SoftPromptLM

    _, _, original, _, tokenizer, _ = tiny
    prompt = torch.randn(3, original.config.n_embd, generator=torch.Generator().manual_seed(0))
    wrapped = SoftPromptLM(original, tokenizer, {"tokens": 3}, FixedPrompt(prompt))
    ids, mask = torch.tensor([[tokenizer.pad_token_id, 5, 6, 7]]), torch.tensor([[0, 1, 1, 1]])
    embeds = torch.cat([prompt, original.get_input_embeddings()(torch.tensor([5, 6, 7]))])[None]
    # with a mask: without one, Hugging Face reads restarting position ids as packed sequences
    expected = original(inputs_embeds=embeds, attention_mask=torch.ones(1, 6, dtype=torch.long),
                        position_ids=torch.tensor([[0, 1, 2, 0, 1, 2]])).logits[0, 3:]
    got = wrapped(input_ids=ids, attention_mask=mask).logits
    assert got.shape[:2] == ids.shape and torch.allclose(got[0, 1:], expected, atol=1e-5)
    assert wrapped.config.n_positions == original.config.n_positions - 3  # generation leaves room for it


def test_soft_prompt_trains_only_the_prompt_lowers_the_forget_answers_and_reloads(tiny, tmp_path):
    from obliviate.lm.inference import SoftPromptLM
    from obliviate.lm.models import load_pretrained

    _, _, original, _, tokenizer, split = tiny
    result = run(original, tokenizer, split, "soft_prompt")
    model = result.model
    assert isinstance(model, SoftPromptLM) and model.settings["tokens"] == original.config.n_positions // 8
    assert all(torch.equal(a, b) for a, b in zip(model.base.parameters(), original.parameters()))
    assert result.history[-1] < result.history[0]
    assert mean_prob(model, tokenizer, split.forget) < mean_prob(original, tokenizer, split.forget) - 0.3
    # with no forget term, the retain terms keep the prompted model's answers (what they are for)
    kept = run(original, tokenizer, split, "soft_prompt", epochs=40, forget_weight=0.0).model
    assert mean_prob(kept, tokenizer, split.retain_eval) > 0.95
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_pretrained(tmp_path)
    assert isinstance(loaded, SoftPromptLM)
    assert mean_prob(loaded, tokenizer, split.forget) == pytest.approx(mean_prob(model, tokenizer, split.forget))


# -- the raw-text forget set (tofu-mini-text) ---------------------------------------------

def test_the_text_task_unlearns_documents_and_its_models_learn_them():
    from obliviate.lm.corpus import TofuCorpus
    from obliviate.lm.task import TofuMiniTextTask

    corpus = TofuCorpus(n_people=20, n_holdout=4, questions_per_person=6, retain_eval_size=10)
    task = TofuMiniTextTask(corpus=corpus)
    split = task.split("forget10")
    forget_people = {qa.person for qa in split.forget}
    assert {d.person for d in split.forget_documents} == forget_people and len(split.forget_documents) == 2
    doc = split.forget_documents[0]
    person = next(p for p in corpus.train_people if p.name == doc.person)
    assert doc.question == "" and doc.answer.startswith(person.qa[0].paraphrase[:1].upper())
    assert all(qa.paraphrase[1:] in doc.answer for qa in person.qa)  # every fact, in the paraphrase's words
    assert not any(qa.answer in doc.answer for qa in person.qa)      # never in the QA answer's words
    forget, retain = split.to_unlearn()
    assert forget == split.forget_documents and retain == split.retain + split.retain_documents
    assert not {d.person for d in split.retain_documents} & forget_people
    original_set, retrain_set = task.training_set("original", ""), task.training_set("retrain", "forget10")
    assert doc in original_set and doc not in retrain_set and split.retain_documents[0] in retrain_set
    plain = corpus.split("forget10")
    assert plain.to_unlearn() == (plain.forget, plain.retain)  # tofu-mini itself unlearns its QA pairs


def test_verbatim_memorisation_scores_the_continuation_of_each_documents_prefix(tiny):
    from obliviate.lm.evaluate import verbatim_memorisation
    from obliviate.lm.metrics import rouge_l_f1

    _, _, _, _, tokenizer, split = tiny
    docs = [QA("", " ".join(qa.answer for qa in split.forget[:8])), QA("", " ".join(qa.answer for qa in split.retain[:8]))]
    ids = [tokenizer(d.answer, add_special_tokens=False)["input_ids"] for d in docs]

    class Reciter(nn.Module):
        """Continues the first document exactly and the second with one repeated token."""

        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))
            self.config = type("Config", (), {})()

        def generate(self, input_ids, attention_mask=None, max_new_tokens=1, **_):
            prompt = tokenizer.decode(input_ids[0])
            first = prompt == tokenizer.decode(ids[0][:32])
            new = ids[0][32:32 + max_new_tokens] if first else [tokenizer.eos_token_id] * max_new_tokens
            return torch.cat([input_ids, torch.tensor([new])], 1)

    truth_b = tokenizer.decode(ids[1][32:64], skip_special_tokens=True)
    expected = (1.0 + rouge_l_f1(tokenizer.decode([tokenizer.eos_token_id] * 32, skip_special_tokens=True), truth_b)) / 2
    assert verbatim_memorisation(Reciter(), tokenizer, docs) == pytest.approx(expected)
    assert expected == pytest.approx(0.5)
    with pytest.raises(ValueError, match="too short"):
        verbatim_memorisation(Reciter(), tokenizer, [QA("", "a few words")])
