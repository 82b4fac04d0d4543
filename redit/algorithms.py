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
clipping, no KL.

REAL's label source (`real_labels`, both backends), the one choice ReDit + REAL has to make:
  raw       label = sign of the RAW reward's deviation from its group mean: for 0/1 rewards exactly
            correct (+) / wrong (-) in a mixed group, no label (0) in an all-equal group. REAL's loss
            reads only labels, so with this source ReDit's noise changes NOTHING: ReDit + REAL == REAL
            (a control arm).
  dithered  (default) label = sign of the DITHERED group advantage, i.e. of the dithered reward's
            deviation from its group mean. This is ReDit transplanted to REAL: a saturated group gets
            random labels (REAL's counterpart of ReDit's random gradient, the only way noise can act on
            a loss that sees labels only), and noise can flip a label in a mixed group (a correct answer
            in a 7-of-8 group is labelled wrong with p ~ 0.09 at Gaussian sigma 0.1). Without noise the
            two sources give identical labels, so plain REAL does not depend on the choice.
The price of `dithered` is measured every step: `real/label_flip_rate`, the fraction of responses
with a raw label whose label used in the loss has the other sign (always 0 under `raw`).

Remedies for saturated groups (all G raw rewards equal: zero GRPO advantage), all reading the RAW
correctness, never a dithered reward:
  filter            (DAPO's dynamic-sampling filter alone, arXiv 2503.14476) saturated groups leave the
                    loss and the per-sequence mean is renormalised over the kept sequences
                    (`filter_saturated`): with GRPO's per-sequence loss this is GRPO with the update
                    scaled by N / N_kept, no clip-higher, no overlong penalty, no token-level loss.
  refill            (DAPO's dynamic sampling) draw further batches of prompts within the step until the
                    batch holds the usual number of informative groups, at most REFILL_MAX_DRAWS batches
                    (`select_informative_groups`); when the cap is hit the batch is topped up with
                    saturated groups (zero advantage) so its size never changes.
  directional_fill  an all-wrong group gets advantage -FILL_STRENGTH on every sample, an all-correct one
                    +FILL_STRENGTH (`directional_fill`), in the spirit of virtual-sample methods (AVSPO,
                    arXiv 2605.21125) and negative-sample reinforcement; mixed groups are unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

from .dither import constant_group_mask

ALGORITHMS = ("grpo", "dr_grpo", "dapo", "real", "filter", "refill", "directional_fill")
REAL_LABEL_SOURCES = ("dithered", "raw")  # the first is the default (see the module docstring)  # what the TRL backend runs, each with or without ReDit
REAL_TAU = 0.5
DAPO_EPSILON_HIGH = 0.28
DAPO_OVERLONG_FRACTION = 0.25  # L_cache / L_max: DAPO used 4096 of 20480 tokens (0.2); 0.25 of short tiny answers
# Remedies for saturated groups (results/tiny/remedies.md fixed both before its runs):
REFILL_MAX_DRAWS = 5  # generation batches per step at most (the first + 4 refills), DAPO's max_num_gen_batches
FILL_STRENGTH = 0.1  # |advantage| of every sample of an all-equal group: a tenth of a mixed group's unit scale


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


def _group_mean_deviation(values: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """values minus the mean of their prompt group (group ids in any order: ints, strings, verl uids)."""
    ids = group_ids.cpu().numpy() if isinstance(group_ids, torch.Tensor) else np.asarray(list(group_ids))
    inverse = torch.from_numpy(np.unique(ids, return_inverse=True)[1].reshape(-1)).to(values.device)
    sums = torch.zeros(int(inverse.max()) + 1 if inverse.numel() else 0, dtype=torch.float64, device=values.device)
    sums.index_add_(0, inverse, values.to(torch.float64))
    counts = torch.bincount(inverse, minlength=sums.shape[0]).to(torch.float64)
    return values.to(torch.float64) - (sums / counts)[inverse]


def real_labels(raw_rewards, dithered_advantages, group_ids, source: str = REAL_LABEL_SOURCES[0], atol: float = 1e-6):
    """(REAL's label of each response in {-1, 0, +1} as a float tensor, label-flip rate).

    raw_rewards: per response, undithered; dithered_advantages: per response, the group advantage
    computed from the dithered rewards (any positive scaling: only its sign is read); group_ids: one
    prompt-group id per response. `source` is "dithered" or "raw" (module docstring). The flip rate is
    the fraction of responses with a raw label whose returned label has the other sign (nan when no
    response has a raw label, i.e. every group is all-equal)."""
    if source not in REAL_LABEL_SOURCES:
        raise ValueError(f"REAL label source must be one of {', '.join(REAL_LABEL_SOURCES)}; got {source!r}.")
    raw = torch.as_tensor(raw_rewards).reshape(-1)
    advantages = torch.as_tensor(dithered_advantages).reshape(-1)
    deviation = _group_mean_deviation(raw, group_ids)
    raw_label = torch.sign(deviation) * (deviation.abs() > atol)
    labels = raw_label if source == "raw" else torch.sign(advantages).to(torch.float64)
    labelled = raw_label != 0
    flips = float((labels[labelled] != raw_label[labelled]).float().mean()) if labelled.any() else float("nan")
    return labels.to(advantages.dtype if advantages.is_floating_point() else torch.float32), flips


def _group_view(values, group_size: int) -> torch.Tensor:
    values = torch.as_tensor(values).reshape(-1)
    if group_size < 1 or values.numel() % group_size:
        raise ValueError(f"{values.numel()} values cannot be split into groups of {group_size}.")
    return values.reshape(-1, group_size)


def filter_saturated(advantages, raw_rewards, groups) -> tuple[torch.Tensor, float]:
    """(advantages with saturated groups zeroed and the rest scaled by N / N_kept, kept fraction).

    `groups`: the group size G (contiguous groups, as in TRL) or one group id per response (verl's
    uid). `advantages` may be per response or per token ([N, T]). A loss that is a mean over the N
    sequences of a batch (TRL's loss_type "grpo") then becomes the mean over the kept sequences only.
    With every group saturated the advantages are all zero."""
    advantages = torch.as_tensor(advantages)
    keep = torch.from_numpy(~constant_group_mask(raw_rewards, groups)).to(advantages.device)
    kept = int(keep.sum())
    scale = keep.numel() / kept if kept else 0.0
    factor = keep.to(advantages.dtype) * scale
    return advantages * factor.reshape(-1, *([1] * (advantages.dim() - 1))), kept / keep.numel()


def directional_fill(advantages, raw_correct, groups, strength: float = FILL_STRENGTH) -> torch.Tensor:
    """Advantages where every response of an all-wrong group gets -strength and every response of an
    all-correct group +strength (by RAW correctness: > 0 is correct); mixed groups keep theirs.
    `groups`: G or one id per response; `advantages` per response or per token ([N, T], filled on
    every token: multiply by the response mask)."""
    from .dither import _group_extremes

    advantages = torch.as_tensor(advantages)
    _, group_max, group_min, inverse = _group_extremes(raw_correct, groups)
    all_correct = torch.from_numpy((group_min > 0)[inverse]).to(advantages.device)
    all_wrong = torch.from_numpy((group_max <= 0)[inverse]).to(advantages.device)
    shape = (-1, *([1] * (advantages.dim() - 1)))
    fill = (all_correct.to(advantages.dtype) - all_wrong.to(advantages.dtype)) * strength
    return torch.where((all_correct | all_wrong).reshape(shape), fill.reshape(shape).expand_as(advantages), advantages)


def select_informative_groups(raw_rewards, group_size: int, target_groups: int) -> tuple[list[int], int]:
    """(indices of the groups to train on, how many of them are informative) for dynamic sampling.

    raw_rewards: every drawn sample so far, in draw order, groups of `group_size` contiguous. Takes
    the first `target_groups` informative groups (raw rewards not all equal); if fewer exist, all of
    them, then saturated groups in draw order until the batch has `target_groups` groups (they carry
    zero advantage: the batch size stays fixed). A saturated group is never counted as informative."""
    groups = _group_view(raw_rewards, group_size)
    informative = (groups != groups[:, :1]).any(dim=1).tolist()
    chosen = [g for g, ok in enumerate(informative) if ok][:target_groups]
    n_informative = len(chosen)
    chosen += [g for g, ok in enumerate(informative) if not ok][:target_groups - n_informative]
    return sorted(chosen), n_informative


def refill_complete(raw_rewards, group_size: int, target_groups: int) -> bool:
    """True once the samples drawn so far hold `target_groups` informative groups."""
    return select_informative_groups(raw_rewards, group_size, target_groups)[1] >= target_groups
