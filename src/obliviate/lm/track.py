"""The language-model track: ``transformers`` causal LMs (or local Hugging Face model
directories), the built-in tofu-mini task, the methods of :mod:`obliviate.lm.methods`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from obliviate.core.track import Column, EvalModels, Track, evaluation_row


def _muse_evaluated(model_path, corpus, options, say) -> list[dict]:
    """MUSE's VerbMem, KnowMem (forget, retain) and PrivLeak (with the retain model)."""
    from obliviate.lm.models import load_pretrained
    from obliviate.lm.muse import evaluate_muse, muse_copy

    if options.get("retain_logs") or options.get("save_logs"):
        raise ValueError("--retain-logs / --save-logs are for TOFU; give MUSE the --retain-model")
    loading, _ = _evaluate_options(options, text_format=False)  # MUSE's own prompts
    data = muse_copy(corpus, options.get("data_dir"))
    rows, reference = [], None
    if options.get("retain_model"):
        reference = evaluate_muse(*load_pretrained(options["retain_model"], **loading), data)
        rows.append(evaluation_row(options["retain_model"], "retain", "muse", corpus, reference))
    scores = evaluate_muse(*load_pretrained(model_path, **loading), data, reference=reference)
    say(f"{model_path}: MUSE {corpus}: VerbMem {scores['verbmem_f']:.3f}, KnowMem forget {scores['knowmem_f']:.3f}, "
        f"retain {scores['knowmem_r']:.3f}")
    return [evaluation_row(model_path, "evaluated", "muse", corpus, scores)] + rows


def _choice_rows_evaluated(model_path, benchmark, forget, options, say) -> list[dict]:
    """Multiple-choice accuracy (lm-evaluation-harness's zero-shot prompt) of the model
    and, when given, of the retain model."""
    from obliviate.lm.models import load_pretrained
    from obliviate.lm.multiple_choice import multiple_choice_accuracy

    if options.get("retain_logs") or options.get("save_logs"):
        raise ValueError(f"--retain-logs / --save-logs are for TOFU, not {benchmark}")
    loading, _ = _evaluate_options(options, text_format=False)  # the harness's own prompt
    rows, subject = _choice_rows(benchmark, forget, options.get("data_dir"))
    out = []
    for role, path in (("evaluated", model_path), ("retain", options.get("retain_model"))):
        if path:
            model, tokenizer = load_pretrained(path, **loading)
            accuracy = multiple_choice_accuracy(model, tokenizer, rows, subject)
            out.append(evaluation_row(path, role, benchmark, forget,
                                      {f"{benchmark}_accuracy": accuracy, "questions": len(rows)}))
            say(f"{path}: {benchmark} {forget} accuracy {accuracy:.3f} on {len(rows)} questions")
    return out


