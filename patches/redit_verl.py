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

Adaptive sigma (redit.adaptive_sigma, as on the TRL backend):
    +algorithm.redit_adaptive.target    flip_rate | grad_norm (absent: fixed sigma)
    +algorithm.redit_adaptive.setpoint  default flip_rate 0.05, grad_norm 1.0 (also tol, rate, sigma_min, sigma_max)
The controller starts at `algorithm.redit.sigma`; each step's sigma is logged as `redit/sigma`, the
flip rate of the step's noise as `redit/flip_rate` (every run); flip_rate is fed to the controller
right after dithering, the step's pre-clip `actor/grad_norm` after the step (next step's sigma).

REAL ("Rewards as Labels", redit.algorithms.real_group_losses) needs each response's label and prompt group
in the loss, but verl hands a policy loss only per-token tensors. `redit_real` therefore sends both
through the advantage: its sign is REAL's label (`+algorithm.real.labels=dithered` (default): the
sign of the dithered GRPO advantage; `raw`: raw correctness, which makes ReDit a no-op for REAL; see
redit.algorithms.real_labels; `real/label_flip_rate` is logged) and its magnitude is 1 + the group's
slot in the batch. The `real` loss decodes them. Whole groups must share a micro-batch: the `redit_sync` trainer
orders a REAL batch by prompt group (in place of verl's sequence-length balancing), the recipe
turns off shuffling and uses a micro-batch size divisible by rollout.n, and the estimator refuses a
batch whose groups are not contiguous. Each group's loss is averaged over all groups of the global
mini-batch (groups that are not mixed count as 0, like zero-advantage groups under GRPO).
verl's `critic/advantages/*` metrics therefore show the encoded tags for REAL runs, not advantages.

Remedies for saturated groups (`+algorithm.redit_remedy.*`, redit_grpo only; raw rewards, never dithered):
    filter=true         saturated groups leave the loss, the rest scaled by N / N_kept (DAPO's filter alone)
    fill_strength=0.1   all-wrong groups get -0.1 on every token, all-correct +0.1 (> 0 reward = correct:
                        exact for the binary reward)
Refill (DAPO's dynamic sampling) is verl's own `algorithm.filter_groups` (below).

DAPO needs no code here: verl 0.9.1 has dynamic sampling (`algorithm.filter_groups`, fed the RAW
`acc` the reward returns, so dithering cannot change which groups are kept), clip-higher and the
`dapo` reward manager's overlong penalty; redit/algorithms.py (ALGORITHMS["dapo"]) sets them for ALGORITHM=dapo.

The trainer `trainer.v1.trainer_mode=redit_sync` is verl's synchronous trainer plus: the step and
total steps for sigma schedules, the hook's metrics in every logger (`redit/sigma`,
`redit/dithered_score/mean`, `redit/zero_std_group_frac/{raw,dithered}`), and the shared run folder
(`config.json` and `done.json` beside `$VERL_FILE_LOGGER_PATH`, which verl's `file` logger fills,
through redit.runlog.RunFolder; `$REDIT_EXPERIMENT` and `$REDIT_VARIANT` write the run's registry
experiment and variant into config.json), and
resumption: with `trainer.resume_mode=auto` and a checkpoint in `trainer.default_local_dir`, verl
restores the weights, optimiser and data order; this trainer then keeps metrics.jsonl's lines up to
the checkpoint's step (verl's file logger would truncate it), skips the redundant validation before
training, and restores an adaptive controller's sigma from the last logged step.
`critic/score/*` stays raw (the estimator never writes the dithered rewards back) and validation
is never dithered (it computes no advantages).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from redit.adaptive_sigma import controller_from_section, flip_rate
from redit.algorithms import directional_fill, filter_saturated, real_group_losses, real_labels
from redit.dither import DitherConfig, dither, sigma_at, zero_std_group_frac
from redit.runlog import RunFolder
from redit.runlog import run_config as shared_run_config
from patches import trl_compat
from patches.verl_compose import REDIT_ESTIMATORS as BASE_ESTIMATORS
from patches.verl_compose import real_label_source, remedy_options
from redit import REPO_ROOT

TRAINER_MODE = "redit_sync"
REAL_LOSS = "real"

# Set by the trainer before each advantage computation (all in the driver process).
_step_state = {"step": 0, "total_steps": None, "metrics": {}, "controller": None, "resume_step": 0}


def dither_config(algorithm_config, total_steps: int | None = None) -> DitherConfig:
    """The DitherConfig of `algorithm.redit` (absent: gaussian, sigma 0.05), every DitherConfig key included
    (`+algorithm.redit.reward_parts=5`: one draw per reward part, summed). ValueError names the key."""
    return DitherConfig.from_section((algorithm_config or {}).get("redit"), total_steps, where="algorithm.redit")


def adaptive_controller(algorithm_config, total_steps: int | None = None):
    """The SigmaController of `algorithm.redit_adaptive` (None: fixed sigma). ValueError names the key."""
    section = (algorithm_config or {}).get("redit_adaptive")
    return controller_from_section(section, dither_config(algorithm_config, total_steps), where="algorithm.redit_adaptive")


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
        metrics["redit/flip_rate"] = flip_rate(scores, noisy, list(index))
    return out, metrics


def _make_estimator(name: str):
    base = BASE_ESTIMATORS[name]

    def estimator(token_level_rewards, response_mask, config=None, index=None, **kwargs):
        from verl.trainer.ppo import core_algos

        cfg = dither_config(config, _step_state["total_steps"])
        controller = _step_state["controller"]
        if controller is not None:  # adaptive sigma: the controller's current value (constant schedule)
            cfg = replace(cfg, sigma=controller.sigma)
        noisy, metrics = dither_token_rewards(token_level_rewards, response_mask, cfg, _step_state["step"], index)
        if controller is not None and controller.target == "flip_rate":
            controller.observe(flip_rate=metrics.get("redit/flip_rate"))
        _step_state["metrics"] = metrics
        if base in ("grpo", "real"):  # verl dispatches grpo directly (not via the registry): call it by name
            norm = True if config is None else bool(config.get("norm_adv_by_std_in_grpo", True))
            advantages, returns = core_algos.compute_grpo_outcome_advantage(noisy, response_mask, index, norm_adv_by_std_in_grpo=norm, config=config)
            if base == "real":
                per_response = (advantages * response_mask).sum(-1)  # the sign is all REAL reads
                labels, flips = real_labels(token_level_rewards.sum(-1), per_response, list(index), real_label_source(config))
                metrics["real/label_flip_rate"] = flips
                advantages = encode_real_labels(labels[:, None] * response_mask, index)
                returns = advantages
            remedy = remedy_options(config)
            if base == "grpo" and remedy["filter"]:  # DAPO's filter without refill (refill: algorithm.filter_groups)
                advantages, metrics["remedy/kept_group_frac"] = filter_saturated(advantages, token_level_rewards.sum(-1), list(index))
                returns = advantages
            if base == "grpo" and remedy["fill_strength"] is not None:  # the directional fill of all-equal groups
                advantages = directional_fill(advantages, token_level_rewards.sum(-1), list(index), remedy["fill_strength"]) * response_mask
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
    """config.json of a verl run: redit.runlog.run_config (the keys the analysis reads for TRL runs
    too) with verl's whole resolved config under "verl"."""
    from omegaconf import OmegaConf

    algo = config.algorithm
    estimator = str(algo.adv_estimator)
    redit = estimator in BASE_ESTIMATORS
    total = int(config.trainer.total_training_steps or 0) or None
    cfg = dither_config(algo, total) if redit else DitherConfig(dist="none", sigma=0.0)
    controller = adaptive_controller(algo, total) if redit else None
    base = BASE_ESTIMATORS.get(estimator, estimator)
    if base == "grpo" and not algo.get("norm_adv_by_std_in_grpo", True):
        base = "dr_grpo"
    return shared_run_config(
        backend="verl", task=_task_of(config), algorithm=base, seed=int(config.data.get("seed", 0) or 0), steps=total,
        dither=cfg, adaptive=controller.to_dict() if controller else None,
        model={"path": str(config.actor_rollout_ref.model.path)}, experiment=os.environ.get("REDIT_EXPERIMENT") or None,
        variant=os.environ.get("REDIT_VARIANT") or None, extras=OmegaConf.to_container(config, resolve=True), repo=REPO_ROOT)


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


def _restore_controller(folder: RunFolder, step: int) -> None:
    """An adaptive controller continues from the last logged step: its sigma then, updated with that
    step's statistic (what the uninterrupted run would have done)."""
    controller = _step_state["controller"]
    if controller is None or not folder.metrics_path.is_file():
        return
    last = {}
    for line in folder.metrics_path.read_text().splitlines():
        record = json.loads(line)
        if record["step"] <= step and "redit/sigma" in record["data"]:
            last = record["data"]
    if last:
        controller.sigma = float(last["redit/sigma"])
        controller.observe(**{controller.target: last.get("redit/flip_rate" if controller.target == "flip_rate" else "actor/grad_norm")})


class ResumableFileLogger:
    """verl's `file` logger, appending after the lines a resumed run kept (stock verl truncates)."""

    def __init__(self, project_name: str, experiment_name: str):
        path = os.getenv("VERL_FILE_LOGGER_PATH")
        if not (_step_state["resume_step"] and path):
            self._stock = self._stock_class(project_name, experiment_name)
            self.log, self.finish = self._stock.log, self._stock.finish
            return
        import orjson

        self.filepath = path
        self.fp = open(path, "ab", buffering=0)
        self.log = lambda data, step: self.fp.write(orjson.dumps({"step": step, "data": data}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self.finish = self.fp.close


def _register_file_logger():
    from verl.utils import tracking

    if tracking.FileLogger is not ResumableFileLogger:
        ResumableFileLogger._stock_class = tracking.FileLogger
        tracking.FileLogger = ResumableFileLogger


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
            controller = None
            if str(config.algorithm.adv_estimator) in BASE_ESTIMATORS:
                total = int(config.trainer.total_training_steps or 0) or 1
                dither_config(config.algorithm, total)  # fail now, not at step 1
                controller = adaptive_controller(config.algorithm, total)
                real_label_source(config.algorithm)
            _step_state.update(controller=controller, resume_step=0)
            with open_dict(config):
                config.trainer.v1.trainer_mode = "sync"  # stock code paths test for the name "sync"
            super().__init__(config)
            self._started = time.time()
            folder = run_folder()
            if folder is not None:
                folder.write_config(run_config(config))

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

        def on_train_begin(self):
            super().on_train_begin()
            controller, log = _step_state["controller"], self.logger.log
            if controller is not None and controller.target == "grad_norm":
                def log_and_observe(data, step, *args, **kwargs):  # the step's pre-clip norm sets the next sigma
                    log(data, step, *args, **kwargs)
                    controller.observe(grad_norm=data.get("actor/grad_norm"))
                self.logger.log = log_and_observe

        def fit(self, *args, **kwargs):
            folder, resumed = run_folder(), int(self.global_steps)  # verl loaded the checkpoint before fit
            if resumed > 0:
                _step_state["resume_step"] = resumed
                with open_dict(self.config):
                    self.config.trainer.val_before_train = False  # same weights as at the checkpoint's step
                if folder is not None:
                    folder.keep_metrics_through(resumed)
                    _restore_controller(folder, resumed)
                print(f"[redit] resumed at step {resumed}; metrics.jsonl kept through step {resumed}", flush=True)
            result = super().fit(*args, **kwargs)
            if folder is not None:
                folder.finish({"steps": int(self.global_steps) - 1, "seconds": round(time.time() - self._started, 1),
                               "resumed_from_step": resumed or None})
            return result


def install():
    trl_compat.install()
    _register_estimators()
    _register_policy_loss()
    _register_trainer()
    _register_file_logger()


install()
