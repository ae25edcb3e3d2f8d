"""Loss functions of the language-model unlearning methods, as pure functions.

Notation: ℓ = summed answer-token negative log-likelihood of a sequence, ℓ̄ = ℓ/|y|,
log π(y|x) = −ℓ. Every function returns a scalar to *minimise*.
Definitions: ../shared FORMULAS (TOFU, NPO, SimNPO, DPO, RMU, UNDIAL, WGA papers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def shifted(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align next-token logits with their targets: (logits[:, :-1], targets, answer mask)."""
    logits, targets = logits[:, :-1, :], labels[:, 1:]
    mask = targets != IGNORE
    return logits, targets.clamp_min(0), mask


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token NLL (B, T−1), zero outside the answer, and the answer mask."""
    logits, targets, mask = shifted(logits, labels)
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return nll * mask, mask


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ℓ (summed answer NLL) per sequence and the number of answer tokens |y|."""
    nll, mask = token_nll(logits, labels)
    return nll.sum(1), mask.sum(1)


def batch_nll(total: torch.Tensor, count: torch.Tensor, average: str = "token") -> torch.Tensor:
    """A batch's answer NLL from ℓ and |y| per sequence. ``"token"``: Σℓ / Σ|y|, the token
    mean over the batch that Hugging Face's causal-LM loss computes and OpenUnlearning's
    GA and retain NLL use (long answers weigh more); ``"sequence"``: the mean of ℓ̄ (every
    answer weighs the same)."""
    if average == "token":
        return total.sum() / count.sum().clamp_min(1)
    if average == "sequence":
        return (total / count.clamp_min(1)).mean()
    raise ValueError(f"unknown NLL average {average!r}: use 'token' or 'sequence'")


def nll_loss(avg_nll: torch.Tensor) -> torch.Tensor:
    """Plain fine-tuning loss on the retain set: mean ℓ̄."""
    return avg_nll.mean()


def ga_loss(avg_nll: torch.Tensor) -> torch.Tensor:
    """Gradient ascent: minimise −ℓ̄ (TOFU's GA baseline)."""
    return -avg_nll.mean()


def npo_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """NPO: mean of −(2/β)·log σ(−β·(log π_θ(y|x) − log π_ref(y|x))), log-probs summed
    over answer tokens. Zhang et al., "Negative Preference Optimization", 2024 (their
    code's normalisation)."""
    return (-(2.0 / beta) * F.logsigmoid(-beta * (policy_logps - ref_logps))).mean()


def simnpo_loss(avg_nll: torch.Tensor, beta: float = 4.5, delta: float = 0.0, gamma: float = 0.0) -> torch.Tensor:
    """SimNPO: mean of −(2/β)·log σ(β·(ℓ̄ − δ) − γ), length-normalised and reference-free.
    The reference code (and OpenUnlearning) puts the margin inside, σ(β(ℓ̄ − δ)); the
    paper's formula outside, σ(βℓ̄ − γ): γ = β·δ. Both default to 0. Fan et al.,
    "Simplicity Prevails: Rethinking Negative Preference Optimization", 2024."""
    return (-(2.0 / beta) * F.logsigmoid(beta * (avg_nll - delta) - gamma)).mean()


def dpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor, ref_chosen_logps: torch.Tensor,
             ref_rejected_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """DPO with TOFU/OpenUnlearning's scaling: mean of −(2/β)·log σ(β·[Δ_chosen − Δ_rejected]),
    Δ = log π_θ − log π_ref. IdkDPO uses "I don't know" answers as chosen and the forget
    answers as rejected. Rafailov et al., NeurIPS 2023; Maini et al. (TOFU), 2024."""
    margin = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return (-(2.0 / beta) * F.logsigmoid(beta * margin)).mean()


def kl_to_reference(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor,
                    positions: str = "all") -> torch.Tensor:
    """KL(π_ref ‖ π_θ) of the next-token distributions, the mean over positions.

    ``positions="all"`` (default): every position of the padded batch, B·T of them,
    padding included, as OpenUnlearning's ``compute_kl_divergence`` (published TOFU KL
    numbers); ``"answer"``: only the positions that predict an answer token (what is
    asked of the model on retain answers, independent of padding and prompt)."""
    if positions == "all":
        vocab = logits.shape[-1]
        log_policy, log_ref = F.log_softmax(logits, -1).view(-1, vocab), F.log_softmax(ref_logits, -1).view(-1, vocab)
    elif positions == "answer":
        logits, _, mask = shifted(logits, labels)
        log_policy, log_ref = F.log_softmax(logits[mask], -1), F.log_softmax(ref_logits[:, :-1][mask], -1)
    else:
        raise ValueError(f"unknown KL positions {positions!r}: use 'all' or 'answer'")
    return F.kl_div(log_policy, log_ref.to(log_policy.dtype), reduction="batchmean", log_target=True)


