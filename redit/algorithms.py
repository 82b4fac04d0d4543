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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: launchers read the table without its ~1 s import
    import torch

from .dither import constant_group_mask

REAL_LABEL_SOURCES = ("dithered", "raw")  # the first is the default (see the module docstring)
REAL_TAU = 0.5
DAPO_EPSILON_HIGH = 0.28
DAPO_OVERLONG_FRACTION = 0.25  # L_cache / L_max: DAPO used 4096 of 20480 tokens (0.2); 0.25 of short tiny answers
# Remedies for saturated groups (results/tiny/remedies.md fixed both before its runs):
REFILL_MAX_DRAWS = 5  # generation batches per step at most (the first + 4 refills), DAPO's max_num_gen_batches
FILL_STRENGTH = 0.1  # |advantage| of every sample of an all-equal group: a tenth of a mixed group's unit scale


# ---- the algorithm table: one entry per algorithm, read by both backends ---------------------------
# How each backend averages per-token losses into the step's loss (verified in the installed sources):
#   TRL 1.16 loss_type (trl/trainer/grpo_trainer.py, GRPOTrainer._compute_loss)
#     grpo     per-sequence token mean, then the mean over sequences        (l. 3153-3154)
#     dr_grpo  token sum / (sequences x max_completion_length)              (l. 3163-3164)
#     dapo     token sum / tokens of the whole generation batch             (l. 3168-3173)
#   verl 0.9.1 actor.loss_agg_mode (verl/trainer/ppo/core_algos.py agg_loss; default token-mean,
#   verl/trainer/config/actor/actor.yaml l. 86)
#     seq-mean-token-mean      per-sequence token mean, then the sequence mean   (l. 1194-1202)
#     seq-mean-token-sum-norm  per-sequence token sum, sequence mean, / loss_scale_factor (l. 1181-1193)
#     token-mean               token sum / tokens of the global mini-batch        (l. 1170-1175)
# So the same algorithm optimises the same objective on both backends when each TRL loss_type is
# paired with its verl mode below (Dr.GRPO's constant is max_completion_length = MAX_RESPONSE).
SAME_AGGREGATION = {"grpo": "seq-mean-token-mean", "dr_grpo": "seq-mean-token-sum-norm", "dapo": "token-mean"}
VERL_LOSS_AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


@dataclass(frozen=True)
class Algorithm:
    """What one algorithm is on each backend. `verl` holds further verl overrides as templates filled
    from the recipe's variables ({max_response} {overlong_len} {refill_max_draws} {fill_strength}
    {rpp_kl_coef} {real_labels}); the aggregation overrides are added from `verl_loss_agg`."""

    citation: str
    backends: tuple[str, ...] = ("trl", "verl")
    trl_loss_type: str | None = "grpo"  # TRL's loss_type: its loss aggregation (None: not on TRL)
    verl_loss_agg: str | None = "seq-mean-token-mean"  # verl's loss_agg_mode (None: the loss aggregates itself)
    trl: dict = field(default_factory=lambda: {"scale_rewards": "group"})  # further GRPOConfig options
    verl_estimator: str = "redit_grpo"  # ReDit's registered estimator (patches/redit_verl.py) ...
    verl_base_estimator: str = "grpo"   # ... and the stock verl estimator it wraps
    norm_adv_by_std: bool = True        # GRPO's std division (verl algorithm.norm_adv_by_std_in_grpo)
    verl: tuple[str, ...] = ()

    def trl_options(self) -> dict:
        """GRPOConfig options of this algorithm (the TRL backend adds its filter, penalty or loss)."""
        if "trl" not in self.backends:
            raise ValueError(f"{self.citation} has no TRL backend here")
        return {"loss_type": self.trl_loss_type, **self.trl}

    def verl_overrides(self, loss_agg: str | None = None, **values) -> list[str]:
        """verl's Hydra overrides of this algorithm on top of its estimator: the loss aggregation
        (`loss_agg` overrides the table's), then the algorithm's own, filled from `values`."""
        mode = loss_agg or self.verl_loss_agg
        aggregation = [] if mode is None else [f"actor_rollout_ref.actor.loss_agg_mode={mode}"]
        if mode == "seq-mean-token-sum-norm":  # Dr.GRPO's constant divisor: the generation budget, as TRL's
            aggregation.append(f"actor_rollout_ref.actor.loss_scale_factor={values['max_response']}")
        return aggregation + [template.format(**values) for template in self.verl]


DAPO_VERL = ("algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=acc",  # on the RAW accuracy
             "actor_rollout_ref.actor.clip_ratio_low=0.2", "actor_rollout_ref.actor.clip_ratio_high=0.28",
             "reward.reward_manager.name=dapo", "+reward.reward_kwargs.max_resp_len={max_response}",
             "+reward.reward_kwargs.overlong_buffer_cfg.enable=True",
             "+reward.reward_kwargs.overlong_buffer_cfg.len={overlong_len}",
             "+reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0",
             "+reward.reward_kwargs.overlong_buffer_cfg.log=False")
