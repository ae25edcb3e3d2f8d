"""Guardrail baselines. Thaker, Maurya, Pawelczyk and Smith, "Guardrail Baselines for
Unlearning in LLMs", 2024: before asking whether a method's weights forgot, compare
with a model that was only told to, or only filtered.

No training: the returned model is the starting one behind a guard
(:class:`obliviate.lm.inference.GuardrailLM`). ``mode="filter"`` (input and output
filtering): a prompt or a generation that names a forget subject gets the refusal,
and a scored answer to such a prompt is scored under uniform next-token
distributions (a model that knows nothing); ``mode="prompt"``: the instruction not to
reveal anything about the subjects precedes every prompt. ``subjects``
(comma-separated) default to the forget QA pairs' people (TOFU's authors).
Choice: subjects are matched as case-insensitive substrings of the decoded text; the
paper's filters also use a classifier or a model as judge, which we leave to the
user's own list. The guard is a string match, so a paraphrase that avoids the names
(our reworded and fill-in probes keep them) passes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from obliviate.core.registry import register
from obliviate.lm.inference import GuardrailLM
from obliviate.lm.unlearn import LMMethod


@register("guardrail", track="lm", needs=("forget",), paper="Thaker et al., 2024",
          idea="no training: refuse (filter) or instruct (prompt) whenever a forget subject is named")
@dataclass
class Guardrail(LMMethod):
    mode: Literal["filter", "prompt"] = "filter"
    subjects: str = ""

    own_loop = True

    def setup(self, model, tokenizer, forget, generator, *, retain=None) -> None:
        named = [s.strip() for s in self.subjects.split(",") if s.strip()]
        self.names = named or sorted({qa.person for qa in self.forget_qas if qa.person})
        if not self.names:
            raise ValueError("guardrail: the forget set names no people (no 'person' field): give subjects=a,b,...")

    def run(self, model, tokenizer, forget, retain, generator):
        return []

    def wrap(self, model, tokenizer):
        return GuardrailLM(model, tokenizer, {"mode": self.mode, "subjects": self.names})
