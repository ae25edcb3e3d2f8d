"""The built-in ``digits-canvas`` task: the canvas images, the tiny UNet trained from
scratch on them (the original, and one retrained without each erased concept), and
the object and style judges, all cached in the store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

import torch
import torch.nn.functional as F

from obliviate.classify.models import SmallCNN
from obliviate.core.store import ModelKey, Store
from obliviate.diffusion.canvas import OBJECTS, STYLES, Canvas, CanvasEncoder, Concept, prompt
from obliviate.diffusion.loop import EraseData, Images
from obliviate.diffusion.models import Diffusion, drop_words, noise_schedule, tiny_unet, train_denoiser

RECIPE_VERSION = 1


@dataclass(frozen=True)
class CanvasRecipe:
    """How the original and retrained denoisers are trained (seed fixed: the methods'
    seeds vary, the starting model is shared, as one would with a real model)."""

    channels: tuple[int, ...] = (16, 32)
    embed_dim: int = 32
    epochs: int = 25
    lr: float = 4e-3
    batch_size: int = 128
    seed: int = 0
    judge_epochs: int = 15


@dataclass(frozen=True)
class DigitsCanvasTask:
    name: str = "digits-canvas"
    description: str = ("UnlearnCanvas-like: scikit-learn digits x 4 styles (3594 8x8 images), "
                        "tiny diffusers UNet with cross-attention; erase object:K or style:NAME")
    canvas: Canvas = field(default_factory=Canvas)
    recipe: CanvasRecipe = field(default_factory=CanvasRecipe)

    forget_examples = ("object:3", "style:inverted")

    @cached_property
    def encoder(self) -> CanvasEncoder:
        return CanvasEncoder(self.recipe.embed_dim)

    def concept(self, spec: str) -> Concept:
        return Concept.parse(spec)

    def recipe_digest(self) -> str:
        text = json.dumps({"canvas": asdict(self.canvas), "recipe": asdict(self.recipe),
                           "version": RECIPE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def new_model(self) -> Diffusion:
        torch.manual_seed(self.recipe.seed)
        unet = tiny_unet(cross_attention_dim=self.recipe.embed_dim, channels=self.recipe.channels)
        return Diffusion(unet.eval(), self.encoder, noise_schedule(), (1, 8, 8))

    # -- cached models ---------------------------------------------------------------

    def model_for(self, store: Store, kind: str, spec: str = "", progress=None,
                  device: str | None = None) -> tuple[Diffusion, float]:
        """The original denoiser (``kind="original"``) or the one retrained without
        ``spec``'s images (``"retrain"``), from the store or trained now, on ``device``
        (None: CPU); returns (model, training seconds)."""
        from obliviate.core.devices import resolve_device

        forget = Concept.parse(spec).text if kind == "retrain" else ""
        key = ModelKey(self.name, kind, self.recipe_digest(), self.recipe.seed, forget)
        model = self.new_model().to(resolve_device(device))
        hit = store.load_model(key)
        if hit is not None:
            model.unet.load_state_dict(hit[0])
            return model, float(hit[1]["seconds"])
        keep = ~Concept.parse(spec).shown_in(self.canvas) if kind == "retrain" else torch.ones(
            len(self.canvas.images), dtype=torch.bool)
        prompts = self.canvas.prompts(keep.nonzero().squeeze(1))
        seconds = train_denoiser(model, self.canvas.images[keep], prompts, epochs=self.recipe.epochs,
                                 lr=self.recipe.lr, batch_size=self.recipe.batch_size, seed=self.recipe.seed,
                                 drop=drop_words, progress=progress)
        store.save_model(key, model.unet.state_dict(), {"seconds": seconds, "n_train": len(prompts)})
        return model, seconds

    def judges(self, store: Store) -> dict[str, SmallCNN]:
        """The object and style classifiers that judge generated images (accuracy on
        held-out real images is stored in their metadata)."""
        out = {}
        for axis, labels, n in (("object", self.canvas.objects, len(OBJECTS)),
                                ("style", self.canvas.styles, len(STYLES))):
            key = ModelKey(self.name, f"judge-{axis}", self.recipe_digest(), self.recipe.seed, "")
            torch.manual_seed(self.recipe.seed)
            judge = SmallCNN(n)
            hit = store.load_model(key)
            if hit is not None:
                judge.load_state_dict(hit[0])
            else:
                accuracy = self._train_judge(judge, labels)
                store.save_model(key, judge.state_dict(), {"seconds": 0.0, "heldout_acc": accuracy})
            out[axis] = judge.eval()
        return out

    def _train_judge(self, judge: SmallCNN, labels: torch.Tensor) -> float:
        g = torch.Generator().manual_seed(self.recipe.seed)
        x = self.canvas.images
        order = torch.randperm(len(x), generator=g)
        train, held = order[: int(0.85 * len(x))], order[int(0.85 * len(x)):]
        opt = torch.optim.Adam(judge.parameters(), lr=1e-3)
        for _ in range(self.recipe.judge_epochs):
            perm = train[torch.randperm(len(train), generator=g)]
            for i in range(0, len(perm), 64):
                idx = perm[i:i + 64]
                # light pixel noise: generated images are never quite clean
                noisy = x[idx] + 0.1 * torch.randn(x[idx].shape, generator=g)
                loss = F.cross_entropy(judge(noisy), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        judge.eval()
        with torch.no_grad():
            return 100.0 * (judge(x[held]).argmax(1) == labels[held]).float().mean().item()

    # -- what methods get --------------------------------------------------------------

    def erase_data(self, spec: str, seed: int = 0, erased_before: tuple[str, ...] = ()) -> EraseData:
        """What a method gets to erase ``spec``; after ``erased_before`` (specs erased
        earlier in a sequence) their images are neither retained nor anchors and
        their names are never a substitute, so erasing the next concept does not
        teach the previous ones back."""
        concept = Concept.parse(spec)
        canvas, g = self.canvas, torch.Generator().manual_seed(seed)
        shown = concept.shown_in(canvas)
        gone = torch.zeros_like(shown)
        for earlier in erased_before:
            gone |= Concept.parse(earlier).shown_in(canvas)
        forget_idx, retain_idx = shown.nonzero().squeeze(1), (~shown & ~gone).nonzero().squeeze(1)
        same_axis = OBJECTS if concept.axis == "object" else STYLES
        gone_names = {Concept.parse(e).name for e in erased_before}
        others = [w for w in same_axis if w != concept.name and w not in gone_names]
        substitutes = []
        for i in forget_idx.tolist():
            obj, style = OBJECTS[canvas.objects[i]], STYLES[canvas.styles[i]]
            other = others[int(torch.randint(len(others), (), generator=g))]
            substitutes.append(prompt(other, style) if concept.axis == "object" else prompt(obj, other))
        anchors, ablated = [], []
        for i in retain_idx.tolist():
            obj, style = OBJECTS[canvas.objects[i]], STYLES[canvas.styles[i]]
            anchors.append(concept.anchor(obj, style))
            ablated.append(prompt(concept.name, style) if concept.axis == "object" else prompt(obj, concept.name))
        other_axis = STYLES if concept.axis == "object" else OBJECTS
        return EraseData(
            concept=concept.name,
            forget=Images(canvas.images[forget_idx], canvas.prompts(forget_idx)),
            substitutes=substitutes,
            anchor=Images(canvas.images[retain_idx], anchors),
            ablated=ablated,
            retain=Images(canvas.images[retain_idx], canvas.prompts(retain_idx)),
            preserve=[*others, *(w for w in other_axis if w not in gone_names)],
        )


CANVAS_TASKS = {"digits-canvas": DigitsCanvasTask()}
