"""ReDit for verl 0.9.1 as a plugin module (no fork): dithered advantage estimators and a trainer.

    export VERL_USE_EXTERNAL_MODULES=patches.redit_verl      # after patches.verl_cpu on a CPU
    python -m verl.trainer.main_ppo \
        algorithm.adv_estimator=redit_grpo trainer.v1.trainer_mode=redit_sync \
        +algorithm.redit.dist=gaussian +algorithm.redit.sigma=0.05 ...

Estimators (`algorithm.adv_estimator`): `redit_grpo`, `redit_reinforce_plus_plus`, `redit_rloo`,
and `redit_real` (REAL, with the policy loss `actor_rollout_ref.actor.policy_loss.loss_mode=real`).
Each adds zero-mean noise to every response's outcome reward (on its last valid token, where verl's
reward loop puts the score) with the shared `redit.dither` core, then calls verl's own estimator, so
the noise enters BEFORE group normalisation. Dr.GRPO is `redit_grpo` with
`algorithm.norm_adv_by_std_in_grpo=False`. With dist=none or sigma=0 they return exactly verl's
stock advantages.

Configuration, validated when the trainer starts (one error line, nothing run):
    +algorithm.redit.dist       gaussian | uniform | laplace | none     (default gaussian)
    +algorithm.redit.sigma      sigma (uniform: half-width a)          (default 0.05)
    +algorithm.redit.schedule   constant | linear | cosine | exponential | step
    +algorithm.redit.sigma_end  sigma at the last step (schedules)
    +algorithm.redit.seed       noise seed; the generator is re-seeded from (seed, step) every step
    +algorithm.redit.scope      all | zero_var | mixed: which groups get noise (by raw rewards)

REAL ("Rewards as Labels", redit.algorithms.real_group_losses) needs each response's label and prompt group
in the loss, but verl hands a policy loss only per-token tensors. `redit_real` therefore sends both
through the advantage: its sign is REAL's label (the sign of the dithered GRPO advantage: correct +,
wrong -, 0 in a raw all-equal group without noise) and its magnitude is 1 + the group's slot in the
batch. The `real` loss decodes them. Whole groups must share a micro-batch: the `redit_sync` trainer
orders a REAL batch by prompt group (in place of verl's sequence-length balancing), the recipe
turns off shuffling and uses a micro-batch size divisible by rollout.n, and the estimator refuses a
batch whose groups are not contiguous. Each group's loss is averaged over all groups of the global
mini-batch (groups that are not mixed count as 0, like zero-advantage groups under GRPO).
verl's `critic/advantages/*` metrics therefore show the encoded tags for REAL runs, not advantages.

DAPO needs no code here: verl 0.9.1 has dynamic sampling (`algorithm.filter_groups`, fed the RAW
`acc` the reward returns, so dithering cannot change which groups are kept), clip-higher and the
`dapo` reward manager's overlong penalty; experiments/common.sh sets them for ALGORITHM=dapo.

The trainer `trainer.v1.trainer_mode=redit_sync` is verl's synchronous trainer plus: the step and
total steps for sigma schedules, the hook's metrics in every logger (`redit/sigma`,
`redit/dithered_score/mean`, `redit/zero_std_group_frac/{raw,dithered}`), and the shared run folder
(`config.json` and `done.json` beside `$VERL_FILE_LOGGER_PATH`, which verl's `file` logger fills).
`critic/score/*` stays raw (the estimator never writes the dithered rewards back) and validation
is never dithered (it computes no advantages).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from redit.algorithms import real_group_losses
from redit.dither import DitherConfig, dither, sigma_at, zero_std_group_frac
from redit.runlog import RunFolder, method_name
from patches import trl_compat
from patches.verl_compose import REDIT_ESTIMATORS as BASE_ESTIMATORS
from redit import REPO_ROOT

TRAINER_MODE = "redit_sync"
REAL_LOSS = "real"

# Set by the trainer before each advantage computation (all in the driver process).
_step_state = {"step": 0, "total_steps": None, "metrics": {}}


def dither_config(algorithm_config, total_steps: int | None = None) -> DitherConfig:
    """The DitherConfig of `algorithm.redit` (absent: gaussian, sigma 0.05). ValueError names the key."""
    return DitherConfig.from_section((algorithm_config or {}).get("redit"), total_steps, where="algorithm.redit")


def last_token_index(response_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last valid response token (0 for an empty response)."""
    positions = torch.arange(response_mask.shape[-1], device=response_mask.device)
    return (positions * response_mask.bool()).max(dim=-1).values


