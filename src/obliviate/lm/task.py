"""The built-in ``tofu-mini`` task: the fictitious-people corpus, a locally trained
tokenizer, and tiny causal LMs trained from scratch (the original on everything, the
retain-only reference without the forget people), cached in the store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property

from obliviate.core.store import ModelKey, Store
from obliviate.lm.corpus import FORGET_SPECS, QA, LMSplit, TofuCorpus
from obliviate.lm.models import LMRecipe, TinyLM, fit
from obliviate.lm.text import encode_qa, format_for, prompt_of, text_chunks, train_tokenizer

RECIPE_VERSION = 3  # 2: no dropout; 3: the real-authors set


@dataclass(frozen=True)
class TofuMiniTask:
    name: str = "tofu-mini"
    description: str = ("TOFU-like corpus of 100 fictitious people (12 QA each) + 20 holdout people; "
                        "tiny GPT-2 trained from scratch")
    corpus: TofuCorpus = field(default_factory=TofuCorpus)
    model: TinyLM = field(default_factory=TinyLM)
    recipe: LMRecipe = field(default_factory=LMRecipe)
    vocab_size: int = 1024

    specs = tuple(FORGET_SPECS)

    @cached_property
    def tokenizer(self):
        texts = []
        for qa in [q for p in self.corpus.people for q in p.qa] + self.corpus.world_knowledge():
            texts += [prompt_of(qa.question), qa.answer, qa.paraphrase, *qa.perturbed]
        return train_tokenizer(texts, self.vocab_size)

    def split(self, spec: str) -> LMSplit:
        return self.corpus.split(spec)

    def recipe_digest(self) -> str:
        text = json.dumps({"corpus": asdict(self.corpus), "model": asdict(self.model), "recipe": asdict(self.recipe),
                           "vocab": self.vocab_size, "version": RECIPE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def model_for(self, store: Store, kind: str, seed: int, spec: str = "", progress: bool = False,
                  device: str | None = None):
        """The original (``kind="original"``, trained on every training QA) or the
        retain-only reference (``kind="retrain"``, without ``spec``'s forget people),
        from the store or trained now, on ``device`` (None: CPU). Returns (model,
        tokenizer, training seconds)."""
        from obliviate.core.devices import resolve_device

        device = resolve_device(device)
        key = ModelKey(self.name, kind, self.recipe_digest(), seed, spec if kind == "retrain" else "")
        hit = store.load_model(key)
        tokenizer = self.tokenizer
        model = self.model.build(tokenizer, seed)
        if hit is not None:
            state, meta = hit
            model.load_state_dict(state, strict=False)
            model.tie_weights()
            model.to(device).eval()
            return model, tokenizer, float(meta["seconds"])
        qas = self.training_set(kind, spec)
        format_for(tokenizer, model)  # documents are cut into chunks of the model's context
        examples = [e for qa in qas for e in ([encode_qa(tokenizer, qa)] if qa.question else text_chunks(tokenizer, qa.answer))]
        seconds = fit(model.to(device), tokenizer, examples, self.recipe, seed, progress, device)
        store.save_model(key, model.state_dict(), {"seconds": seconds, "n_train": len(qas), "forget": key.forget})
        return model.to(device), tokenizer, seconds

    def training_set(self, kind: str, spec: str) -> list[QA]:
        """What the original (everything) or the retain-only model (``spec``'s retain set) learns."""
        return self.split(spec).retain if kind == "retrain" else self.corpus.training_qa()


@dataclass(frozen=True)
class TofuMiniTextTask(TofuMiniTask):
    """tofu-mini with a MUSE-style raw-text forget set: every model also learns one
    document per person (the paraphrased statements of the person's facts) and a
    method unlearns the forget people's documents, not their QA pairs; the QA pairs
    then measure knowledge memorisation and continuing the documents verbatim
    memorisation (``verbmem_f``), separately, as MUSE does."""

    name: str = "tofu-mini-text"
    description: str = ("tofu-mini with one raw-text document per person; the forget people's documents are "
                        "unlearned (MUSE-style: verbatim and knowledge memorisation measured apart)")

    def split(self, spec: str) -> LMSplit:
        return self.corpus.with_documents(self.corpus.split(spec))

    def training_set(self, kind: str, spec: str) -> list[QA]:
        if kind == "retrain":
            split = self.split(spec)
            return split.retain + split.retain_documents
        return self.corpus.training_qa() + [self.corpus.document(p) for p in self.corpus.train_people]


LM_TASKS = {"tofu-mini": TofuMiniTask(), "tofu-mini-text": TofuMiniTextTask()}
