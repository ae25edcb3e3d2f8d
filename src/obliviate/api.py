"""The public Python API: ``unlearn``, ``methods``, ``tasks``."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from obliviate.classify.data import Data
from obliviate.classify.loop import ProgressFn
from obliviate.core import registry
from obliviate.core.results import UnlearnResult


def unlearn(
    model: nn.Module | str, forget: Data | Any, retain: Data | Any | None = None, method: str = "ga",
    seed: int = 0, *, holdout: Data | None = None, progress: ProgressFn | None = None,
    tokenizer: Any = None, **hparams: Any,
) -> UnlearnResult:
    """Remove the influence of ``forget`` from ``model`` with ``method``.

    ``forget`` and ``retain`` are torch ``Dataset``s (or ``DataLoader``s) yielding
    ``(x, y)``. The caller's model is not modified: the result holds an unlearned
    copy (``.model``), the wall time of the unlearning itself (``.seconds``), the mean
    loss per epoch (``.history``) and health ``.flags`` ("did_not_forget",
    "collapsed", "diverged"; each also raised as an ``UnlearningWarning``).
    ``hparams`` are the method's hyperparameters (see :func:`methods`); an unknown
    method or hyperparameter raises ``ValueError`` naming the valid ones.

    ``holdout`` (optional) is data from the training distribution that the model never
    saw, such as a validation split. Methods with early stopping use the original
    model's accuracy on it as the forget accuracy a retrained model would show (the
    idea of SCRUB+R, Kurmanji et al. 2023); it is never used for training.
    ``progress(epoch, epochs, loss)`` is called after every epoch.

    Language models: pass a ``transformers`` causal LM with its ``tokenizer=``, or the
    path of a local Hugging Face model directory (model and tokenizer are loaded from
    it). ``forget``/``retain`` are then lists of :class:`obliviate.lm.corpus.QA` or of
    dicts ``{"question", "answer"}`` / ``{"text"}``, or paths of such JSONL files;
    the LM methods are looked up on the "lm" track (``methods("lm")``).
    """
    if isinstance(model, (str, os.PathLike)) or _is_language_model(model):
        from obliviate.lm.unlearn import as_qa_list, unlearn_lm

        if isinstance(model, (str, os.PathLike)):
            from obliviate.lm.models import load_pretrained

            model, tokenizer = load_pretrained(model)
        return unlearn_lm(model, tokenizer, as_qa_list(forget, "forget"),
                          as_qa_list(retain, "retain") if retain is not None else None,
                          method, seed, hparams, progress=progress is not None)
    from obliviate.classify.unlearn import unlearn_classifier

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module or a model directory, got {type(model).__name__}")
    return unlearn_classifier(model, forget, retain, method, seed, hparams, progress, holdout)


def _is_language_model(model: Any) -> bool:
    """A ``transformers`` model with a language-modelling head (checked without importing
    transformers when it is not loaded)."""
    import sys

    if "transformers" not in sys.modules:
        return False
    from transformers import PreTrainedModel

    return isinstance(model, PreTrainedModel) and hasattr(model, "get_output_embeddings") \
        and model.get_output_embeddings() is not None


def methods(track: str | None = None) -> list[dict[str, Any]]:
    """Registered methods: name, track, data needed, hyperparameters with defaults, paper, idea."""
    return [
        {"name": i.name, "track": i.track, "needs": list(i.needs), "hparams": i.defaults(),
         "paper": i.paper, "idea": i.idea}
        for i in registry.methods(track)
    ]


def tasks() -> list[dict[str, Any]]:
    """Built-in tasks: name, description, number of classes, split sizes, training recipe."""
    from dataclasses import asdict

    from obliviate.classify.tasks import TASKS

    out = [
        {"name": t.name, "track": "classifier", "description": t.description,
         "num_classes": t.num_classes, "recipe": dict(t.recipe), "forget_specs": "class:K, random:FRAC, ids:PATH"}
        for t in TASKS.values()
    ]
    try:
        from obliviate.lm.task import LM_TASKS
    except ImportError:  # transformers not installed
        LM_TASKS = {}
    out += [
        {"name": t.name, "track": "lm", "description": t.description, "recipe": asdict(t.recipe),
         "model": asdict(t.model), "forget_specs": ", ".join(t.specs)}
        for t in LM_TASKS.values()
    ]
    from obliviate.diffusion.task import CANVAS_TASKS

    return out + [
        {"name": t.name, "track": "diffusion", "description": t.description, "recipe": asdict(t.recipe),
         "forget_specs": "object:K (K = 0-9), style:NAME (inverted, thick, blurred, striped)"}
        for t in CANVAS_TASKS.values()
    ]
