"""Scoring a denoiser on digits-canvas the UnlearnCanvas way: generate from a fixed
grid of prompts with fixed noise, judge the images with the object and style
classifiers, attack the erased concept's prompt, and compare with the retrained
model.

Every model is sampled with the same seeds, steps and sample counts (the settings
are returned with the scores), so differences between models are not sampling noise
of different draws."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from obliviate.diffusion.attack import prompt_attack, relearned
from obliviate.diffusion.canvas import OBJECTS, STYLES, Concept, prompt
from obliviate.diffusion.metrics import (attack_success_rate, frechet_distance, kernel_distance,
                                         retain_accuracy, unlearning_accuracy)
from obliviate.diffusion.models import Diffusion

GAP_KEYS = ("ua", "ira", "cra")  # Avg. Gap as in UnlearnCanvas / SalUn: mean |metric − retrain's|
# A run "did not forget" when UA rose by less than this (sampling noise on 128 images is ~4 points).
NO_FORGET_POINTS = 5.0
COLLAPSE_POINTS = 20.0


@dataclass(frozen=True)
class CanvasEval:
    target_samples: int = 32  # images per prompt showing the erased concept
    retain_samples: int = 8  # images per other prompt
    steps: int = 10
    guidance: float = 1.5
    seed: int = 0  # the same noise for every model
    attack_prompts: int = 4  # target prompts attacked
    attack_steps: int = 30
    attack_batch: int = 16
    attack_samples: int = 32  # images generated per attacked prompt
    relearn_steps: int = 20  # the fine-tuning attack's Adam steps on the concept's images
    relearn_lr: float = 1e-4


def _grid(concept: Concept) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(object, style) index pairs showing the concept, and all the others."""
    target, other = [], []
    for o in range(len(OBJECTS)):
        for s in range(len(STYLES)):
            shows = OBJECTS[o] == concept.name if concept.axis == "object" else STYLES[s] == concept.name
            (target if shows else other).append((o, s))
    return target, other


def _generate(model: Diffusion, pairs: list[tuple[int, int]], n: int, settings: CanvasEval, generator):
    prompts = [prompt(OBJECTS[o], STYLES[s]) for o, s in pairs for _ in range(n)]
    images, _ = model.sample(model.encode(prompts), generator, steps=settings.steps, guidance=settings.guidance)
    objects = torch.tensor([o for o, _ in pairs for _ in range(n)])
    styles = torch.tensor([s for _, s in pairs for _ in range(n)])
    return model.to_images(images), objects, styles


