"""Causal LMs: tiny models built from a ``transformers`` config for the built-in
benchmark, training them with a ``Trainer``, and loading a user's local Hugging
Face model directory (model + tokenizer)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import torch

from obliviate.core.devices import parse_dtype
from obliviate.lm.text import Example, ExampleDataset, collate


@dataclass(frozen=True)
class TinyLM:
    """A small randomly initialised GPT-2 or Llama, sized to memorise tofu-mini on a CPU."""

    arch: Literal["gpt2", "llama"] = "gpt2"
    hidden: int = 96
    layers: int = 3
    heads: int = 4
    intermediate: int = 384
    max_positions: int = 96

    def build(self, tokenizer, seed: int):
        from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        ids = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                   eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        if self.arch == "gpt2":
            # no dropout, as LLM fine-tuning usually runs: cached reference values (computed
            # in eval mode) then equal the policy's at the start of unlearning
            config = GPT2Config(n_embd=self.hidden, n_layer=self.layers, n_head=self.heads,
                                n_inner=self.intermediate, n_positions=self.max_positions,
                                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids)
            return GPT2LMHeadModel(config)
        config = LlamaConfig(hidden_size=self.hidden, num_hidden_layers=self.layers,
                             num_attention_heads=self.heads, intermediate_size=self.intermediate,
                             max_position_embeddings=self.max_positions, **ids)
        return LlamaForCausalLM(config)


@dataclass(frozen=True)
class LMRecipe:
    """How the original and the retain-only models are trained."""

    epochs: int = 25
    lr: float = 5e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05


def training_args(output_dir: str, *, epochs: float, lr: float, batch_size: int, seed: int,
                  weight_decay: float = 0.0, warmup_ratio: float = 0.0, scheduler: str = "linear",
                  progress: bool = False, device: torch.device | None = None, grad_accumulation: int = 1):
    """``TrainingArguments`` for a quiet, deterministic run that writes nothing to keep,
    on the CPU when ``device`` is the CPU (or None without CUDA), else on the launcher's GPU."""
    import inspect

    from transformers import TrainingArguments

    # transformers 5 folded warmup_ratio into warmup_steps (a float in [0, 1) is a ratio)
    accepts = inspect.signature(TrainingArguments.__init__).parameters
    warmup = {"warmup_ratio": warmup_ratio} if "warmup_ratio" in accepts else {"warmup_steps": warmup_ratio}
    return TrainingArguments(
        output_dir=output_dir, num_train_epochs=epochs, learning_rate=lr,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accumulation,
        weight_decay=weight_decay, **warmup,
        lr_scheduler_type=scheduler, seed=seed, data_seed=seed, report_to="none",
        save_strategy="no", logging_strategy="no", disable_tqdm=not progress,
        remove_unused_columns=False, dataloader_num_workers=0,
        use_cpu=(device.type == "cpu") if device is not None else not torch.cuda.is_available(),
    )


def fit(model, tokenizer, examples: Sequence[Example], recipe: LMRecipe, seed: int,
        progress: bool = False, device: torch.device | None = None) -> float:
    """Train ``model`` on ``examples`` (answer-token cross-entropy) on ``device`` (see
    :func:`training_args`); returns seconds."""
    from transformers import Trainer

    with tempfile.TemporaryDirectory(prefix="obliviate-") as tmp:
        args = training_args(tmp, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                             seed=seed, weight_decay=recipe.weight_decay, warmup_ratio=recipe.warmup_ratio,
                             progress=progress, device=device)
        trainer = quiet(Trainer(model=model, args=args, train_dataset=ExampleDataset(examples),
                                data_collator=collate(tokenizer.pad_token_id)), progress)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    model.eval()
    return seconds


def quiet(trainer, progress: bool):
    """Drop the Trainer's printing of its final metrics (and its bar unless ``progress``)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    if not progress:
        trainer.remove_callback(ProgressCallback)
    return trainer


def load_pretrained(path: str | Path, torch_dtype: str | torch.dtype | None = None,
                    attn_implementation: str | None = None):
    """A local Hugging Face causal-LM directory (``config.json``, weights, tokenizer files),
    loaded without network access, in ``torch_dtype`` ("bfloat16", "float16", "float32",
    "auto" or a ``torch.dtype``; default: as saved) with ``attn_implementation`` ("eager",
    "sdpa", "flash_attention_2", ...) when given. Returns (model, tokenizer)."""
    options = {}
    if torch_dtype is not None:
        options["torch_dtype"] = parse_dtype(torch_dtype)
    if attn_implementation is not None:
        options["attn_implementation"] = str(attn_implementation)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if path.is_file():
        raise ValueError(f"--model {str(path)!r} is a file; give the model's directory (config.json, weights, tokenizer)")
    if not path.is_dir():
        raise ValueError(f"model directory {str(path)!r} does not exist")
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} is not a Hugging Face model directory: no config.json")
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
    if not any((path / f).is_file() for f in tokenizer_files):
        raise ValueError(f"{path} has no tokenizer (expected one of {', '.join(tokenizer_files)}); "
                         "save it with tokenizer.save_pretrained(dir)")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **options)
    except (ValueError, ImportError) as err:  # e.g. an attention implementation that is not installed
        raise ValueError(f"cannot load {path} with {options}: {str(err).splitlines()[0]}") from None
    from obliviate.lm.inference import rewrap

    model = rewrap(path, model, tokenizer)  # a guarded model comes back guarded
    model.eval()
    return model, tokenizer