def dither_token_rewards(token_level_rewards, response_mask, cfg: DitherConfig, step: int, index=None):
    """(token rewards with each row's noise added on its last valid token, metrics dict)."""
    scores = token_level_rewards.sum(dim=-1)
    noisy = dither(scores, cfg, step, groups=None if index is None else list(index))
    out = token_level_rewards.clone()
    rows = torch.arange(out.shape[0], device=out.device)
    out[rows, last_token_index(response_mask)] += (noisy - scores).to(out.dtype)
    metrics = {"redit/sigma": sigma_at(cfg, step), "redit/dithered_score/mean": float(noisy.float().mean())}
    if index is not None:
        metrics["redit/zero_std_group_frac/raw"] = zero_std_group_frac(scores, groups=list(index))
        metrics["redit/zero_std_group_frac/dithered"] = zero_std_group_frac(noisy, groups=list(index))
    return out, metrics


def _make_estimator(name: str):
    base = BASE_ESTIMATORS[name]

    def estimator(token_level_rewards, response_mask, config=None, index=None, **kwargs):
        from verl.trainer.ppo import core_algos

        cfg = dither_config(config, _step_state["total_steps"])
        noisy, metrics = dither_token_rewards(token_level_rewards, response_mask, cfg, _step_state["step"], index)
        _step_state["metrics"] = metrics
        if base in ("grpo", "real"):  # verl dispatches grpo directly (not via the registry): call it by name
            norm = True if config is None else bool(config.get("norm_adv_by_std_in_grpo", True))
            advantages, returns = core_algos.compute_grpo_outcome_advantage(noisy, response_mask, index, norm_adv_by_std_in_grpo=norm, config=config)
            if base == "real":
                advantages = encode_real_labels(advantages, index)
                returns = advantages
            return advantages, returns
        stock = core_algos.get_adv_estimator_fn(base)
        return stock(token_level_rewards=noisy, response_mask=response_mask, config=config, index=index, **kwargs)

    estimator.__name__ = estimator.__qualname__ = f"compute_{name}_advantage"
    estimator._redit_estimator = name
    return estimator


def encode_real_labels(advantages: torch.Tensor, index) -> torch.Tensor:
    """REAL's label and group per response, carried by the advantage: sign(advantage) * (1 + slot of
    the response's group in the batch). ValueError when a group's rows are not contiguous (they
    would be split across micro-batches)."""
    index = list(index)
    slots = {uid: k for k, uid in enumerate(dict.fromkeys(index))}
    starts = [i for i in range(len(index)) if i == 0 or index[i] != index[i - 1]]
    if len(starts) != len(slots):
        raise ValueError("REAL needs each prompt group's responses next to each other in the batch; "
                         "use trainer.v1.trainer_mode=redit_sync (it orders REAL batches by group).")
    slot = torch.tensor([slots[uid] for uid in index], dtype=advantages.dtype, device=advantages.device)
    return torch.sign(advantages) * (1 + slot)[:, None]


def compute_policy_loss_real(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean",
                             config=None, rollout_is_weights=None):
    """REAL's loss on one micro-batch (labels and groups decoded from `redit_real`'s advantages):
    each group's loss (redit.algorithms.real_group_losses) counted once per member, then a sequence
    mean over the global mini-batch, which makes it the mean over the mini-batch's groups."""
    mask = response_mask.to(log_prob.dtype)
    length = mask.sum(-1).clamp(min=1)
    scores = ((log_prob - old_log_prob) * mask).sum(-1) / length  # length-normalised log-ratio s
    tagged = (advantages * mask).sum(-1) / length
    losses, sizes = real_group_losses(scores, tagged, tagged.abs().round().long())
    total = (losses * sizes.to(losses.device)).sum() + (scores * 0.0).sum()  # stays in the graph with no mixed group
    info = getattr(config, "global_batch_info", None) or {}
    n_seqs = info.get("global_batch_size") or scores.shape[0]
    return total / n_seqs * (info.get("dp_size") or 1), {"actor/real_groups_used": float(len(losses))}


def _register_estimators():
    from verl.trainer.ppo import core_algos

    for name in BASE_ESTIMATORS:
        existing = core_algos.ADV_ESTIMATOR_REGISTRY.get(name)
        if existing is not None and getattr(existing, "_redit_estimator", None) == name:
            continue  # idempotent: this module may be imported again in a Ray worker
        core_algos.register_adv_est(name)(_make_estimator(name))


# --- run folder ------------------------------------------------------------------------------------

