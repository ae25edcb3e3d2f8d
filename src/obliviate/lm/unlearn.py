"""Running one language-model method: data pairing, reference caching, the Trainer.

A method is a dataclass of hyperparameters with a ``loss(model, inputs)``. It runs on
:class:`UnlearnTrainer`, a ``transformers.Trainer`` whose ``compute_loss`` calls the
method, so ``accelerate launch`` (several GPUs, DeepSpeed, FSDP) scales it with no
extra code. Methods that compare with the frozen starting model through a few
numbers per example (NPO, IdkDPO: sequence log-probabilities; RMU: activations)
declare them in ``needs_reference``; those are computed once before training (in
eval mode) and travel with each example, so no second model is held in memory. They
match the policy exactly at the start only for models without dropout, which is how
LLMs are usually fine-tuned. Methods that compare whole next-token distributions at
every position (KL, UNDIAL) run a :func:`frozen_reference` beside the trained model
instead: a cache would cost positions × vocabulary floats (tens of GB for TOFU with a
Llama vocabulary).
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Sequence

import torch
from torch.utils.data import Dataset

from obliviate.core.registry import build, get_method
from obliviate.core.results import UnlearnResult, health_flags
from obliviate.core.seeding import seed_everything
from obliviate.lm.corpus import QA
from obliviate.lm.losses import batch_nll, sequence_nll
from obliviate.lm.presets import method_defaults
from obliviate.lm.text import (Example, TextFormat, encode, encode_qa, format_of, on_device, pad, resolve_format,
                               text_chunks, use_format, warn_cut)

IDK_ANSWERS = ("I don't know.", "I have no idea.", "I'm not sure about that.", "That is something I don't know.",
               "I can't answer that.", "I'm afraid I don't know.")


@dataclass
class LMMethod:
    """Base of the language-model methods: Trainer settings and the loss weights
    (γ for the forget term, α for the retain term)."""

    epochs: float = 5.0
    lr: float = 1e-3
    batch_size: int = 16
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    grad_accumulation: int = 1  # optimiser step every this many batches (effective batch = batch_size × this)
    lr_schedule: Literal["constant", "linear"] = "constant"  # after the warmup
    forget_weight: float = 1.0
    retain_weight: float = 1.0
    lora: bool = False
    lora_rank: int = 8
    nll_average: Literal["token", "sequence"] = "token"  # GA and retain NLL: OpenUnlearning's token mean
    sam: float = 0.0  # ρ of a sharpness-aware step on the objective (0: plain steps); see sharpness_aware
    mask: Literal["none", "wagle"] = "none"  # train only the weights a WAGLE attribution selects
    mask_ratio: float = 0.2  # the fraction of weights the mask lets move
    mask_mu: float = 1e-3  # WAGLE's μ (the diagonal-Hessian constant of its attribution)

    method_name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    needs_reference: ClassVar[tuple[str, ...]] = ()  # forget_logp, idk_logp, retain_hidden
    needs_idk: ClassVar[bool] = False  # each forget item carries an "I don't know" answer to its question
    own_loop: ClassVar[bool] = False  # the method updates the weights itself (``run``), not through a loss

    def __post_init__(self) -> None:
        name = self.method_name
        if self.epochs <= 0 or self.lr <= 0 or self.batch_size < 1 or self.grad_accumulation < 1:
            raise ValueError(f"{name}: epochs and lr must be > 0, batch_size and grad_accumulation >= 1")
        if self.forget_weight < 0 or self.retain_weight < 0:
            raise ValueError(f"{name}: forget_weight and retain_weight must be >= 0")
        if self.sam < 0:
            raise ValueError(f"{name}: sam (the perturbation radius ρ) must be >= 0, got {self.sam}")
        if not 0 < self.mask_ratio <= 1 or not self.mask_mu > 0:
            raise ValueError(f"{name}: mask_ratio must be in (0, 1] and mask_mu > 0")

    def setup(self, model, tokenizer, forget: list[Example], generator: torch.Generator, *,
              retain: list[Example] | None = None) -> None:
        """Called once, before reference caching and training, with the encoded forget
        set (and the retain set, for the methods that need it)."""

    def annotate(self, model, tokenizer, forget: list[dict]) -> None:
        """Called once after ``setup``: add per-example values to the forget items
        (a tensor per answer token is concatenated in batch order by the collator)."""

    def loss(self, model, inputs: dict) -> torch.Tensor:
        raise NotImplementedError

    def trainable(self, model) -> list[str] | None:
        """Names of the parameters to train (None: all)."""
        return None

    def update_mask(self) -> dict[str, torch.Tensor] | None:
        """Per parameter name, a boolean tensor of the elements training may change
        (None: all of them). The others keep their starting value exactly."""
        return getattr(self, "weight_mask", None)

    def finish(self, model) -> None:
        """Called once after training (LoRA merged), to edit the trained weights."""

    def wrap(self, model, tokenizer):
        """The model to return: ``model`` itself, or an inference-time wrapper of it
        (:mod:`obliviate.lm.inference`)."""
        return model

    def run(self, model, tokenizer, forget: list[dict], retain: list[dict] | None,
            generator: torch.Generator) -> list[list[float]]:
        """For ``own_loop`` methods: update ``model`` in place; return losses per epoch."""
        raise NotImplementedError


@dataclass
class FrozenReferenceMethod(LMMethod):
    """Base of the methods that compare with π_ref's whole next-token distribution at
    every position (KL, UNDIAL): a frozen copy of the starting model runs beside the
    trained one, on ``reference_device`` if given (a second GPU). Caching its outputs
    instead would cost positions × vocabulary floats: TOFU's retain90 (3,600 answers,
    ~60 positions each padded) with Llama-3's 128,256-token vocabulary in fp32 is
    ~110 GB; the copy costs one set of weights (2.5 GB for Llama-3.2-1B in bf16, 16 GB
    for an 8B model) and one extra forward pass per step.
    ``positions``: over "all" positions of the padded batch (OpenUnlearning's) or the
    "answer" tokens only."""

    positions: Literal["all", "answer"] = "all"  # validated by the registry, as every Literal field
    reference_device: str = ""  # where the frozen copy runs ("": beside the trained model), e.g. "cuda:1"

    def setup(self, model, tokenizer, forget, generator, *, retain=None) -> None:
        from obliviate.core.devices import resolve_device

        self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.pinned = resolve_device(self.reference_device) if self.reference_device else None
        if self.pinned is not None:
            self.reference.to(self.pinned)

    @torch.no_grad()
    def reference_logits(self, batch: dict) -> torch.Tensor:
        device = batch["input_ids"].device
        if self.pinned is None:
            return logits_of(self.reference.to(device), batch)
        return logits_of(self.reference, {k: v.to(self.pinned) for k, v in batch.items()}).to(device)


def logits_of(model, batch: dict) -> torch.Tensor:
    """The model's logits on a padded batch."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def avg_nll(model, batch: dict) -> torch.Tensor:
    """ℓ̄ of each sequence of a padded batch."""
    total, count = sequence_nll(logits_of(model, batch), batch["labels"])
    return total / count.clamp_min(1)


def sequence_logp(model, batch: dict) -> torch.Tensor:
    """log π(y|x) of each sequence: the summed answer-token log-probability (−ℓ)."""
    total, _ = sequence_nll(logits_of(model, batch), batch["labels"])
    return -total


def mean_nll(model, batch: dict, average: str = "token") -> torch.Tensor:
    """The batch's answer NLL (:func:`obliviate.lm.losses.batch_nll`)."""
    total, count = sequence_nll(logits_of(model, batch), batch["labels"])
    return batch_nll(total, count, average)


def retain_nll(model, inputs: dict, average: str = "token") -> torch.Tensor:
    return mean_nll(model, inputs["retain"], average)


# -- data ------------------------------------------------------------------------------

class PairedDataset(Dataset):
    """One forget item per index, paired with a random retain item (an epoch is a pass
    over the forget set, as in TOFU and OpenUnlearning)."""

    def __init__(self, forget: list[dict], retain: list[dict] | None):
        self.forget, self.retain = forget, retain

    def __len__(self) -> int:
        return len(self.forget)

    def __getitem__(self, i: int) -> dict:
        item = {"forget": self.forget[i]}
        if self.retain:
            item["retain"] = self.retain[int(torch.randint(len(self.retain), (1,)))]
        return item


def collate(pad_id: int):
    def batch(items: list[dict]) -> dict:
        out = {}
        for part in items[0]:
            rows = [it[part] for it in items]
            padded = pad([r["example"] for r in rows], pad_id)
            for key in rows[0]:
                if key == "example":
                    continue
                values = [r[key] for r in rows]
                if isinstance(values[0], Example):
                    padded[key] = pad(values, pad_id)
                elif values[0].dim() == 0:
                    padded[key] = torch.stack(values)
                else:  # per-token reference values: concatenated in batch order
                    padded[key] = torch.cat(values)
            out[part] = padded
        return out

    return batch


@torch.no_grad()
def cache_reference(method: LMMethod, model, tokenizer, forget: list[dict], retain: list[dict] | None) -> None:
    """Add the reference values the method needs to each item (computed once, from the
    starting model)."""
    model.eval()
    wanted = set(method.needs_reference)
    for items, prefix in ((forget, "forget"), (retain or [], "retain")):
        keys = [k for k in wanted if k.startswith(prefix) or (prefix == "forget" and k == "idk_logp")]
        if not keys:
            continue
        for start in range(0, len(items), 32):
            chunk = items[start:start + 32]
            batch = on_device(pad([it["example"] for it in chunk], tokenizer.pad_token_id), model)
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        output_hidden_states="retain_hidden" in keys)
            nll, _ = sequence_nll(out.logits.float(), batch["labels"])
            # kept on the CPU with the data; the Trainer moves each batch to the model
            for i, it in enumerate(chunk):
                if f"{prefix}_logp" in keys:
                    it[f"{prefix}_logp"] = -nll[i].cpu()
                if "retain_hidden" in keys:
                    h = out.hidden_states[method.layer + 1][i]
                    it["retain_hidden"] = h[batch["attention_mask"][i].bool()].cpu()
            if "idk_logp" in keys:
                idk = on_device(pad([it["idk"] for it in chunk], tokenizer.pad_token_id), model)
                idk_logp = sequence_logp(model, idk)
                for i, it in enumerate(chunk):
                    it["idk_logp"] = idk_logp[i].cpu()


