"""Sliced adapters for language models, after S3T: Chowdhury et al., "Towards Scalable
Exact Machine Unlearning Using Parameter-Efficient Fine-Tuning", ICLR 2025.

A frozen base model that never saw the deletable data carries R LoRA adapters in
sequence: adapter r is trained on slice r of the fine-tuning data with adapters
0..r−1 active and frozen, so what the stack 0..r computes depends on slices 0..r only.
Deleting ids whose first slice is r:

- **at once**, adapters r..R−1 are switched off and their weights discarded (each is
  replaced by a fresh, untrained adapter): the model keeps serving with adapters
  0..r−1, which never saw the ids (exact from that moment, at reduced utility);
- their retraining without the ids is **scheduled** (:meth:`SlicedAdapters.retrain_pending`),
  in order; afterwards the model equals the sliced adapters trained from scratch
  without the ids, with the same seeds, weight for weight (tested).

Slices are a seeded permutation of the ids' SHA-256 (SISA's assignment with one
shard); each adapter's initialisation and training are seeded by (seed, slice).
One model, no shards: S3T's shard dimension is SISA's (:mod:`obliviate.exact.sisa`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from obliviate.core.deploy import id_hash
from obliviate.exact.sisa import Assignment, derived_seed
from obliviate.lm.corpus import QA
from obliviate.lm.models import LMRecipe, fit
from obliviate.lm.text import encode_qa


@dataclass
class Deactivation:
    """What a deletion did at once: the adapters switched off, those still serving, and
    the retraining now scheduled."""

    deleted: int
    deactivated: list[int]
    serving: list[int]
    pending: list[int]
    seconds: float = 0.0
    retrained: list[int] = field(default_factory=list)


class SlicedAdapters:
    """``base`` (a Hugging Face causal LM, frozen) with ``slices`` stacked LoRA adapters."""

    def __init__(self, base, tokenizer, slices: int = 4, rank: int = 16, recipe: LMRecipe | None = None,
                 seed: int = 0):
        from peft import LoraConfig

        if slices < 1 or rank < 1:
            raise ValueError(f"sliced adapters need slices >= 1 and rank >= 1, got {slices} and {rank}")
        self.tokenizer, self.slices, self.seed = tokenizer, slices, seed
        # tofu-mini: rank 16, 40 epochs at 2e-2 take the people's answers from 0.4% to 31% probability
        # (rank 32 at the same lr diverged; 1e-2 learnt little)
        self.recipe = recipe or LMRecipe(epochs=40, lr=2e-2, batch_size=16, warmup_ratio=0.0)
        self.config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
        self.base, self.model = base, None
        self.assignment: Assignment | None = None
        self.deleted: set[str] = set()
        self.pending: list[int] = []
        self._qas: dict[str, QA] = {}

    # -- training -------------------------------------------------------------------
    def fit(self, qas: Sequence[QA], ids: Sequence[Any] | None = None,
            assignment: Assignment | None = None) -> "SlicedAdapters":
        """Train the adapters in order, adapter r on slice r (ids default to 0..n−1)."""
        keys = [id_hash(i) for i in (range(len(qas)) if ids is None else ids)]
        if len(keys) != len(qas):
            raise ValueError(f"{len(keys)} ids for {len(qas)} examples")
        self._qas = dict(zip(keys, qas))
        self.assignment = assignment or Assignment.draw(keys, 1, self.slices, self.seed)
        self.deleted = set(self.assignment.order) - set(keys)
        for r in range(self.slices):
            self._train_adapter(r)
        self.serve(list(range(self.slices)))
        return self

    def _name(self, r: int) -> str:
        return f"slice{r}"

    def _fresh_adapter(self, r: int) -> None:
        """Adapter r, newly initialised (seeded): whatever it had learnt is gone."""
        from peft import get_peft_model

        torch.manual_seed(derived_seed(self.seed, 0, r))
        if self.model is None:
            self.model = get_peft_model(self.base, self.config, adapter_name=self._name(r))
            return
        if self._name(r) in self.model.peft_config:
            self.serve([a for a in range(self.slices) if a != r and self._name(a) in self.model.peft_config])
            self.model.delete_adapter(self._name(r))
        self.model.add_adapter(self._name(r), self.config)

    def _train_adapter(self, r: int) -> None:
        self._fresh_adapter(r)
        self.serve(list(range(r + 1)))
        for name, p in self.model.named_parameters():  # only adapter r learns
            p.requires_grad_(f".{self._name(r)}." in name)
        placed = self.assignment.place
        examples = [encode_qa(self.tokenizer, self._qas[k]) for k in self.assignment.order
                    if k not in self.deleted and placed[k][1] == r]
        if examples:
            fit(self.model, self.tokenizer, examples, self.recipe, derived_seed(self.seed, 1, r))
        self.model.eval()

    def serve(self, adapters: list[int]) -> None:
        """Serve with ``adapters`` (in order); none: the base model alone."""
        lora = self.model.base_model
        if adapters:
            lora.enable_adapter_layers()
            lora.set_adapter([self._name(r) for r in adapters])
        else:
            lora.disable_adapter_layers()
        for p in self.model.parameters():  # serving: nothing trains
            p.requires_grad_(False)
        self._serving = list(adapters)

    # -- unlearning -------------------------------------------------------------------
    def unlearn(self, ids: Sequence[Any]) -> Deactivation:
        """Delete ``ids``: switch off (and discard) every adapter from the first slice
        holding one, at once; their retraining is scheduled (:meth:`retrain_pending`)."""
        if self.assignment is None:
            raise ValueError("these sliced adapters were never trained (call fit first)")
        keys = self.assignment.deletable(ids, self.deleted, "fine-tuning data")
        placed = self.assignment.place
        start = time.perf_counter()
        first = min(placed[k][1] for k in keys)
        self.deleted |= set(keys)
        affected = list(range(first, self.slices))
        for r in affected:
            if r not in self.pending:
                self._fresh_adapter(r)  # its weights were trained on (or on top of) the deleted ids
        self.pending = sorted(set(self.pending) | set(affected))
        serving = [r for r in range(self.slices) if r < min(self.pending)]
        self.serve(serving)
        return Deactivation(len(keys), affected, serving, list(self.pending), time.perf_counter() - start)

    def retrain_pending(self) -> float:
        """Retrain the scheduled adapters in order, without the deleted ids; then serve
        with all of them again. Returns seconds."""
        start = time.perf_counter()
        for r in self.pending:
            self._train_adapter(r)
        self.pending = []
        self.serve(list(range(self.slices)))
        return time.perf_counter() - start

    @property
    def serving(self) -> list[int]:
        """The adapters the model serves with now."""
        return list(self._serving)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Every adapter's weights (LoRA parameters only)."""
        return {k: v.detach().clone() for k, v in self.model.named_parameters() if "lora_" in k}