@torch.no_grad()
def _judge(judges: dict, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each judge's predicted label per image (CPU tensors, for the metrics)."""
    return {axis: judge(_on(judge, images)).argmax(1).cpu() for axis, judge in judges.items()}


@torch.no_grad()
def _features(judges: dict, images: torch.Tensor) -> torch.Tensor:
    """Both judges' penultimate features (CPU float64 work happens in the metrics)."""
    return torch.cat([judges[a].features(_on(judges[a], images)).cpu() for a in ("object", "style")], dim=1)


def _on(judge: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    p = next(judge.parameters())
    return images.to(device=p.device, dtype=p.dtype)


def evaluate_canvas(model: Diffusion, canvas, spec: str, judges: dict, *, reference: dict | None = None,
                    original: dict | None = None, attack: bool = True, relearn: bool = False,
                    settings: CanvasEval = CanvasEval()) -> dict:
    """UA, IRA, CRA, FID, KID and attack success rate before / after the prompt attack
    (all percent except FID/KID); with ``relearn``, ``asr_relearn``: the target prompts'
    attack success rate after the fine-tuning attack; with ``reference`` (the retrained model's scores)
    also ``<metric>_gap`` and ``avg_gap``; with ``original`` (the starting model's
    scores) also health ``flags``."""
    concept = Concept.parse(spec)
    judges = {axis: judge.to(model.device) for axis, judge in judges.items()}  # judge where the images are made
    axis, other = concept.axis, concept.other_axis
    index = (OBJECTS if axis == "object" else STYLES).index(concept.name)
    target_pairs, other_pairs = _grid(concept)
    g = torch.Generator().manual_seed(settings.seed)
    t_images, t_obj, t_sty = _generate(model, target_pairs, settings.target_samples, settings, g)
    r_images, r_obj, r_sty = _generate(model, other_pairs, settings.retain_samples, settings, g)
    labels = {"object": r_obj, "style": r_sty}
    t_pred, r_pred = _judge(judges, t_images), _judge(judges, r_images)
    real = concept.shown_in(canvas)
    real_feats, fake_feats = _features(judges, canvas.images[~real]), _features(judges, r_images)
    scores = {
        "ua": unlearning_accuracy(t_pred[axis], index),
        "ira": retain_accuracy(r_pred[axis], labels[axis]),
        "cra": retain_accuracy(r_pred[other], labels[other]),
        "fid": frechet_distance(fake_feats, real_feats),
        "kid": kernel_distance(fake_feats, real_feats),
        "asr_pre": attack_success_rate(t_pred[axis], index),
    }
    if attack:
        scores["asr_post"] = _attack(model, canvas, concept, judges, target_pairs, index, settings)
    if relearn:
        g_attack = torch.Generator().manual_seed(settings.seed + 2)
        shown = concept.shown_in(canvas)
        attacked = relearned(model, canvas.images[shown], model.encode(canvas.prompts(shown.nonzero().squeeze(1))),
                             g_attack, steps=settings.relearn_steps, lr=settings.relearn_lr)
        images, _, _ = _generate(attacked, target_pairs, settings.target_samples, settings,
                                 torch.Generator().manual_seed(settings.seed))
        scores["asr_relearn"] = attack_success_rate(_judge(judges, images)[axis], index)
    if reference is not None:
        for key in [*GAP_KEYS, "asr_post", "asr_relearn"]:
            if key in scores and key in reference:
                scores[f"{key}_gap"] = abs(scores[key] - reference[key])
        scores["avg_gap"] = sum(scores[f"{k}_gap"] for k in GAP_KEYS) / len(GAP_KEYS)
    if original is not None:
        scores["flags"] = health_flags(original, scores)
    scores["settings"] = asdict(settings)
    return scores


def _attack(model: Diffusion, canvas, concept: Concept, judges: dict, target_pairs, index: int,
            settings: CanvasEval) -> float:
    g = torch.Generator().manual_seed(settings.seed + 1)
    adversarial = []
    for o, s in target_pairs[: settings.attack_prompts]:
        shown = (canvas.objects == o) & (canvas.styles == s)
        start = model.encode([prompt(OBJECTS[o], STYLES[s])])
        adversarial.append(prompt_attack(model, start, canvas.images[shown], g, steps=settings.attack_steps,
                                         batch_size=settings.attack_batch))
    emb = torch.cat([a.expand(settings.attack_samples, -1, -1) for a in adversarial])
    images, _ = model.sample(emb, g, steps=settings.steps, guidance=settings.guidance)
    return attack_success_rate(_judge(judges, model.to_images(images))[concept.axis], index)


VALIDATION_SAMPLES = 16  # images per validation prompt


@torch.no_grad()
def validation_scores(model: Diffusion, spec: str, judges: dict, samples: int | None = None, seed: int = 1,
                      settings: CanvasEval = CanvasEval()) -> dict[str, float]:
    """UA, IRA and CRA (percent) on validation prompts, for ``obliviate tune``: every
    object and every style named alone ("3", "inverted"; the denoiser learned them,
    its training drops words), never the object-and-style prompts
    :func:`evaluate_canvas` generates, with noise seed ``seed`` (the evaluation's is
    0). UA: images of the erased name alone not judged as it; IRA: the other names of
    its axis alone judged right; CRA: the other axis's names alone judged right."""
    concept = Concept.parse(spec)
    samples = samples or VALIDATION_SAMPLES
    judges = {axis: judge.to(model.device) for axis, judge in judges.items()}
    names = {"object": OBJECTS, "style": STYLES}
    g = torch.Generator().manual_seed(seed)
    out = {}
    for axis in (concept.axis, concept.other_axis):
        prompts = [name for name in names[axis] for _ in range(samples)]
        images, _ = model.sample(model.encode(prompts), g, steps=settings.steps, guidance=settings.guidance)
        predicted = _judge({axis: judges[axis]}, model.to_images(images))[axis]
        labels = torch.arange(len(names[axis])).repeat_interleave(samples)
        if axis == concept.axis:
            target = names[axis].index(concept.name)
            shown = labels == target
            out["ua"] = unlearning_accuracy(predicted[shown], target)
            out["ira"] = retain_accuracy(predicted[~shown], labels[~shown])
        else:
            out["cra"] = retain_accuracy(predicted, labels)
    return out


def health_flags(original: dict, scores: dict) -> list[str]:
    """``did_not_forget`` when UA rose less than ``NO_FORGET_POINTS`` over the original's;
    ``collapsed`` when IRA or CRA fell more than ``COLLAPSE_POINTS``."""
    flags = []
    if scores["ua"] - original["ua"] < NO_FORGET_POINTS:
        flags.append("did_not_forget")
    if max(original["ira"] - scores["ira"], original["cra"] - scores["cra"]) > COLLAPSE_POINTS:
        flags.append("collapsed")
    return flags