# -- the Trainer ------------------------------------------------------------------------

def scheduler_name(method: LMMethod) -> str:
    """The Trainer's ``lr_scheduler_type``: linear decay after the warmup (the reference
    preset), or constant, with the warmup when there is one (plain "constant" would
    ignore ``warmup_ratio``)."""
    if method.lr_schedule == "linear":
        return "linear"
    return "constant_with_warmup" if method.warmup_ratio else "constant"


def make_trainer(model, tokenizer, method: LMMethod, dataset: Dataset, seed: int, output_dir: str,
                 progress: bool = False, device: torch.device | None = None):
    from transformers import Trainer, TrainerCallback

    from obliviate.lm.models import quiet, training_args

    class UnlearnTrainer(Trainer):
        """A ``transformers.Trainer`` whose loss is the unlearning method's."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.epoch_losses: list[list[float]] = [[]]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = method.loss(model, inputs)
            self.epoch_losses[-1].append(float(loss.detach()))
            return (loss, {}) if return_outputs else loss

        def training_step(self, model, inputs, num_items_in_batch=None):
            if not method.sam:
                return super().training_step(model, inputs, num_items_in_batch)
            with sharpness_aware(model, lambda: method.loss(model, self._prepare_inputs(inputs)), method.sam):
                return super().training_step(model, inputs, num_items_in_batch)

    class EpochEnd(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            trainer.epoch_losses.append([])

    class KeepMasked(TrainerCallback):
        """Gradients outside the method's update mask are zeroed (so gradient clipping
        sees only the trained elements), and those elements return to their starting
        value after every optimiser step (weight decay would still move them)."""

        def __init__(self, mask: dict[str, torch.Tensor]):
            self.mask = mask
            self.start = {n: p.detach().clone() for n, p in model.named_parameters() if n in mask}
            self.hooks = [p.register_hook(lambda g, keep=mask[n]: g * keep.to(g.device, g.dtype))
                          for n, p in model.named_parameters() if n in mask and p.requires_grad]

        def on_train_end(self, args, state, control, **kwargs):
            for hook in self.hooks:
                hook.remove()

        def on_step_end(self, args, state, control, **kwargs):
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in self.mask:
                        keep = self.mask[name].to(p.device)
                        p.copy_(torch.where(keep, p, self.start[name].to(p.device)))

    args = training_args(output_dir, epochs=method.epochs, lr=method.lr, batch_size=method.batch_size, seed=seed,
                         weight_decay=method.weight_decay, warmup_ratio=method.warmup_ratio,
                         scheduler=scheduler_name(method),
                         progress=progress, device=device, grad_accumulation=method.grad_accumulation)
    mask = method.update_mask()
    callbacks = [EpochEnd()] + ([KeepMasked(mask)] if mask else [])
    trainer = UnlearnTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate(tokenizer.pad_token_id),
                             callbacks=callbacks)
    return quiet(trainer, progress)


class sharpness_aware:
    """A sharpness-aware minimisation step (Foret et al., ICLR 2021), as "Towards LLM
    Unlearning Resilient to Relearning Attacks: A Sharpness-Aware Minimization
    Perspective and Beyond" (Fan et al., ICML 2025) applies it to unlearning: the
    gradient is taken at θ + ε, ε = ρ·g/‖g‖ with g the objective's gradient at θ (over
    the trained parameters), then θ is restored and the optimiser steps with it.
    A minimum of the unlearning objective that stays a minimum in a ρ-ball is harder
    to leave by relearning. Choice: the whole objective (forget and retain terms) is
    perturbed; the paper's variant perturbs only the forget term. Under several
    processes each one perturbs with its own batch's gradient (not all-reduced)."""

    def __init__(self, model, objective, rho: float):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.objective, self.rho = objective, rho

    def __enter__(self):
        with torch.enable_grad():
            grads = torch.autograd.grad(self.objective(), self.params, allow_unused=True)
        norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)).item()
        scale = self.rho / (norm + 1e-12)
        self.shifts = [None if g is None else (g * scale).to(p.dtype) for g, p in zip(grads, self.params)]
        with torch.no_grad():
            for p, e in zip(self.params, self.shifts):
                if e is not None:
                    p.add_(e)
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for p, e in zip(self.params, self.shifts):
                if e is not None:
                    p.sub_(e)
        return False


