"""Training losses TRL has no ``loss_type`` for, in plain torch: CADFT (arXiv 2606.11206).

CADFT is DFT whose per-sample weight falls with the sample's incompatibility with the model being trained:
``w_i = exp(-β·max(0, ĉ_i))``, ``ĉ_i`` the sample's mean token NLL under the current model (no gradient),
z-scored over the micro-batch's samples. The loss is ``Σ_i w_i Σ_t p_it·(−log p_it) / N``, ``p_it`` the
detached probability of sample i's t-th trained token and ``N`` DFT's divisor: the trained tokens of the
whole optimiser step (``num_items_in_batch``), else of the micro-batch. β = 0 is DFT.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # the label of a position that is not trained (the prompt, padding)


def next_token_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each position's log-probability of its next-token label, ``(batch, seq - 1)`` in float32 and 0 where the
    label is ignored, and the mask of the trained labels; ``logits`` and ``labels`` unshifted, as a causal LM's."""
    labels = labels[:, 1:]
    logits = logits[:, :-1].float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE,
                          reduction="none")
    return -nll.view(labels.shape), labels != IGNORE


def cadft_weights(log_probs: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Each sample's weight ``exp(-β·max(0, ĉ))``, without gradient. ``ĉ`` is the sample's mean token NLL z-scored
    (population std) over the samples that have a trained token; it is 0 (weight 1) for a sample without one, and
    for every sample of a micro-batch with fewer than two such samples or with equal NLLs."""
    with torch.no_grad():
        counts = mask.sum(1)
        trained = counts > 0
        nll = -(log_probs * mask).sum(1) / counts.clamp(min=1)
        z = torch.zeros_like(nll)
        if trained.sum() > 1:
            spread = nll[trained].std(correction=0)
            if spread > 0:
                z[trained] = (nll[trained] - nll[trained].mean()) / spread
        return torch.exp(-beta * z.clamp(min=0))


def cadft_loss(logits: torch.Tensor, labels: torch.Tensor, beta: float,
               num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
    """CADFT's loss for one micro-batch: DFT's token losses, each sample's times its weight, summed and divided by
    ``num_items_in_batch`` (the trained tokens of the optimiser step) or, when None, the micro-batch's count."""
    log_probs, mask = next_token_log_probs(logits, labels)
    per_token = -log_probs * log_probs.exp().detach() * mask
    total = (per_token.sum(1) * cadft_weights(log_probs, mask, beta)).sum()
    tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
    return total / torch.as_tensor(tokens, device=total.device).clamp(min=1)
