"""WHP: "Who's Harry Potter? Approximate Unlearning in LLMs", Eldan and Russinovich, 2023.

1. A *reinforced* model: a copy fine-tuned further on the forget answers; the tokens
   whose logits rise most are the ones the forget data makes likely.
2. Generic predictions: v_generic = v_base − α·ReLU(v_reinforced − v_base) at every
   answer position (the paper's formula), computed on the forget text with its
   *anchor terms* replaced by generic ones (the paper's GPT-4 dictionary, "Harry" →
   "Jon"); the generic label of a position is argmax v_generic.
3. Fine-tune the base model on the forget questions toward those labels.

Anchors: ``anchors`` maps terms to generic stand-ins ("Elfen Locorel=Jon Smith;Orrin
Prize=a prize"); by default every forget person's name becomes "the author"
(tofu-mini's people are authors; TOFU's are too). Choice: a translation changes the
tokenisation, so the base's predictions on the translated text are aligned with the
original answer's positions only where both answers have the same number of tokens;
otherwise the untranslated text is used (counted and warned). Defaults (reinforce
5 epochs at 1e-3, α 10, fine-tune 5 epochs at 1e-3) are for tofu-mini, measured on
forget05: α 5 leaves the forget answers' probability at 0.67, α 10 brings it to 0.36
(log10 forget quality −0.42, model utility 0.736), α 20 to 0.21 at a retain cost the
health check flags. The paper's Llama-2-7B run (the preset from 100M parameters):
reinforce 3 epochs, α 5, fine-tune at lr 1e-6."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.core.registry import register
from obliviate.lm.corpus import QA
from obliviate.lm.losses import shifted
from obliviate.lm.text import encode_qa, on_device, pad
from obliviate.lm.unlearn import LMMethod, logits_of


def generic_logits(base: torch.Tensor, reinforced: torch.Tensor, alpha: float) -> torch.Tensor:
    """v_base − α·ReLU(v_reinforced − v_base)."""
    return base - alpha * F.relu(reinforced - base)


def translated(qa: QA, anchors: dict[str, str]) -> QA:
    """The QA pair with every anchor term replaced by its generic stand-in."""
    question, answer = qa.question, qa.answer
    for term, generic in anchors.items():
        question, answer = question.replace(term, generic), answer.replace(term, generic)
    return QA(question, answer)


@register("whp", track="lm", needs=("forget",), paper="Eldan & Russinovich, 2023",
          idea="fine-tune toward generic predictions: the base's logits minus what a reinforced model boosts")
@dataclass
class WHP(LMMethod):
    epochs: float = 5.0
    lr: float = 1e-3
    alpha: float = 10.0
    reinforce_epochs: int = 5
    reinforce_lr: float = 1e-3
    anchors: str = ""  # "term=generic;term=generic"; default: each forget person -> "the author"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha < 0 or self.reinforce_epochs < 1 or not self.reinforce_lr > 0:
            raise ValueError("whp: alpha must be >= 0, reinforce_epochs >= 1 and reinforce_lr > 0")
        pairs = [p for p in self.anchors.split(";") if p.strip()]
        if any("=" not in p for p in pairs):
            raise ValueError(f"whp.anchors must be 'term=generic;term=generic', got {self.anchors!r}")
        self.anchor_map = {t.strip(): g.strip() for t, g in (p.split("=", 1) for p in pairs)}

    def annotate(self, model, tokenizer, forget):
        from obliviate.lm.models import LMRecipe, fit

        anchors = self.anchor_map or {qa.person: "the author" for qa in self.forget_qas if qa.person}
        reinforced = copy.deepcopy(model)
        fit(reinforced, tokenizer, [it["example"] for it in forget],
            LMRecipe(epochs=self.reinforce_epochs, lr=self.reinforce_lr, batch_size=8, warmup_ratio=0.0),
            seed=0, device=next(model.parameters()).device)
        qas = [qa for qa in self.forget_qas if qa.question]
        if len(qas) != len(forget):
            raise ValueError("whp needs question-answer pairs (raw text has no answer positions to relabel)")
        misaligned = 0
        model.eval()
        with torch.no_grad():
            for item, qa in zip(forget, qas):
                example = item["example"]
                generic_example = encode_qa(tokenizer, translated(qa, anchors))
                n_answer = int((torch.tensor(example.labels) != -100).sum())
                if int((torch.tensor(generic_example.labels) != -100).sum()) != n_answer:
                    generic_example, misaligned = example, misaligned + 1
                base = self._answer_logits(model, tokenizer, generic_example)
                boosted = self._answer_logits(reinforced, tokenizer, example)
                item["generic_labels"] = generic_logits(base, boosted, self.alpha).argmax(-1).cpu()
        if misaligned:
            warnings.warn(f"whp: {misaligned} of {len(forget)} translated answers tokenise to another length: their "
                          "generic labels come from the untranslated text", stacklevel=2)

    @staticmethod
    def _answer_logits(model, tokenizer, example) -> torch.Tensor:
        batch = on_device(pad([example], tokenizer.pad_token_id), model)
        logits, _, mask = shifted(logits_of(model, batch).float(), batch["labels"])
        return logits[mask]

    def loss(self, model, inputs):
        f = inputs["forget"]
        labels = f["labels"].clone()
        targets = labels[:, 1:]
        targets[targets != -100] = f["generic_labels"].to(labels.device)
        logits, shifted_targets, mask = shifted(logits_of(model, f), labels)
        return self.forget_weight * F.cross_entropy(logits[mask], shifted_targets[mask])