class LMTrack(Track):
    name = "lm"
    evaluate_options = ("retain_logs", "save_logs")
    description = "causal language models (transformers), TOFU / MUSE-style question answering and text"
    methods_module = "obliviate.lm.methods"
    pseudo_methods = ("original", "retrain")  # retraining is the task's recipe, not a registered LM method
    tradeoff_axes = (("forget_prob", "model_utility", "forget answer probability", "model utility (TOFU)"),
                     ("forget_prob", "retain_prob", "forget answer probability (%)", "retain answer probability (%)"))
    eval_columns = (Column("forget prob", "forget_prob", "forget_prob_std"),
                    Column("retain prob", "retain_prob", "retain_prob_std"),
                    Column("general prob", "general_prob", "general_prob_std"))
    residual_columns = (Column("relearn prob", "relearn_prob"),)
    robust_columns = tuple(Column(header, key, digits=3) for header, key in (
        ("plain", "plain_prob"), ("reworded", "reworded_prob"), ("fill-in", "blank_prob"),
        ("MC acc", "choice_acc"), ("adversarial", "adversarial_prob"), ("in-context", "incontext_prob"),
        ("relearn forget", "relearn_forget_prob"), ("relearn unrelated", "relearn_unrelated_prob"),
        ("8-bit", "quant8_prob"), ("4-bit", "quant4_prob"), ("Leak@5", "leak_at_5"),
        ("neighbours ↑", "neighbour_prob")))
    eval_legend = ("Per-example confidence: each forget answer's mean token log-likelihood. forget / retain / general "
                   "prob: answer probability (percent); relearn prob: forget answer probability after fine-tuning on "
                   "the other half of the forget set (retain-only models' value in brackets).")

    def owns_model(self, model: Any) -> bool:
        if isinstance(model, (str, os.PathLike)):  # a Hugging Face model directory has config.json at its top
            path = Path(model)
            if path.suffix == ".safetensors":  # a classifier's weights file (obliviate evaluate)
                return False
            return not path.is_dir() or (path / "config.json").is_file()
        if "transformers" not in sys.modules:  # checked without importing transformers
            return False
        from transformers import PreTrainedModel

        return isinstance(model, PreTrainedModel) and hasattr(model, "get_output_embeddings") \
            and model.get_output_embeddings() is not None

    def task_names(self) -> tuple[str, ...]:
        from obliviate.lm.task import LM_TASKS

        return tuple(LM_TASKS)

    def tasks(self) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from obliviate.lm.task import LM_TASKS

        return [{"name": t.name, "track": self.name, "description": t.description, "recipe": asdict(t.recipe),
                 "model": asdict(t.model), "forget_specs": ", ".join(t.specs)} for t in LM_TASKS.values()]

    def unlearn(self, model, forget, retain, method, seed, hparams, *, progress=None, tokenizer=None,
                device=None, **options):
        from obliviate.lm.models import load_pretrained
        from obliviate.lm.text import resolve_format
        from obliviate.lm.unlearn import as_qa_list, unlearn_lm

        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ValueError(f"option(s) {', '.join(given)} do not apply to a language model")
        formatting = _formatting(hparams)
        if isinstance(model, (str, os.PathLike)):
            model, tokenizer = load_pretrained(model, **_loading(hparams))
        if tokenizer is None:
            raise ValueError("a language model needs its tokenizer: pass tokenizer=...")
        return unlearn_lm(model, tokenizer, as_qa_list(forget, "forget"),
                          as_qa_list(retain, "retain") if retain is not None else None,
                          method, seed, hparams, progress=progress is not None, device=device,
                          text_format=resolve_format(tokenizer, model, **formatting))

    def evaluate_files(self, model_path, benchmark, forget, options, say):
        return evaluate_files(model_path, benchmark, forget, options, say)

    def unlearn_files(self, model_path, forget_path, retain_path, method, seed, hparams, out, options, say):
        import shutil
        import tempfile

        from obliviate.core.devices import is_main_process
        from obliviate.core.registry import build, get_method
        from obliviate.core.results import RunFailed, refuse_diverged
        from obliviate.lm.models import load_pretrained
        from obliviate.lm.text import describe_format, read_data, resolve_format
        from obliviate.lm.unlearn import unlearn_lm

        if options.get("concept") or options.get("anchor"):
            raise ValueError("--concept / --anchor are for diffusers pipelines; for a language model put the data "
                             "in --forget")
        loading, formatting = _loading(hparams), _formatting(hparams)
        build(method, hparams, self.name)  # a bad method or hyperparameter fails before any heavy work
        if "retain" in get_method(method, self.name).needs and not retain_path:
            raise ValueError(f"method {method!r} needs a retain set: pass --retain FILE")
        forget = read_data(forget_path)
        retain = read_data(retain_path) if retain_path else None
        model, tokenizer = load_pretrained(model_path, **loading)
        text_format = resolve_format(tokenizer, model, **formatting)
        say(describe_format(text_format))
        result = unlearn_lm(model, tokenizer, forget, retain, method, seed, hparams, progress=True,
                            device=options.get("device"), text_format=text_format)
        say(f"{method}: {result.defaults}")
        for line in result.warnings():
            say(f"[bold red]WARNING[/] {line}")
        refuse_diverged(result, options.get("keep_diverged", False))
        if not is_main_process():  # under torchrun / accelerate launch only rank 0 writes
            return
        out = Path(out)
        staging = Path(tempfile.mkdtemp(prefix=".obliviate-", dir=out.parent))
        try:  # write everything, then move into place: a killed run leaves no half model at --out
            result.model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            staging.rename(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        say(f"{method}: {result.seconds:.1f} s; forget answer probability {result.before['forget_acc']:.1f}% -> "
            f"{result.after['forget_acc']:.1f}%, retain {result.before['retain_acc']:.1f}% -> "
            f"{result.after['retain_acc']:.1f}%")
        say(f"unlearned model written to {out}")
        if "diverged" in result.flags:
            raise RunFailed(f"{method} diverged; the model was written to {out} as asked (--keep-diverged)")

    def plan_bench(self, task, forget, methods, seeds, hparams, device=None):
        from obliviate.lm.bench import plan_lm

        return plan_lm(task, forget, methods, seeds, hparams, device)

    def run_bench(self, plan, store, *, show_progress=True, console=None, record_rows=True):
        from obliviate.lm.bench import run_lm

        return run_lm(plan, store, show_progress=show_progress, console=console, record_rows=record_rows)

    def table_cells(self, rows):
        from obliviate.lm.bench import table_cells

        return table_cells(rows)

    def legend(self, rows):
        return ("log10 FQ: forget quality (KS test vs the retain-only model), 0 = indistinguishable; MU: model "
                "utility; PrivLeak: ideal 0; Leak@k: samples at T=1; ES: extraction strength")

    def distance_to_retrain(self, row):
        return -row["metrics"]["log10_forget_quality"], "−log10 forget quality (0 = retain-only model)"

    tune_objective = ("mean |answer probability − the retain-only model's| in points, on the forget questions "
                      "reworded and on retain questions outside the evaluation sample")
    tune_measured_on = ("validation questions only: the forget questions in words never trained on and up to 120 "
                        "retain questions outside retain_eval; no evaluation set (retain_eval, world facts, real "
                        "authors, holdout) is scored")

    def tuner(self, task, forget, store, seed, device=None):
        """Distance to the retain-only model on validation questions only (see
        ``tune_measured_on``); the evaluation sets are never scored."""
        import warnings

        from obliviate.lm.attacks import answer_prob
        from obliviate.lm.probes import probe_set
        from obliviate.lm.task import LM_TASKS
        from obliviate.lm.unlearn import unlearn_lm

        the_task = LM_TASKS[task]
        if forget not in the_task.specs:
            raise ValueError(f"unknown forget spec {forget!r} for {task}; use {', '.join(the_task.specs)}")
        split = the_task.split(forget)
        original, tokenizer, _ = the_task.model_for(store, "original", seed, device=device)
        retained, _, _ = the_task.model_for(store, "retrain", seed, forget, device=device)
        reworded = probe_set(the_task.corpus, split).reworded
        held = {qa.question for qa in split.retain_eval}
        validation = [qa for qa in split.retain if qa.person and qa.question not in held][-120:]
        probabilities = lambda model: [100 * answer_prob(model, tokenizer, qas) for qas in (reworded, validation)]  # noqa: E731
        reference = probabilities(retained)

        def distance(method: str, hparams: dict) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = unlearn_lm(original, tokenizer, *split.to_unlearn(), method, seed, hparams)
            got = probabilities(result.model)
            return sum(abs(a - b) for a, b in zip(got, reference)) / len(got)

        return distance

    def plan_eval(self, task, forget, methods):
        from obliviate.core.registry import get_method
        from obliviate.lm.task import LM_TASKS

        for m in methods:
            if m not in self.pseudo_methods:
                get_method(m, self.name)
        the_task = LM_TASKS[task]
        if forget not in the_task.specs:
            raise ValueError(f"unknown forget spec {forget!r} for {task}; use {', '.join(the_task.specs)}")
        return the_task, the_task.split(forget), forget

    def eval_models(self, plan, store) -> EvalModels:
        from obliviate.lm.eval_models import LMEval

        return LMEval(plan, store)


LOADING_KEYS = ("torch_dtype", "attn_implementation")


FORMAT_KEYS = ("max_length", "chat_template", "system_prompt")


def _formatting(hparams: dict) -> dict:
    """How examples are tokenised (``max_length``, ``chat_template`` auto | none,
    ``system_prompt``; see :class:`~obliviate.lm.text.TextFormat`), taken out of the
    method's hyperparameters; ``max_length`` given as text (``--set``) is converted."""
    out = {k: hparams.pop(k) for k in FORMAT_KEYS if k in hparams}
    if isinstance(out.get("max_length"), str):
        try:
            out["max_length"] = int(out["max_length"])
        except ValueError:
            raise ValueError(f"max_length must be an integer, got {out['max_length']!r}") from None
    return out


BENCHMARKS = ("tofu", "muse", "wmdp", "mmlu")


def _evaluate_split(benchmark: str, forget: str, data_dir):
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r} for a language model; benchmarks: {', '.join(BENCHMARKS)}")
    from obliviate.lm.tofu import tofu_split

    return tofu_split(forget, data_dir)