ALGORITHMS: dict[str, Algorithm] = {
    "grpo": Algorithm("GRPO (arXiv 2402.03300)"),
    # no std division and no length normalisation: per-sequence token sums over a constant
    "dr_grpo": Algorithm("Dr.GRPO (arXiv 2503.20783)", trl_loss_type="dr_grpo", verl_loss_agg="seq-mean-token-sum-norm",
                         trl={"scale_rewards": "none"}, norm_adv_by_std=False),
    # clip-higher, token-level loss, dynamic sampling on raw accuracy, overlong penalty
    "dapo": Algorithm("DAPO (arXiv 2503.14476)", trl_loss_type="dapo", verl_loss_agg="token-mean",
                      trl={"scale_rewards": "group", "epsilon_high": DAPO_EPSILON_HIGH}, verl=DAPO_VERL),
    # verl's estimator + the token-level k1 KL in the reward: r_t = 1[t = EOS] r - beta log(pi_old / pi_ref)
    # (TRL 1.16 has no REINFORCE++ estimator); verl's examples keep its token-mean
    "reinforce_plus_plus": Algorithm(
        "REINFORCE++ (arXiv 2501.03262)", backends=("verl",), trl_loss_type=None, verl_loss_agg="token-mean",
        verl_estimator="redit_reinforce_plus_plus", verl_base_estimator="reinforce_plus_plus",
        verl=("algorithm.use_kl_in_reward=True", "algorithm.kl_penalty=kl", "algorithm.kl_ctrl.type=fixed",
              "algorithm.kl_ctrl.kl_coef={rpp_kl_coef}", "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=16")),
    "rloo": Algorithm("RLOO (arXiv 2402.14740)", backends=("verl",), trl_loss_type=None, verl_loss_agg="token-mean",
                      verl_estimator="redit_rloo", verl_base_estimator="rloo"),
    # REAL's own loss replaces the policy loss on both backends (a mean over groups: no aggregation
    # mode applies); whole prompt groups in each micro-batch, in order (the redit_sync trainer orders
    # the batch by group; the estimator checks they are contiguous)
    "real": Algorithm("REAL (arXiv 2602.05630)", verl_loss_agg=None, verl_estimator="redit_real", verl_base_estimator="real",
                      verl=("actor_rollout_ref.actor.policy_loss.loss_mode=real", "+algorithm.real.labels={real_labels}",
                            "actor_rollout_ref.actor.shuffle=False", "actor_rollout_ref.actor.use_dynamic_bsz=False")),
    # remedies for saturated groups: GRPO's loss, the advantages changed (this module's docstring)
    "filter": Algorithm("DAPO's filter alone (arXiv 2503.14476)", verl=("+algorithm.redit_remedy.filter=True",)),
    "refill": Algorithm("DAPO's dynamic sampling (arXiv 2503.14476)",
                        verl=("algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=acc",
                              "algorithm.filter_groups.max_num_gen_batches={refill_max_draws}")),
    "directional_fill": Algorithm("directional fill (ours; cf. AVSPO arXiv 2605.21125)",
                                  verl=("+algorithm.redit_remedy.fill_strength={fill_strength}",)),
}


def get(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}.")
    return ALGORITHMS[name]


def names(backend: str) -> tuple[str, ...]:
    """The algorithms that run on `backend` ("trl" or "verl"), in table order."""
    return tuple(name for name, algorithm in ALGORITHMS.items() if backend in algorithm.backends)


def overlong_penalty(lengths, max_length: int, cache: int) -> torch.Tensor:
    """DAPO's soft overlong punishment: 0 up to max_length - cache tokens, then falling linearly to -1
    at max_length, -1 beyond it."""
    import torch

    lengths = torch.as_tensor(lengths, dtype=torch.float32)
    start = max_length - cache
    ramp = (start - lengths) / cache
    return torch.where(lengths <= start, torch.zeros_like(lengths), torch.where(lengths <= max_length, ramp, -torch.ones_like(lengths)))


def informative_groups(raw_rewards, group_size: int) -> torch.Tensor:
    """Per element: True when its group's RAW rewards differ (DAPO's dynamic-sampling filter keeps these)."""
    import torch

    return torch.from_numpy(~constant_group_mask(raw_rewards, group_size))


def real_group_losses(scores: torch.Tensor, advantages: torch.Tensor, group_ids: torch.Tensor, tau: float = REAL_TAU):
    """(REAL loss of each group with both labels, that group's size), as two 1-D tensors. scores:
    per-response length-normalised log-ratio s; labels = sign(advantages)."""
    import torch

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
    import torch

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
    import torch

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
    import torch

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
    import torch

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
    import torch

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