def unlearn_lm(model, tokenizer, forget: Sequence[QA], retain: Sequence[QA] | None, method: str, seed: int,
               hparams: dict[str, Any], progress: bool = False, device: str | torch.device | None = None,
               text_format: TextFormat | None = None) -> UnlearnResult:
    """Validate, copy the model, cache references, train with the method's loss, check health.

    ``text_format`` (default: :func:`~obliviate.lm.text.resolve_format` for this model
    and tokenizer: the tokenizer's chat template if any, the model's context capped at
    2048 tokens) is how every example is tokenised, for training and for every score.

    ``device`` (None: where ``model`` is) places the copy; training runs where the
    ``transformers.Trainer`` puts it: that device on a single machine, each process's
    GPU under ``accelerate launch`` / ``torchrun``."""
    import warnings

    from obliviate.core.devices import resolve_device

    info = get_method(method, "lm")
    hparams, defaults_note = method_defaults(method, sum(p.numel() for p in model.parameters()), hparams)
    algorithm = build(method, hparams, "lm")
    forget, retain = list(forget or []), list(retain or [])
    if not forget:
        raise ValueError("the forget set is empty: nothing to unlearn")
    if "retain" in info.needs and not retain:
        raise ValueError(f"method {method!r} needs a retain set (retain=... in Python, --retain on the command line)")
    if tokenizer is None:
        raise ValueError("a language model needs its tokenizer: pass tokenizer=...")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    target = resolve_device(device) if device is not None else next(model.parameters()).device
    if target.type == "cuda" and (target.index or 0) != torch.cuda.current_device() and not _launched():
        raise ValueError(f"the Trainer trains on the current CUDA device (cuda:{torch.cuda.current_device()}), not "
                         f"{target}: run with CUDA_VISIBLE_DEVICES={target.index} and --device cuda")
    use_format(tokenizer, text_format or resolve_format(tokenizer, model))
    work = copy.deepcopy(model).to(target)
    generator = seed_everything(seed)
    forget_items, questions = training_items(tokenizer, forget, "forget set")
    if algorithm.mask != "none" and not retain:
        raise ValueError(f"{method}: mask={algorithm.mask} attributes weights with the retain set's gradient: "
                         "give a retain set")
    uses_retain = "retain" in info.needs or algorithm.mask != "none"
    retain_items = training_items(tokenizer, retain, "retain set")[0] if uses_retain else None
    # the sets as text, for methods that read them (guardrail's subjects, ECO's prompt classifier)
    algorithm.forget_qas, algorithm.retain_qas = forget, retain
    algorithm.setup(work, tokenizer, [it["example"] for it in forget_items], generator,
                    retain=[it["example"] for it in retain_items] if retain_items else None)
    if algorithm.mask == "wagle":
        from obliviate.lm.attribution import wagle_mask

        algorithm.weight_mask = wagle_mask(work, tokenizer, [it["example"] for it in forget_items],
                                           [it["example"] for it in retain_items], algorithm.mask_ratio,
                                           algorithm.mask_mu, algorithm.batch_size, generator)
    if "idk_logp" in algorithm.needs_reference or algorithm.needs_idk:
        for i, (item, question) in enumerate(zip(forget_items, questions)):
            item["idk"] = encode(tokenizer, question, IDK_ANSWERS[i % len(IDK_ANSWERS)])
    algorithm.annotate(work, tokenizer, forget_items)
    cache_reference(algorithm, work, tokenizer, forget_items, retain_items)
    before = lm_health(work, tokenizer, forget, retain)
    if algorithm.lora and algorithm.update_mask() is not None:
        raise ValueError(f"{method}: an update mask selects elements of the model's own weights; it cannot train "
                         "through LoRA adapters (set lora=false)")
    model_to_train = _with_lora(work, algorithm) if algorithm.lora else work
    trainable = algorithm.trainable(model_to_train)
    if trainable is not None:
        for name, p in model_to_train.named_parameters():
            p.requires_grad_(name in trainable)
    start = time.perf_counter()
    if algorithm.own_loop:
        epoch_losses = algorithm.run(model_to_train, tokenizer, forget_items, retain_items, generator)
    else:
        with tempfile.TemporaryDirectory(prefix="obliviate-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            paired = PairedDataset(forget_items, retain_items if "retain" in info.needs else None)
            trainer = make_trainer(model_to_train, tokenizer, algorithm, paired,
                                   seed, tmp, progress, target)
            trainer.train()
            epoch_losses = trainer.epoch_losses
    seconds = time.perf_counter() - start
    if algorithm.lora:
        work = model_to_train.merge_and_unload()
    algorithm.finish(work)
    work = algorithm.wrap(work, tokenizer)
    for p in work.parameters():
        p.requires_grad_(True)
    work.eval()
    losses = [sum(e) / len(e) for e in epoch_losses if e]
    diverged = not all(torch.isfinite(torch.tensor(losses))) or not all(torch.isfinite(p).all() for p in work.parameters())
    after = lm_health(work, tokenizer, forget, retain)
    result = UnlearnResult(model=work, method=method, hparams={f.name: getattr(algorithm, f.name) for f in fields(algorithm)},
                           seed=seed, seconds=seconds, history=losses, before=before, after=after,
                           flags=health_flags(before, after, diverged), defaults=defaults_note)
    for message in result.warnings():
        from obliviate.core.results import UnlearningWarning

        warnings.warn(message, UnlearningWarning, stacklevel=4)
    return result


def training_items(tokenizer, qas: Sequence[QA], what: str) -> tuple[list[dict], list[str]]:
    """One training item per QA pair, and per ``max_length`` chunk of raw text (no
    token of a long document is dropped), with each item's question ("" for text);
    a pair too long is cut, with a warning."""
    items, questions, pairs = [], [], []
    for qa in qas:
        if qa.question:
            pairs.append(encode_qa(tokenizer, qa))
            chunks = pairs[-1:]
        else:
            chunks = text_chunks(tokenizer, qa.answer)
        items += [{"example": chunk} for chunk in chunks]
        questions += [qa.question] * len(chunks)
    warn_cut(pairs, what, format_of(tokenizer).max_length)
    return items, questions


def _launched() -> bool:
    """Under ``torchrun`` / ``accelerate launch`` (the launcher assigns each process its GPU)."""
    import os

    return "LOCAL_RANK" in os.environ


def as_qa_list(data, name: str) -> list[QA]:
    """QA pairs from a list of QA / dicts, or from a data file (see :func:`obliviate.lm.text.read_data`)."""
    import os

    from obliviate.lm.text import qa_from_dict, read_data

    if isinstance(data, (str, os.PathLike)):
        return read_data(data)
    out = []
    for i, row in enumerate(data or []):
        if isinstance(row, QA):
            out.append(row)
        elif isinstance(row, dict):
            out.append(qa_from_dict(row, f"{name}[{i}]"))
        else:
            raise ValueError(f"{name}[{i}]: expected a QA or a dict with question/answer or text, got {type(row).__name__}")
    return out


def lm_health(model, tokenizer, forget: Sequence[QA], retain: Sequence[QA]) -> dict[str, float]:
    """Mean answer probability exp(−ℓ̄) on the forget set and on (up to 256 of) the retain
    set, in percent: the "accuracy" the health flags compare."""
    from obliviate.lm.evaluate import score

    out = {"forget_acc": 100 * float(torch.tensor(score(model, tokenizer, forget).avg_nll).neg().exp().mean())}
    out["retain_acc"] = (100 * float(torch.tensor(score(model, tokenizer, list(retain)[:256]).avg_nll).neg().exp().mean())
                         if retain else float("nan"))
    return out


def _with_lora(model, method: LMMethod):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=method.lora_rank, lora_alpha=2 * method.lora_rank, lora_dropout=0.0,
                        target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, config)