def _choice_rows(benchmark: str, forget: str, data_dir):
    """WMDP ``wmdp-{bio,chem,cyber}.jsonl`` or MMLU ``mmlu.jsonl`` (``forget``: all, or one
    subject) from the data directory (or its ``wmdp`` / ``mmlu`` folder), and the subject."""
    from obliviate.core.local_data import find_copy
    from obliviate.lm.multiple_choice import WMDP_SUBJECTS, read_choices

    if benchmark == "wmdp":
        if forget not in WMDP_SUBJECTS:
            raise ValueError(f"unknown WMDP subset {forget!r}; subsets: {', '.join(WMDP_SUBJECTS)}")
        name = f"wmdp-{forget}.jsonl"
        return read_choices(find_copy("wmdp", data_dir, "wmdp", name, f"WMDP as JSONL ({name})") / name), \
            WMDP_SUBJECTS[forget]
    rows = read_choices(find_copy("mmlu", data_dir, "mmlu", "mmlu.jsonl", "MMLU as JSONL (mmlu.jsonl)") / "mmlu.jsonl")
    if forget != "all":
        rows = [r for r in rows if r.subject == forget]
        if not rows:
            raise ValueError(f"no MMLU rows with subject {forget!r}")
    return rows, ""


def _loading(hparams: dict) -> dict:
    """Options for loading a model directory (``torch_dtype``, ``attn_implementation``),
    taken out of the method's hyperparameters."""
    return {k: hparams.pop(k) for k in LOADING_KEYS if k in hparams}


