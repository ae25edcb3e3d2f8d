"""The diffusion track: text-to-image denoisers (the built-in digits-canvas task, or a
local diffusers Stable Diffusion pipeline), the methods of :mod:`obliviate.diffusion.methods`."""

from __future__ import annotations

import os
from typing import Any

from obliviate.core.track import Track


class DiffusionTrack(Track):
    name = "diffusion"
    evaluate_options = ("judges",)
    description = "text-to-image diffusion models (diffusers): concept, object and style erasure"
    methods_module = "obliviate.diffusion.methods"
    tradeoff_axes = (("ua", "ira", "UA (%): target images not judged the target", "IRA (%): other digits drawn right"),)

    def owns_model(self, model: Any) -> bool:
        from obliviate.diffusion.models import Diffusion
        from obliviate.diffusion.pipeline import is_pipeline_dir

        if isinstance(model, Diffusion):
            return True
        return isinstance(model, (str, os.PathLike)) and is_pipeline_dir(model)

    def task_names(self) -> tuple[str, ...]:
        from obliviate.diffusion.task import CANVAS_TASKS

        return tuple(CANVAS_TASKS)

    def tasks(self) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from obliviate.diffusion.task import CANVAS_TASKS

        return [{"name": t.name, "track": self.name, "description": t.description, "recipe": asdict(t.recipe),
                 "forget_specs": "object:K (K = 0-9), style:NAME (inverted, thick, blurred, striped)"}
                for t in CANVAS_TASKS.values()]

    def unlearn(self, model, forget, retain, method, seed, hparams, *, progress=None, device=None,
                precision=None, **options):
        from obliviate.diffusion.loop import EraseData
        from obliviate.diffusion.pipeline import load_pipeline
        from obliviate.diffusion.unlearn import unlearn_diffusion

        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ValueError(f"option(s) {', '.join(given)} do not apply to a diffusion model")
        if not isinstance(forget, EraseData):
            raise ValueError("for a diffusion model, forget must be an EraseData: build it with "
                             "obliviate.diffusion.prompt_data(model, concept, forget_prompts, retain_prompts)")
        if retain is not None:
            raise ValueError("for a diffusion model the retain prompts and images are part of the EraseData; "
                             "pass retain=None")
        if isinstance(model, (str, os.PathLike)):
            model = load_pipeline(model)
        return unlearn_diffusion(model, forget, method, seed, hparams, progress, device=device, precision=precision)

    def unlearn_files(self, model_path, forget_path, retain_path, method, seed, hparams, out, options, say):
        from obliviate.core.devices import is_main_process
        from obliviate.core.registry import build
        from obliviate.core.results import RunFailed, refuse_diverged
        from obliviate.diffusion.pipeline import check_prompts, load_pipeline, prompt_data, read_prompts, save_pipeline
        from obliviate.diffusion.unlearn import unlearn_diffusion

        concept = options.get("concept")
        if not concept:
            raise ValueError("--concept is required for a diffusers pipeline (the concept to erase)")
        build(method, hparams, self.name)  # fail on a bad method or option before any work
        forget, retain = read_prompts(forget_path), read_prompts(retain_path) if retain_path else []
        check_prompts(concept, forget)
        model = load_pipeline(model_path, device=options.get("device"))
        say(f"generating images of {len(forget)} forget and {len(retain)} retain prompts with the model")
        data = prompt_data(model, concept, forget, retain, anchor=options.get("anchor") or "", seed=seed)
        result = unlearn_diffusion(model, data, method, seed, hparams, precision=options.get("precision"))
        for line in result.warnings():
            say(f"[bold red]WARNING[/] {line}")
        refuse_diverged(result, options.get("keep_diverged", False))
        if not is_main_process():
            return
        save_pipeline(result.model, out)
        b, a = result.before, result.after
        say(f"{method}: {result.seconds:.1f} s; denoising loss on the concept's images {b['forget_loss']:.4f} -> "
            f"{a['forget_loss']:.4f}, on retain images {b['retain_loss']:.4f} -> {a['retain_loss']:.4f}")
        say(f"unlearned pipeline written to {out}")
        if "diverged" in result.flags:
            raise RunFailed(f"{method} diverged; the model was written to {out} as asked (--keep-diverged)")

    def evaluate_files(self, model_path, benchmark, forget, options, say):
        """Score a local pipeline on a prompt set (``unlearncanvas``, ``i2p`` or a prompt
        CSV) with the user's judges (``--judge AXIS=DIR``): UA, IRA, CRA and concept
        rate, with the gaps to ``--retain-model`` (a pipeline trained without the concept)."""
        from obliviate.diffusion.evaluate_files import evaluate_pipeline_files

        return evaluate_pipeline_files(model_path, benchmark, forget, options, say)

    def plan_bench(self, task, forget, methods, seeds, hparams, device=None):
        from obliviate.diffusion.bench import plan_diffusion

        return plan_diffusion(task, forget, methods, seeds, hparams, device)

    def run_bench(self, plan, store, *, show_progress=True, console=None, record_rows=True):
        from obliviate.diffusion.bench import run_diffusion

        return run_diffusion(plan, store, show_progress=show_progress, console=console, record_rows=record_rows)

    def table_cells(self, rows):
        from obliviate.diffusion.bench import table_cells

        return table_cells(rows)

    def legend(self, rows):
        settings = rows[0]["eval"]
        return ("UA: erased-target images not judged as the target; IRA/CRA: other targets of the same / other axis "
                "judged correctly; FID/KID on judge features (retain prompts vs real images); ASR: target images "
                "before / after a prompt-embedding attack; Avg.Gap = mean |UA, IRA, CRA − retrain's|. Sampling: DDIM "
                f"{settings['steps']} steps, guidance {settings['guidance']}, seed {settings['seed']}, "
                f"{settings['target_samples']} images per target prompt, {settings['retain_samples']} per other "
                "prompt.")

    def distance_to_retrain(self, row):
        return row["avg_gap"], "Avg. Gap to retrain (points, lower is better)"

    tune_measured_on = ("validation prompts only: every object and every style named alone ('3', 'inverted'), "
                        "sampled with noise seed 1; the evaluation's object-and-style prompts (seed 0) are never "
                        "generated")

    def tuner(self, task, forget, store, seed, device=None):
        """Avg.Gap (UA, IRA, CRA) to the retrained denoiser on validation prompts only
        (see ``tune_measured_on``)."""
        import warnings

        from obliviate.diffusion.evaluate import validation_scores
        from obliviate.diffusion.task import CANVAS_TASKS
        from obliviate.diffusion.unlearn import unlearn_diffusion

        if task not in CANVAS_TASKS:
            raise ValueError(f"obliviate tune runs on the built-in diffusion tasks ({', '.join(CANVAS_TASKS)}), "
                             f"not {task!r}")
        the_task = CANVAS_TASKS[task]
        data = the_task.erase_data(forget, seed)  # validates the spec first
        original, _ = the_task.model_for(store, "original", device=device)
        retrained, _ = the_task.model_for(store, "retrain", forget, device=device)
        judges = the_task.judges(store)
        reference = validation_scores(retrained, forget, judges)

        def distance(method: str, hparams: dict) -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = unlearn_diffusion(original, data, method, seed, hparams, device=device)
            got = validation_scores(result.model, forget, judges)
            return sum(abs(got[k] - reference[k]) for k in reference) / len(reference)

        return distance


TRACK = DiffusionTrack()
