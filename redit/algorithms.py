"""The GRPO variants beyond the advantage estimator, framework-free (pure torch): DAPO's group
filter and overlong penalty, and REAL's loss. The TRL backend (redit.trl_backend) applies them.

DAPO (arXiv 2503.14476), as used here:
  - clip-higher: epsilon_low 0.2, epsilon_high 0.28 (TRL options);
  - token-level loss normalisation (TRL loss_type "dapo");
  - dynamic sampling: groups whose RAW rewards are all equal carry no signal and are filtered out of
    the loss. The filter reads the raw (undithered) correctness, never the dithered reward, so ReDit
    cannot smuggle a saturated group back in. TRL cannot draw extra prompts within a step, so the
    batch is not refilled (DAPO resamples until it is full): on TRL this is filter-without-refill;
  - soft overlong punishment added to the reward (overlong_penalty).

REAL, "Rewards as Labels" (arXiv 2602.05630): 0/1 rewards are class labels. Per response,
s = length-normalised sum of log(pi_theta / pi_old); per prompt group
    loss = log(1 + sum_{correct} exp(-s / tau)) + log(1 + sum_{wrong} exp(s / tau)),  tau = 0.5,
the "1 +" terms being the anchor logits; only groups with both correct and wrong answers count; no
clipping, no KL. Labels are the sign of each response's group-normalised advantage, which for raw
0/1 rewards is exactly correct (+) / wrong (-) in a mixed group and 0 in an all-equal one. With
ReDit the advantages come from dithered rewards, so a saturated group gets random labels (ReDit's
random gradient, transplanted to REAL) and noise can flip labels in mixed groups.
"""

from __future__ import annotations

import torch

from .dither import constant_group_mask

ALGORITHMS = ("grpo", "dr_grpo", "dapo", "real")  # what the TRL backend runs, each with or without ReDit
REAL_TAU = 0.5
DAPO_EPSILON_HIGH = 0.28
DAPO_OVERLONG_FRACTION = 0.25  # L_cache / L_max: DAPO used 4096 of 20480 tokens (0.2); 0.25 of short tiny answers


def overlong_penalty(lengths, max_length: int, cache: int) -> torch.Tensor:
    """DAPO's soft overlong punishment: 0 up to max_length - cache tokens, then falling linearly to -1
    at max_length, -1 beyond it."""
    lengths = torch.as_tensor(lengths, dtype=torch.float32)
    start = max_length - cache
    ramp = (start - lengths) / cache
    return torch.where(lengths <= start, torch.zeros_like(lengths), torch.where(lengths <= max_length, ramp, -torch.ones_like(lengths)))


def informative_groups(raw_rewards, group_size: int) -> torch.Tensor:
    """Per element: True when its group's RAW rewards differ (DAPO's dynamic-sampling filter keeps these)."""
    return torch.from_numpy(~constant_group_mask(raw_rewards, group_size))


def real_group_losses(scores: torch.Tensor, advantages: torch.Tensor, group_ids: torch.Tensor, tau: float = REAL_TAU):
    """(REAL loss of each group with both labels, that group's size), as two 1-D tensors. scores:
    per-response length-normalised log-ratio s; labels = sign(advantages)."""
    labels = torch.sign(advantages)
    zero = scores.new_zeros(1)
    losses, sizes = [], []
    for group in torch.unique(group_ids):
        members = group_ids == group
        positive, negative = members & (labels > 0), members & (labels < 0)
        if not positive.any() or not negative.any():
            continue  # the mixed-groups-only rule
        # log(1 + sum exp(x)) = logsumexp([0, x...]): the 0 is the anchor logit
        losses.append(torch.logsumexp(torch.cat([zero, -scores[positive] / tau]), 0)
                      + torch.logsumexp(torch.cat([zero, scores[negative] / tau]), 0))
        sizes.append(int(members.sum()))
    return (torch.stack(losses) if losses else scores.new_zeros(0)), torch.tensor(sizes, dtype=scores.dtype)


def real_loss(scores: torch.Tensor, advantages: torch.Tensor, group_ids: torch.Tensor, tau: float = REAL_TAU):
    """(mean REAL loss over the groups with both labels, number of such groups). With no usable
    group the loss is a zero that still depends on scores (so backward works)."""
    losses, _ = real_group_losses(scores, advantages, group_ids, tau)
    if len(losses) == 0:
        return (scores * 0.0).sum(), 0
    return losses.mean(), len(losses)
