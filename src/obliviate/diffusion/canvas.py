"""digits-canvas: a CPU-sized mirror of UnlearnCanvas (Zhang et al., 2024).

UnlearnCanvas crosses 20 objects with 60 painting styles so that erasing one axis
(a style) can be checked against the other (objects) and vice versa. Here the objects
are scikit-learn's 8x8 digits and the styles are four deterministic image filters;
a prompt is "<object> <style>", either word may be left out ("3", "inverted", "").

The prompt encoder is a frozen table of random token embeddings (as Stable
Diffusion's text encoder is frozen): methods that edit or fine-tune the denoiser's
cross-attention see the same kind of input as on a real model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy import ndimage

OBJECTS = tuple(str(d) for d in range(10))
STYLES = ("inverted", "thick", "blurred", "striped")
BOS, PAD = "<bos>", "<pad>"
SEQ_LEN = 3  # <bos> object style


def _inverted(img: np.ndarray) -> np.ndarray:
    return 1.0 - img


def _thick(img: np.ndarray) -> np.ndarray:
    return ndimage.grey_dilation(img, size=(2, 2))


def _blurred(img: np.ndarray) -> np.ndarray:
    out = ndimage.gaussian_filter(img, sigma=0.9)
    return out / max(out.max(), 1e-6)


def _striped(img: np.ndarray) -> np.ndarray:
    rows = np.where(np.arange(8) % 2 == 0, 1.0, 0.25)[:, None]
    return img * rows


STYLE_FILTERS = {"inverted": _inverted, "thick": _thick, "blurred": _blurred, "striped": _striped}


def stylise(img: np.ndarray, style: str) -> np.ndarray:
    """Apply ``style`` to an 8x8 image with values in [0, 1]."""
    return STYLE_FILTERS[style](img)


def prompt(obj: str | None = None, style: str | None = None) -> str:
    """The prompt for an object and/or a style ("3 inverted", "3", "inverted", "")."""
    return " ".join(w for w in (obj, style) if w)


class CanvasEncoder(torch.nn.Module):
    """Frozen prompt encoder: words → fixed random embeddings, padded to ``SEQ_LEN``.

    Unknown words raise a ``ValueError`` naming them, so a misspelt concept cannot
    silently become an empty prompt."""

    def __init__(self, dim: int = 32, seed: int = 1234):
        super().__init__()
        self.vocab = [BOS, PAD, *OBJECTS, *STYLES]
        g = torch.Generator().manual_seed(seed)
        table = torch.randn(len(self.vocab), dim, generator=g)
        self.register_buffer("table", table / table.norm(dim=1, keepdim=True) * dim**0.5)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def token_ids(self, prompts: list[str]) -> torch.Tensor:
        rows = []
        for text in prompts:
            words = text.split()
            unknown = [w for w in words if w not in self.index]
            if unknown:
                raise ValueError(f"unknown word {unknown[0]!r} in prompt {text!r}; digits-canvas knows the "
                                 f"objects {', '.join(OBJECTS)} and the styles {', '.join(STYLES)}")
            if len(words) > SEQ_LEN - 1:
                raise ValueError(f"prompt {text!r} has more than one object and one style")
            ids = [self.index[BOS]] + [self.index[w] for w in words]
            rows.append(ids + [self.index[PAD]] * (SEQ_LEN - len(ids)))
        return torch.tensor(rows, dtype=torch.long)

    def forward(self, prompts: list[str]) -> torch.Tensor:
        return self.table[self.token_ids(prompts).to(self.table.device)]


@dataclass(frozen=True)
class Canvas:
    """The image set: every digit in ``styles_per_digit`` of the styles (chosen per
    image by a fixed seed), as tensors of shape (N, 1, 8, 8) scaled to [-1, 1]."""

    styles_per_digit: int = 2
    seed: int = 0

    @cached_property
    def _arrays(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        rng = np.random.default_rng(self.seed)
        images, objects, styles = [], [], []
        for img, label in zip(digits.images / 16.0, digits.target):
            for s in sorted(rng.choice(len(STYLES), self.styles_per_digit, replace=False)):
                images.append(stylise(img, STYLES[s]))
                objects.append(int(label))
                styles.append(int(s))
        x = torch.tensor(np.stack(images), dtype=torch.float32).unsqueeze(1) * 2 - 1
        return x, torch.tensor(objects), torch.tensor(styles)

    @property
    def images(self) -> torch.Tensor:
        return self._arrays[0]

    @property
    def objects(self) -> torch.Tensor:
        return self._arrays[1]

    @property
    def styles(self) -> torch.Tensor:
        return self._arrays[2]

    def prompts(self, index: torch.Tensor | None = None) -> list[str]:
        idx = torch.arange(len(self.images)) if index is None else index
        return [prompt(OBJECTS[self.objects[i]], STYLES[self.styles[i]]) for i in idx.tolist()]


@dataclass(frozen=True)
class Concept:
    """An erasure target of digits-canvas, parsed from ``object:K`` or ``style:NAME``."""

    axis: str  # "object" or "style"
    name: str

    @classmethod
    def parse(cls, spec: str) -> Concept:
        axis, sep, name = spec.partition(":")
        if not sep or axis not in ("object", "style"):
            raise ValueError(f"unknown forget spec {spec!r} for digits-canvas; use object:K (K in 0-9) "
                             f"or style:NAME ({', '.join(STYLES)})")
        known = OBJECTS if axis == "object" else STYLES
        if name not in known:
            raise ValueError(f"unknown {axis} {name!r} in {spec!r}; the {axis}s are {', '.join(known)}")
        return cls(axis, name)

    @property
    def text(self) -> str:
        return f"{self.axis}:{self.name}"

    @property
    def other_axis(self) -> str:
        return "style" if self.axis == "object" else "object"

    def pairs(self) -> list[tuple[str, str]]:
        """Every (object, style) prompt pair that shows the concept."""
        if self.axis == "object":
            return [(self.name, s) for s in STYLES]
        return [(o, self.name) for o in OBJECTS]

    def anchor(self, obj: str, style: str) -> str:
        """The prompt with the concept's word removed ("3 inverted" → "inverted")."""
        return prompt(None, style) if self.axis == "object" else prompt(obj, None)

    def shown_in(self, canvas: Canvas) -> torch.Tensor:
        """Boolean mask of the canvas images that show the concept."""
        if self.axis == "object":
            return canvas.objects == OBJECTS.index(self.name)
        return canvas.styles == STYLES.index(self.name)