def _evaluate_options(options: dict, text_format: bool) -> tuple[dict, dict]:
    """``obliviate evaluate``'s ``--set`` values as (loading, text format) options; any
    other key (or a text-format key where the benchmark fixes its own prompt) is refused."""
    given = dict(options.get("hparams", {}))
    loading, formatting = _loading(given), _formatting(given) if text_format else {}
    if given:
        known = LOADING_KEYS + (FORMAT_KEYS if text_format else ())
        raise ValueError(f"--set {', '.join(sorted(given))} does not apply here; evaluate takes {', '.join(known)}")
    return loading, formatting


def evaluate_files(model_path, benchmark, forget, options, say) -> list[dict]:
    """Score ``model_path`` (and the retain model, or its logs, for forget quality and
    PrivLeak) on ``benchmark``'s split ``forget`` read from the local copy."""
    from obliviate.core.devices import is_main_process
    from obliviate.lm.evaluate import evaluate_lm, public, read_retain_logs, retain_logs
    from obliviate.lm.models import load_pretrained
    from obliviate.lm.text import describe_format, resolve_format, use_format

    if options.get("retain_model") and options.get("retain_logs"):
        raise ValueError("give --retain-model or --retain-logs, not both")
    if benchmark in ("wmdp", "mmlu"):
        return _choice_rows_evaluated(model_path, benchmark, forget, options, say)
    if benchmark == "muse":
        return _muse_evaluated(model_path, forget, options, say)
    loading, formatting = _evaluate_options(options, text_format=True)
    split = _evaluate_split(benchmark, forget, options.get("data_dir"))
    reference = read_retain_logs(options["retain_logs"]) if options.get("retain_logs") else None
    rows = []

    def score_model(path, reference):
        model, tokenizer = load_pretrained(path, **loading)
        fmt = use_format(tokenizer, resolve_format(tokenizer, model, **formatting))
        say(f"{path}: {describe_format(fmt)}")
        return evaluate_lm(model, tokenizer, split, reference=reference)

    if options.get("retain_model"):
        retained = score_model(options["retain_model"], None)
        reference = retained
        rows.append(evaluation_row(options["retain_model"], "retain", benchmark, forget, public(retained)))
    scores = score_model(model_path, reference)
    if options.get("save_logs") and is_main_process():
        from obliviate.core.store import write_text_atomic

        write_text_atomic(options["save_logs"], json.dumps(retain_logs(scores), indent=1))
        say(f"retain-model logs of {model_path} written to {options['save_logs']}")
    return [evaluation_row(model_path, "evaluated", benchmark, forget, public(scores))] + rows


TRACK = LMTrack()
