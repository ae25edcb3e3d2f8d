"""The classifier track: any ``torch.nn.Module`` returning (batch, classes) logits,
the built-in tasks of :mod:`obliviate.classify.tasks`, the methods of
:mod:`obliviate.classify.methods`."""

from __future__ import annotations

import warnings
from typing import Any, Callable

from torch import nn

from obliviate.classify.training import load_weights
from obliviate.core.track import Column, EvalModels, Track, evaluation_row


class ClassifierTrack(Track):
    name = "classifier"
    evaluate_options = ("arch",)
    description = "image / tabular classifiers: any torch.nn.Module returning (batch, classes) logits"
    methods_module = "obliviate.classify.methods"
    fallback = True  # every nn.Module no other track claims
    tradeoff_axes = (("forget_acc", "test_acc", "forget accuracy (%)", "test accuracy (%)"),)
    eval_columns = (Column("UA", "forget_acc", "forget_acc_std", complement=True),
                    Column("UA 95% CI", "forget_acc_ci_low", complement=True, high="forget_acc_ci_high"),
                    Column("p(UA=retrain)", "forget_acc_p", digits=3),
                    Column("RA", "retain_acc", "retain_acc_std"), Column("TA", "test_acc", "test_acc_std"),
                    Column("MIA-eff", "mia_efficacy", "mia_efficacy_std"), Column("ToW", "tow", "tow_std"),
                    Column("retain exp.", "retain_exposure", "retain_exposure_std"),
                    Column("(before)", "retain_exposure_original"))
    residual_columns = (Column("probe", "probe_acc"), Column("k-NN", "knn_acc"),
                        Column("relearn steps", "relearn_steps"), Column("CKA orig", "cka_original", digits=3),
                        Column("CKA retr", "cka_retrain", digits=3))
    tune_objective = "Avg.Gap to the retrained model (forget, retain, validation accuracy, MIA-efficacy)"
    eval_legend = ("score: F x RA/RA_r x TA/TA_r; probe / k-NN: forget accuracy recovered from frozen features "
                   "(retrained models' value in brackets); relearn steps: fine-tuning steps on 10 forget examples "
                   "until half the rest is right again (more = less residue); CKA orig / retr: linear CKA of the forget "
                   "set's features with the original's / an independent retrained model's (1 = same representation; "
                   "forgetting in the features moves CKA orig toward the retrained models' value); retain exp.: "
                   "retain examples a confidence attack calls member at 5% FPR, after unlearning and (before) on the "
                   "original (the onion effect).")

    def owns_model(self, model: Any) -> bool:
        """Any ``nn.Module``; for ``obliviate evaluate``, a ``.safetensors`` weights file too."""
        return isinstance(model, nn.Module) or str(model).endswith(".safetensors")

    def evaluate_files(self, model_path, benchmark, forget, options, say):
        """Score a classifier's weights (``.safetensors``, the task's architecture) on a
        task's split: forget / retain / test accuracy and MIA-efficacy, with the gaps to
        ``--retain-model`` (the retrained model's weights) when given."""
        from obliviate.classify.evaluate import evaluate
        from obliviate.classify.tasks import get_task

        if options.get("hparams"):
            raise ValueError("--set does not apply to a classifier's evaluation")
        if options.get("arch"):
            base, _, given = benchmark.partition("/")
            if given and given != options["arch"]:
                raise ValueError(f"--arch {options['arch']} contradicts the task's architecture {benchmark!r}")
            benchmark = f"{base}/{options['arch']}"
        task = get_task(benchmark, data_dir=options.get("data_dir"))
        split = task.split(forget)
        score = lambda path, ref: evaluate(load_weights(task, path), split.forget, split.retain, split.test,  # noqa: E731
                                           reference=ref, forget_test=split.forget_test)
        reference = score(options["retain_model"], None) if options.get("retain_model") else None
        rows = [evaluation_row(model_path, "evaluated", task.name, forget, score(model_path, reference))]
        if reference is not None:
            rows.append(evaluation_row(options["retain_model"], "retain", task.name, forget, reference))
        return rows

    def task_names(self) -> tuple[str, ...]:
        from obliviate.classify.tasks import LOCAL_TASKS, TASKS

        return tuple(TASKS) + tuple(LOCAL_TASKS)

    def tasks(self) -> list[dict[str, Any]]:
        from obliviate.classify.local_datasets import CIFAR
        from obliviate.classify.models import ARCHS
        from obliviate.classify.tasks import LOCAL_TASKS, PAPER_RECIPE, TASKS

        specs = "class:K, random:FRAC, worst:FRAC, ids:PATH, poison:FRAC:KNOWN, stream:K:FRAC"
        built_in = [{"name": t.name, "track": self.name, "description": t.description, "num_classes": t.num_classes,
                     "recipe": dict(t.recipe), "forget_specs": specs} for t in TASKS.values()]
        local = [{"name": name, "track": self.name, "num_classes": CIFAR[name][4] if name in CIFAR else "folders",
                  "description": f"{text}; --data-dir; architectures {', '.join(ARCHS)} (e.g. {name}/vgg16_bn)",
                  "recipe": dict(PAPER_RECIPE), "forget_specs": specs} for name, text in LOCAL_TASKS.items()]
        return built_in + local

    def unlearn(self, model, forget, retain, method, seed, hparams, *, progress=None, holdout=None,
                device=None, precision=None, **options):
        from obliviate.classify.unlearn import unlearn_classifier

        if not isinstance(model, nn.Module):
            raise ValueError(f"a classifier is unlearned as an nn.Module: load {str(model)!r} into your model first")
        if precision is not None:  # a hyperparameter of the training loop (one-shot methods refuse it)
            hparams = hparams | {"precision": precision}
        _refuse(options)
        return unlearn_classifier(model, forget, retain, method, seed, hparams, progress, holdout, device=device)

    def plan_bench(self, task, forget, methods, seeds, hparams, device=None):
        from obliviate.classify.bench import plan

        return plan(task, forget, methods, seeds, hparams, device)

    def run_bench(self, plan, store, *, show_progress=True, console=None, record_rows=True):
        from obliviate.classify.bench import run

        return run(plan, store, show_progress=show_progress, console=console, record_rows=record_rows)

    def table_cells(self, rows):
        from obliviate.classify.bench import table_cells

        return table_cells(rows)

    def legend(self, rows):
        return "UA = 100 − forget accuracy; Avg. Gap = mean |UA, RA, TA, MIA − retrain's| (lower is better)"

    def distance_to_retrain(self, row):
        return row["avg_gap"], "Avg. Gap to retrain (points, lower is better)"

    def plan_eval(self, task, forget, methods):
        from obliviate.classify.tasks import get_task
        from obliviate.core.registry import get_method

        for m in methods:
            get_method(m, self.name)
        the_task = get_task(task)
        split = the_task.split(forget)
        return the_task, split, split.spec.text

    def eval_models(self, plan, store) -> EvalModels:
        from obliviate.classify.eval_models import ClassifierEval

        return ClassifierEval(plan, store)

    def tuner(self, task: str, forget: str, store, seed: int, device=None) -> Callable[[str, dict], float]:
        """Avg. Gap to the retrained model with the **validation** split in the test split's
        place (forget, retain, validation accuracy and MIA-efficacy); the test split is
        never read."""
        from obliviate.classify.evaluate import evaluate
        from obliviate.classify.tasks import get_task
        from obliviate.classify.training import cached_model
        from obliviate.classify.unlearn import unlearn_classifier
        from obliviate.core.metrics import avg_gap

        the_task = get_task(task)
        split = the_task.split(forget)
        original = cached_model(store, the_task, "original", seed, split, device=device)[0]
        retrained = cached_model(store, the_task, "retrain", seed, split, device=device)[0]
        on_validation = lambda model: evaluate(model, split.forget, split.retain, split.val)  # noqa: E731
        reference = on_validation(retrained)

        def distance(method: str, hparams: dict) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = unlearn_classifier(original, split.forget, split.retain, method, seed,
                                            the_task.method_hparams(method, hparams), holdout=split.holdout)
            return avg_gap(on_validation(result.model), reference)

        return distance

    def deployment(self, spec: dict) -> Any:
        """A single classifier of one of this track's tasks (kind ``model``) for deletion
        requests; without a task, the user's own images in ``data_dir`` (imagefolder)."""
        spec = own_images(spec)
        if spec.get("kind", "model") != "model" or str(spec.get("task", "")).partition("/")[0] not in self.task_names():
            return None
        from obliviate.classify.deploy import ClassifierDeployment

        unknown = sorted(set(spec) - {"kind", "task", "data_dir"})
        if unknown:
            raise ValueError(f"option(s) {', '.join(unknown)} do not apply to a single classifier (kind 'model')")
        return ClassifierDeployment(spec["task"], spec.get("data_dir"))


def own_images(spec: dict) -> dict:
    """A deployment spec without a task but with a data directory: the user's own images."""
    return spec if spec.get("task") or not spec.get("data_dir") else spec | {"task": "imagefolder"}


def _refuse(options: dict) -> None:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise ValueError(f"option(s) {', '.join(given)} do not apply to a classifier")


TRACK = ClassifierTrack()