def rmu_loss(forget_hidden: torch.Tensor, control: torch.Tensor, retain_hidden: torch.Tensor,
             retain_ref_hidden: torch.Tensor, alpha: float = 1200.0) -> torch.Tensor:
    """RMU: ‖h_l(x_f) − c·u‖² + α·‖h_l(x_r) − h_l^ref(x_r)‖², each a mean over tokens
    of the squared error averaged over hidden units; ``control`` is c·u. Li et al.,
    "The WMDP Benchmark", 2024."""
    forget = (forget_hidden - control).pow(2).mean(-1).mean()
    retain = (retain_hidden - retain_ref_hidden).pow(2).mean(-1).mean()
    return forget + alpha * retain


def undial_loss(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, beta: float = 10.0,
                positions: str = "all") -> torch.Tensor:
    """UNDIAL: self-distillation toward softmax(z_ref − β·onehot(y)), the reference's
    logits with the true answer token pushed down by β, as the cross-entropy of the
    student against that soft label. ``logits`` and ``ref_logits``: (B, T, vocab) of the
    trained and the frozen starting model on the same batch.

    ``positions="all"`` (default): the mean over every position of the padded batch,
    B·(T−1) of them, as OpenUnlearning's ``compute_undial_loss`` (where no answer token is
    predicted the soft label is the reference's own distribution, so those positions
    hold the model in place). Unlike that code we leave the reference unadjusted there:
    it indexes the one-hot with the label −100, which lowers the *last* vocabulary
    entry by β at every prompt and padding position. ``"answer"``: only the positions
    that predict an answer token. Dong et al., "UNDIAL: Self-Distillation with Adjusted
    Logits for Robust Unlearning", 2024."""
    logits, targets, mask = shifted(logits, labels)
    # the true token lowered by β where one is predicted (scatter: no B×T×vocab one-hot)
    adjusted = ref_logits[:, :-1].to(logits.dtype).clone()
    adjusted.scatter_add_(-1, targets.unsqueeze(-1), (-beta * mask).unsqueeze(-1).to(adjusted.dtype))
    if positions == "all":
        vocab = logits.shape[-1]
        return F.cross_entropy(logits.reshape(-1, vocab), F.softmax(adjusted, -1).reshape(-1, vocab))
    if positions == "answer":
        return F.cross_entropy(logits[mask], F.softmax(adjusted[mask], -1))
    raise ValueError(f"unknown UNDIAL positions {positions!r}: use 'all' or 'answer'")


def wga_loss(logits: torch.Tensor, labels: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """WGA: gradient ascent with per-token weights p(y_t)^β (not differentiated):
    minimise −mean_t w_t·NLL_t. Wang et al., "Rethinking LLM Unlearning Objectives:
    A Gradient Perspective and Go Beyond", ICLR 2025."""
    nll, mask = token_nll(logits, labels)
    weights = torch.exp(-nll).detach() ** beta
    return -(weights * nll)[mask].mean()


def token_probability(logits: torch.Tensor, labels: torch.Tensor, positions: str = "all") -> torch.Tensor:
    """The mean probability of the answer tokens in a padded batch. ``"all"``: their sum
    over B·(T−1) positions (prompt and padding count as 0), as FLAT's reference
    (``ProbLossStable`` per position, then the mean); ``"answer"``: over answer tokens."""
    logits, targets, mask = shifted(logits, labels)
    prob = F.softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask
    if positions == "all":
        return prob.mean()
    if positions == "answer":
        return prob.sum() / mask.sum().clamp_min(1)
    raise ValueError(f"unknown FLAT positions {positions!r}: use 'all' or 'answer'")


def flat_loss(template_prob: torch.Tensor, forget_prob: torch.Tensor, divergence: str = "tv") -> torch.Tensor:
    """FLAT: activation(P_e) − conjugate(P_f), the variational f-divergence between the
    template answers' and the forget answers' mean token probabilities, as the
    reference's ``get_contrastive_loss`` (UCSC-REAL/FLAT): total variation
    −tanh(P_e)/2 + tanh(P_f)/2; KL −P_e + exp(P_f − 1); Jensen-Shannon
    log(1+e^{−P_e}) − log 2 + P_f + log(1+e^{−P_f}) − log 2; Pearson χ² −P_e + P_f²/4 + P_f.
    Wang et al., "LLM Unlearning via Loss Adjustment with Only Forget Data", ICLR 2025."""
    e, f = template_prob, forget_prob
    log2 = torch.log(torch.tensor(2.0, dtype=e.dtype, device=e.device))
    if divergence == "tv":
        return -torch.tanh(e) / 2 + torch.tanh(f) / 2
    if divergence == "kl":
        return -e + torch.exp(f - 1)
    if divergence == "js":
        return F.softplus(-e) - log2 + f + F.softplus(-f) - log2
    if divergence == "pearson":
        return -e + f * f / 4 + f
    raise ValueError(f"unknown FLAT divergence {divergence!r}: use tv, kl, js or pearson")


def uniform_kl(logits: torch.Tensor) -> torch.Tensor:
    """KL(uniform ‖ softmax(logits)) averaged over every position of the padded batch
    (B·T rows, ``batchmean``), as ULD's ``UniformLossFunc``: the assistant is pushed to
    know nothing of the retain set."""
    vocab = logits.shape[-1]
    log_p = F.log_softmax(logits.float(), -1).reshape(-1, vocab)
    uniform = torch.full_like(log_p, 1.0 / vocab)
    return F.kl_div(log_p, uniform, reduction="batchmean")
