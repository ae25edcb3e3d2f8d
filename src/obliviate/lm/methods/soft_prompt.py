"""SPUL: soft prompting for unlearning. Bhaila, Van and Wu, "Soft Prompting for
Unlearning in Large Language Models", 2024 (reference: karuna-bhaila/llm_unlearning,
``spul.py``).

The weights never change: a soft prompt of ``tokens`` virtual tokens, put before every
query, is learned (P-tuning: the virtual tokens come out of an MLP prompt encoder,
Hugging Face PEFT's ``PromptEncoder`` with ``encoder_hidden_size`` 128) with the
reference's three terms: cross-entropy toward an uninformative answer on the forget
queries (the reference's random "neutral"/"unknown" labels; here an "I don't know"
answer, TOFU's), α × cross-entropy of the retain answers, and β × KL(unprompted ‖
prompted) of the next-token distributions on the retain answers. After training only
the P × hidden prompt is kept (:class:`obliviate.lm.inference.SoftPromptLM`).

Reference settings (OPT-1.3B, Llama-2-7B/13B): 30 virtual tokens, encoder hidden 128,
α = β = 0.5, lr 1e-4, 10 epochs, batch 32, weight decay 0.001, cosine schedule.
Choices: ``tokens`` 0 (default) means 30, or an eighth of a shorter model context
(tofu-mini's 96 positions: 12), so the prompt leaves room for the question; the
reference sums each forget sequence's token losses, ours averages per token (the
``nll_average`` option, as every obliviate method); lr 1e-2 on tofu-mini's tiny model
(the reference preset from 100M parameters)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import torch
from torch import nn

from obliviate.core.registry import register
from obliviate.lm.inference import FixedPrompt, SoftPromptLM
from obliviate.lm.losses import batch_nll, kl_to_reference, sequence_nll
from obliviate.lm.text import model_context
from obliviate.lm.unlearn import LMMethod, PairedDataset, logits_of, make_trainer, mean_nll

REFERENCE_TOKENS = 30


class PromptEncoder(nn.Module):
    """P-tuning's MLP reparametrisation: virtual-token embeddings through
    Linear–ReLU–Linear–ReLU–Linear (PEFT's ``PromptEncoder``, MLP type)."""

    def __init__(self, tokens: int, width: int, hidden: int, generator: torch.Generator):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
            self.embedding = nn.Embedding(tokens, width)
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, width))

    def forward(self) -> torch.Tensor:
        return self.mlp(self.embedding.weight)


@register("soft_prompt", track="lm", needs=("forget", "retain"), paper="Bhaila et al., 2024",
          idea="learn a soft prompt (weights frozen) that makes forget queries uninformative and keeps the rest")
@dataclass
class SoftPrompt(LMMethod):
    epochs: float = 10.0
    lr: float = 1e-2
    weight_decay: float = 0.001
    retain_weight: float = 0.5   # α: retain cross-entropy
    kl_weight: float = 0.5       # β: KL to the unprompted model on the retain answers
    tokens: int = 0              # virtual tokens; 0: 30, or an eighth of a shorter context
    encoder_hidden: int = 128

    needs_idk = True
    own_loop = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tokens < 0 or self.encoder_hidden < 1 or self.kl_weight < 0:
            raise ValueError("soft_prompt: tokens and kl_weight must be >= 0, encoder_hidden >= 1")

    def setup(self, model, tokenizer, forget, generator, *, retain=None) -> None:
        context = model_context(model) or 2048
        self.tokens = self.tokens or min(REFERENCE_TOKENS, context // 8)
        if self.tokens >= context:
            raise ValueError(f"soft_prompt: {self.tokens} virtual tokens do not fit the model's context of {context}")
        width = model.get_input_embeddings().weight.shape[1]
        self.encoder = PromptEncoder(self.tokens, width, self.encoder_hidden, generator)

    def trainable(self, model):
        return []  # the model's weights never change

    def loss(self, model, inputs):
        f, r = inputs["forget"], inputs["retain"]
        uninformed = mean_nll(model, f["idk"], self.nll_average)
        prompted = logits_of(model, r)
        retain = batch_nll(*sequence_nll(prompted, r["labels"]), self.nll_average)
        with torch.no_grad():
            plain = model.base_logits(r["input_ids"], r["attention_mask"])
        kl = kl_to_reference(prompted, plain, r["labels"], positions="answer")
        return self.forget_weight * uninformed + self.retain_weight * retain + self.kl_weight * kl

    def run(self, model, tokenizer, forget, retain, generator):
        device = next(model.parameters()).device
        prompted = SoftPromptLM(model, tokenizer, {"tokens": self.tokens}, self.encoder.to(device))
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with tempfile.TemporaryDirectory(prefix="obliviate-") as tmp:
            trainer = make_trainer(prompted, tokenizer, self, PairedDataset(forget, retain), seed, tmp, device=device)
            trainer.train()
        with torch.no_grad():
            self.prompt = FixedPrompt(self.encoder())
        return trainer.epoch_losses

    def wrap(self, model, tokenizer):
        return SoftPromptLM(model, tokenizer, {"tokens": self.tokens}, self.prompt)
