"""Sequential erasure: several concepts erased one after another from the same model
(each erasure starts from the previous one's result), as a deployed model receives
request after request. After every step each object is drawn from all its prompts
and judged, so the table shows whether earlier erasures hold, and what happens to
what was never erased: the other objects (in the erased ones' styles) and the
styles on them. The references are the original model's per-object accuracies (a
model retrained without several concepts is not part of the built-in task)."""

from __future__ import annotations

from typing import Any

import torch

from obliviate.diffusion.canvas import OBJECTS, STYLES, Concept
from obliviate.diffusion.evaluate import CanvasEval, _generate, _judge
from obliviate.diffusion.models import Diffusion


def per_concept_accuracy(model: Diffusion, judges: dict, settings: CanvasEval = CanvasEval()) -> dict[str, dict]:
    """For every object, the object judge's accuracy on images drawn for its prompts
    (all styles), and for every style, the style judge's on images drawn for its
    prompts (all objects), in percent; the same noise for every model."""
    pairs = [(o, s) for o in range(len(OBJECTS)) for s in range(len(STYLES))]
    images, objects, styles = _generate(model, pairs, settings.retain_samples, settings,
                                        torch.Generator().manual_seed(settings.seed))
    judged = _judge(judges, images)
    by_object = {OBJECTS[o]: 100 * float((judged["object"][objects == o] == o).float().mean())
                 for o in range(len(OBJECTS))}
    by_style = {STYLES[s]: 100 * float((judged["style"][styles == s] == s).float().mean()) for s in range(len(STYLES))}
    return {"object": by_object, "style": by_style}


def sequential_erasure(task: Any, original: Diffusion, specs: list[str], method: str, judges: dict, seed: int = 0,
                       hparams: dict[str, Any] | None = None, settings: CanvasEval = CanvasEval()) -> list[dict]:
    """One row per step: the concept erased, each erased concept's UA so far (100 −
    its judge accuracy), the mean accuracy of the objects and styles never erased,
    and the change of each from the original's."""
    from obliviate.diffusion.unlearn import unlearn_diffusion

    concepts = [Concept.parse(s) for s in specs]
    if len(set(specs)) != len(specs) or len(specs) < 2:
        raise ValueError(f"sequential erasure needs at least two different concepts, got {specs}")
    model, rows = original, []
    before = per_concept_accuracy(original, judges, settings)
    for k, spec in enumerate(specs):
        data = task.erase_data(spec, seed, erased_before=tuple(specs[:k]))
        result = unlearn_diffusion(model, data, method, seed, hparams or {})
        model = result.model
        now = per_concept_accuracy(model, judges, settings)
        erased = {c.axis: set() for c in concepts[: k + 1]}
        for c in concepts[: k + 1]:
            erased[c.axis].add(c.name)
        row = {"step": k + 1, "erased": spec, "method": method, "seed": seed, "flags": result.flags,
               "ua": {c.name: 100 - now[c.axis][c.name] for c in concepts[: k + 1]}}
        for axis in ("object", "style"):
            kept = [n for n in now[axis] if n not in erased.get(axis, set())]
            row[f"kept_{axis}_acc"] = sum(now[axis][n] for n in kept) / len(kept)
            row[f"kept_{axis}_change"] = row[f"kept_{axis}_acc"] - sum(before[axis][n] for n in kept) / len(kept)
        rows.append(row)
    return rows
