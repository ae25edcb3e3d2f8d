"""ULD: unlearning from logit difference. Ji et al., "Reversing the Forget-Retain
Objectives: An Efficient LLM Unlearning Framework from Logit Difference", NeurIPS 2024
(reference: UCSB-NLP-Chang/ULD; ``configs/model_mode/uld.yaml``,
``configs/unlearn_loss/remember+uniform.yaml``, ``ContrastLLM``).

The target model is never trained. An assistant — the target's first
``assistant_layers`` blocks and its output head — learns the reverse task: *remember*
the forget answers (NLL) and *forget* the retain set (KL(uniform ‖ p) at every
position, weight 5). At inference the unlearned model's logits are the target's
log-probabilities minus the assistant's logits (weight −1) on the tokens the target
finds plausible (:class:`obliviate.lm.inference.LogitDifferenceLM`): what the
assistant knows and the target knows is cancelled; where the assistant is uniform
(retain data) the target is untouched.

Reference settings (Llama-2-7B): 8 of 32 layers, LoRA r 16, α 32, weight −1, top filter
0.1, retain weight 5. Choices: ``assistant_layers`` defaults to a quarter of the
target's layers (at least 1), as 8 of 32; on tofu-mini's 3-layer model that is one
block, fully fine-tuned (``lora=true`` trains LoRA adapters as the reference; the
preset from 100M parameters does). The retain weight is 20 here: at the reference's 5
the one-block assistant stays confident on retain answers and the subtraction costs
utility (tofu-mini forget05, measured: retain weight 5 → model utility 0.62, forget
answers' probability 0.009; 20 → 0.68 and 0.15, log10 forget quality −0.42; the
retain-only model: 0.76 and 0.08)."""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass

import torch

from obliviate.core.registry import register
from obliviate.lm.inference import LogitDifferenceLM
from obliviate.lm.losses import uniform_kl
from obliviate.lm.unlearn import LMMethod, PairedDataset, logits_of, make_trainer, mean_nll


def first_layers(model, keep: int):
    """A copy of ``model`` with only its first ``keep`` transformer blocks (GPT-2's
    ``transformer.h``, Llama's ``model.layers``)."""
    small = copy.deepcopy(model)
    for owner, name in (("transformer", "h"), ("model", "layers")):
        blocks = getattr(getattr(small, owner, None), name, None)
        if blocks is not None:
            setattr(getattr(small, owner), name, torch.nn.ModuleList(list(blocks)[:keep]))
            small.config.num_hidden_layers = keep  # GPT-2's n_layer is an alias
            return small
    raise ValueError(f"uld: cannot find the transformer blocks of a {type(model).__name__}")


@register("uld", track="lm", needs=("forget", "retain"), paper="Ji et al., NeurIPS 2024",
          idea="train an assistant to remember the forget set and forget the rest; subtract its logits at inference")
@dataclass
class ULD(LMMethod):
    epochs: float = 10.0
    lr: float = 1e-3
    retain_weight: float = 20.0
    assistant_layers: int = 0  # 0: a quarter of the target's layers, at least 1
    weight: float = -1.0
    top_filter: float = 0.1

    own_loop = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.assistant_layers < 0 or not 0 < self.top_filter <= 1:
            raise ValueError("uld: assistant_layers must be >= 0 and top_filter in (0, 1]")

    def setup(self, model, tokenizer, forget, generator, *, retain=None) -> None:
        layers = model.config.num_hidden_layers
        self.assistant_layers = self.assistant_layers or max(1, layers // 4)
        if self.assistant_layers > layers:
            raise ValueError(f"uld: assistant_layers {self.assistant_layers} > the model's {layers} layers")
        self.assistant = first_layers(model, self.assistant_layers)

    def trainable(self, model):
        return []  # the target's weights never change

    def loss(self, model, inputs):
        remember = mean_nll(model, inputs["forget"], self.nll_average)
        r = inputs["retain"]
        return self.forget_weight * remember + self.retain_weight * uniform_kl(logits_of(model, r))

    def run(self, model, tokenizer, forget, retain, generator):
        assistant = self.assistant
        if self.lora:
            from obliviate.lm.unlearn import _with_lora

            assistant = _with_lora(assistant, self)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with tempfile.TemporaryDirectory(prefix="obliviate-") as tmp:
            trainer = make_trainer(assistant, tokenizer, self, PairedDataset(forget, retain), seed, tmp,
                                   device=next(model.parameters()).device)
            trainer.train()
        self.assistant = (assistant.merge_and_unload() if self.lora else assistant).eval()
        return trainer.epoch_losses

    def wrap(self, model, tokenizer):
        return LogitDifferenceLM(model, tokenizer, {"weight": self.weight, "top_filter": self.top_filter,
                                                    "assistant_layers": self.assistant_layers}, self.assistant)
