"""Scoring a Stable Diffusion model with the user's own image classifiers on a prompt set.

A judge is an image classifier with named labels: any ``nn.Module`` (wrapped in
:class:`ImageJudge` with its labels and preprocessing) or a local Hugging Face
image-classification directory (:func:`load_judge`: ``config.json`` with ``id2label``
and ``preprocessor_config.json``; nothing is downloaded). Each judge scores one axis
(``style``, ``object``, ``nudity`` ...), and :func:`evaluate_prompt_set` computes
UnlearnCanvas's three accuracies from what the judges see in the generated images:

- **UA** on the erased concept's prompts: images NOT judged the concept;
- **IRA** (in-domain retain) on the other prompts labelled on the same axis: images
  judged their own label;
- **CRA** (cross-domain retain) on the same other prompts, by the judge of another
  labelled axis (UnlearnCanvas: the object classifier on a style erasure's images of
  the other styles; the erased concept's own images count only in UA, as in the
  digits-canvas evaluation).

A prompt set without labels on the erased axis (I2P) makes every prompt a target
prompt: UA is then the share of images the judge does not flag, ``concept_rate`` the
share it does (I2P's nudity / inappropriateness rate)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from obliviate.diffusion.models import Diffusion
from obliviate.diffusion.prompt_sets import PromptRow


class ImageJudge(torch.nn.Module):
    """``module`` as a judge: it gets RGB images in [0, 1], resized to ``size`` (H, W)
    and normalised with ``mean`` / ``std`` when given, and returns one logit per label."""

    def __init__(self, module: torch.nn.Module, labels: Sequence[str], *, size: tuple[int, int] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 crop: tuple[int, int] | None = None, logits_of=None):
        super().__init__()
        if not labels or len(set(labels)) != len(labels):
            raise ValueError("a judge needs distinct label names, one per output")
        self.module, self.labels = module.eval(), list(labels)
        self.size, self.crop = size, crop
        as_channels = lambda v: None if v is None else torch.tensor(list(v), dtype=torch.float32).view(1, -1, 1, 1)  # noqa: E731
        self.mean, self.std = as_channels(mean), as_channels(std)
        self._logits_of = logits_of or (lambda out: out)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        p = next(self.module.parameters())
        x = images.to(device=p.device, dtype=torch.float32)
        if self.size is not None and tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        if self.crop is not None:
            h, w = self.crop
            top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
            x = x[..., top:top + h, left:left + w]
        if self.mean is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        return x.to(p.dtype)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self._logits_of(self.module(self.preprocess(images)))
        if logits.shape[-1] != len(self.labels):
            raise ValueError(f"the judge returned {logits.shape[-1]} outputs for {len(self.labels)} labels")
        return logits

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 64) -> list[str]:
        """The label the judge gives each image."""
        out = []
        for start in range(0, len(images), batch_size):
            out += [self.labels[i] for i in self(images[start:start + batch_size]).argmax(-1).tolist()]
        return out


def load_judge(path: str | os.PathLike, device: str | torch.device | None = None) -> ImageJudge:
    """A local Hugging Face image-classification directory as a judge: its labels from
    ``config.json``'s ``id2label``, its resize / centre crop / normalisation from the
    image processor's settings (applied to tensors, so images never leave the device)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from obliviate.core.devices import resolve_device

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"judge {path} is not a Hugging Face model directory (no config.json)")
    try:
        model = AutoModelForImageClassification.from_pretrained(path, local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot load judge {path} as an image classifier: {str(err).splitlines()[0]}") from None
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    size = _hw(getattr(processor, "size", None)) if getattr(processor, "do_resize", True) else None
    crop = _hw(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else None
    if size is not None and size[1] is None:  # shortest_edge: square input, then the crop
        size = (size[0], size[0])
    normalise = getattr(processor, "do_normalize", True)
    return ImageJudge(model.to(resolve_device(device)), labels, size=size, crop=crop,
                      mean=processor.image_mean if normalise else None, std=processor.image_std if normalise else None,
                      logits_of=lambda out: out.logits)


def _hw(size) -> tuple[int, int | None] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    if "height" in size:
        return (size["height"], size["width"])
    if "shortest_edge" in size:
        return (size["shortest_edge"], None)
    raise ValueError(f"unsupported image processor size {size!r}")


def parse_target(spec: str, judges: dict[str, ImageJudge]) -> tuple[str, str]:
    """``AXIS:LABEL`` (e.g. ``style:Van_Gogh``, ``nudity:nsfw``) checked against the judges."""
    axis, sep, label = spec.partition(":")
    if not sep or not label:
        raise ValueError(f"forget spec {spec!r}: use AXIS:LABEL, e.g. style:Van_Gogh (axes judged: "
                         f"{', '.join(judges)})")
    if axis not in judges:
        raise ValueError(f"no judge for axis {axis!r}; give one with --judge {axis}=DIR (judged: {', '.join(judges)})")
    if label not in judges[axis].labels:
        raise ValueError(f"the {axis} judge has no label {label!r} (its labels: {', '.join(judges[axis].labels[:20])}"
                         f"{' ...' if len(judges[axis].labels) > 20 else ''})")
    return axis, label


def generate(model: Diffusion, rows: Sequence[PromptRow], *, images_per_prompt: int, steps: int, guidance: float,
             batch_rows: int = 8, progress=None) -> torch.Tensor:
    """Images in [0, 1] (CPU), ``images_per_prompt`` per row. Each row's starting noise
    is drawn from a generator seeded with its own seed, so its images do not depend on
    the rows around it; rows of the same guidance are denoised ``batch_rows`` at a time."""
    images: list[torch.Tensor | None] = [None] * len(rows)
    by_guidance: dict[float, list[int]] = {}
    for i, row in enumerate(rows):
        by_guidance.setdefault(guidance if row.guidance is None else row.guidance, []).append(i)
    for scale, indices in by_guidance.items():
        for start in range(0, len(indices), batch_rows):
            chunk = indices[start:start + batch_rows]
            noise = torch.cat([torch.randn((images_per_prompt, *model.latent_shape),
                                           generator=torch.Generator().manual_seed(rows[i].seed)) for i in chunk])
            emb = model.encode([rows[i].prompt for i in chunk for _ in range(images_per_prompt)])
            latents, _ = model.sample(emb, None, steps=steps, guidance=scale, noise=noise)
            decoded = ((model.to_images(latents).float() + 1) / 2).cpu()
            for k, i in enumerate(chunk):
                images[i] = decoded[k * images_per_prompt:(k + 1) * images_per_prompt]
            if progress is not None:
                progress(len(chunk))
    return torch.cat(images)


def judge_scores(rows: Sequence[PromptRow], predictions: dict[str, list[str]], target: tuple[str, str],
                 images_per_prompt: int) -> dict:
    """UA / IRA / CRA and concept rate (percent) from each judge's predicted label per
    image (``images_per_prompt`` consecutive images per row); NaN where no prompt of
    that kind exists. Pure: the tests check it on hand-built predictions."""
    axis, label = target
    per_image = lambda key: [row.labels.get(key) for row in rows for _ in range(images_per_prompt)]  # noqa: E731
    on_axis = per_image(axis)
    unlabelled = all(v is None for v in on_axis)  # I2P: every prompt shows the concept
    shown = [unlabelled or v == label for v in on_axis]
    target_hits = [p != label for p, s in zip(predictions[axis], shown) if s]
    kept = [p == v for p, v, s in zip(predictions[axis], on_axis, shown) if not s and v is not None]
    cross = [p == v for other in predictions if other != axis
             for p, v, s in zip(predictions[other], per_image(other), shown) if not s and v is not None]
    ua = _percent(target_hits)
    return {"ua": ua, "concept_rate": 100.0 - ua, "ira": _percent(kept), "cra": _percent(cross),
            "target_images": len(target_hits), "other_images": len(kept)}


def _percent(hits: list[bool]) -> float:
    """The UnlearnCanvas accuracies are shares of images (metrics.unlearning_accuracy / retain_accuracy)."""
    return 100.0 * sum(hits) / len(hits) if hits else math.nan


def check_prompt_set(rows: Sequence[PromptRow], judges: dict[str, ImageJudge], forget: str) -> tuple[str, str]:
    """The erased (axis, label), after checking that the judges know it and every label
    the prompt set gives on their axes (one-line ``ValueError`` otherwise)."""
    target = parse_target(forget, judges)
    for axis in judges:
        labelled = {row.labels[axis] for row in rows if axis in row.labels}
        unknown = sorted(labelled - set(judges[axis].labels))
        if unknown:
            raise ValueError(f"the prompt set labels {axis} {', '.join(unknown[:5])}, which the {axis} judge does not "
                             f"know (its labels: {', '.join(judges[axis].labels[:20])})")
    return target


def evaluate_prompt_set(model: Diffusion, rows: Sequence[PromptRow], judges: dict[str, ImageJudge], forget: str, *,
                        images_per_prompt: int = 1, steps: int = 50, guidance: float = 7.5,
                        show_progress: bool = True) -> dict:
    """UA, IRA, CRA and concept rate (percent) of ``model`` on the prompt set, with the
    settings used; every model evaluated with the same rows, seeds and settings draws
    the same noise, so two models' scores differ by what they learned, not by sampling."""
    from obliviate.core.rows import progress_bars

    target = check_prompt_set(rows, judges, forget)
    with progress_bars(show_progress) as bar:
        task = bar.add_task("generating", total=len(rows)) if bar else None
        images = generate(model, rows, images_per_prompt=images_per_prompt, steps=steps, guidance=guidance,
                          progress=(lambda n: bar.advance(task, n)) if bar else None)
    predictions = {axis: judge.predict(images) for axis, judge in judges.items()}
    scores = judge_scores(rows, predictions, target, images_per_prompt)
    scores["settings"] = {"prompts": len(rows), "images_per_prompt": images_per_prompt, "steps": steps,
                          "guidance": guidance, "judges": {a: len(j.labels) for a, j in judges.items()}}
    return scores