def run_folder() -> RunFolder | None:
    """The shared run folder whose metrics file is $VERL_FILE_LOGGER_PATH (verl's `file` logger
    writes the metrics; this plugin writes config.json and done.json)."""
    path = os.environ.get("VERL_FILE_LOGGER_PATH")
    folder = RunFolder(Path(path).parent) if path else None
    return folder if folder is not None and folder.metrics_path == Path(path) else None


def run_config(config) -> dict:
    """config.json of a verl run, in the keys the analysis reads for TRL runs too."""
    from omegaconf import OmegaConf

    from redit.runlog import git_commit, library_versions

    algo = config.algorithm
    estimator = str(algo.adv_estimator)
    redit = estimator in BASE_ESTIMATORS
    cfg = dither_config(algo, int(config.trainer.total_training_steps or 0) or None) if redit else None
    base = BASE_ESTIMATORS.get(estimator, estimator)
    if base == "grpo" and not algo.get("norm_adv_by_std_in_grpo", True):
        base = "dr_grpo"
    dithered = cfg is not None and cfg.enabled
    return {
        "backend": "verl",
        "task": _task_of(config),
        "algorithm": base,
        "method": method_name(base, cfg.dist if dithered else "none"),  # e.g. dr_grpo+redit-gaussian
        "dither": cfg.to_dict() if cfg else DitherConfig(dist="none", sigma=0.0).to_dict(),
        "seed": int(config.data.get("seed", 0) or 0),
        "model": {"path": str(config.actor_rollout_ref.model.path)},
        "steps": int(config.trainer.total_training_steps or 0) or None,
        "versions": library_versions(),
        "git": git_commit(REPO_ROOT),
        "verl": OmegaConf.to_container(config, resolve=True),
    }


def _task_of(config) -> str | None:
    from redit.tasks import DATA_SOURCE_TO_TASK

    try:
        import pyarrow.parquet as pq

        files = config.data.train_files
        first = files if isinstance(files, str) else list(files)[0]
        source = pq.read_table(first, columns=["data_source"]).column(0)[0].as_py()
        return DATA_SOURCE_TO_TASK.get(source, source)
    except Exception:  # the task name is a label; never fail a run over it
        return None


def _register_policy_loss():
    from verl.trainer.ppo import core_algos

    if core_algos.POLICY_LOSS_REGISTRY.get(REAL_LOSS) is not compute_policy_loss_real:
        core_algos.register_policy_loss(REAL_LOSS)(compute_policy_loss_real)


def _register_trainer():
    from omegaconf import open_dict
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY, register_trainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

    if TRAINER_REGISTRY.get(TRAINER_MODE) is not None:
        return

    @register_trainer(TRAINER_MODE)
    class ReditSyncTrainer(PPOTrainerSync):
        """verl's synchronous trainer + step-aware dithering, hook metrics and the run folder."""

        def __init__(self, config):
            if str(config.algorithm.adv_estimator) in BASE_ESTIMATORS:
                dither_config(config.algorithm, int(config.trainer.total_training_steps or 0) or 1)  # fail now, not at step 1
            with open_dict(config):
                config.trainer.v1.trainer_mode = "sync"  # stock code paths test for the name "sync"
            super().__init__(config)
            self._started = time.time()
            folder = run_folder()
            if folder is not None:
                folder.path.mkdir(parents=True, exist_ok=True)
                folder.done_path.unlink(missing_ok=True)
                folder.config_path.write_text(json.dumps(run_config(config), indent=2, sort_keys=True, default=str) + "\n")

        def _balance_batch(self, batch, metrics, *args, **kwargs):
            if str(self.config.algorithm.adv_estimator) != "redit_real":
                return super()._balance_batch(batch, metrics, *args, **kwargs)
            # REAL: whole prompt groups next to each other (sample keys are "<uid>_<session>_<i>")
            group = [key.rsplit("_", 2)[0] for key in batch.keys]
            slot = {g: k for k, g in enumerate(dict.fromkeys(group))}
            batch.reorder(sorted(range(len(group)), key=lambda i: (slot[group[i]], i)))
            return batch

        def _compute_advantage(self, batch, metrics):
            _step_state.update(step=max(self.global_steps - 1, 0), total_steps=self.total_training_steps, metrics={})
            batch = super()._compute_advantage(batch, metrics)
            metrics.update(_step_state["metrics"])
            return batch

        def fit(self, *args, **kwargs):
            result = super().fit(*args, **kwargs)
            folder = run_folder()
            if folder is not None:
                summary = {"steps": int(self.global_steps) - 1, "seconds": round(time.time() - self._started, 1)}
                folder.done_path.write_text(json.dumps(summary, indent=2) + "\n")
            return result


def install():
    trl_compat.install()
    _register_estimators()
    _register_policy_loss()
    _register_trainer()


install()
