"""TRL backend: GRPO (TRL 1.16 `GRPOTrainer`, unchanged) with ReDit as a reward-function wrapper.

ReDit enters through TRL's reward-function hook: the function returns dithered rewards, and TRL then
normalises them per prompt group (A = (r - mean_G) / (std_G + 1e-4)), so the noise is added *before*
group normalisation exactly as in the paper. Everything else (sampling, clipping, the optimiser) is
stock TRL. A callback writes the shared run-folder schema (see `redit.runlog`).
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from transformers import PrinterCallback, TrainerCallback

from . import tiny_task
from .adaptive_sigma import SigmaController, flip_rate
from .algorithms import DAPO_EPSILON_HIGH, DAPO_OVERLONG_FRACTION, REAL_TAU, informative_groups, overlong_penalty, real_loss
from .dither import DitherConfig, dither, sigma_at, zero_std_group_frac
from .rewards import score
from .runlog import RunFolder, val_key
from .tiny_policy import accuracy

# TRL log keys -> shared schema keys; every other TRL key is kept under "trl/".
TRL_TO_SCHEMA = {
    "grad_norm": "actor/grad_norm",
    "loss": "actor/pg_loss",
    "learning_rate": "actor/lr",
    "entropy": "actor/entropy",
    "completions/mean_length": "response_length/mean",
    "completions/max_length": "response_length/max",
    "completions/min_length": "response_length/min",
    "completions/clipped_ratio": "response_length/clip_ratio",
    "step_time": "timing_s/trl_step",  # TRL's own wall-clock step time
}
SHARED_PREFIXES = ("critic/", "redit/", "dapo/", "real/")  # logged under their own names, not trl/
# Algorithms -> stock TRL options; DAPO's filter and overlong penalty and REAL's loss are added by
# ReditGRPOTrainer and DitheredReward (see redit.algorithms).
ALGORITHMS = {
    "grpo": {"loss_type": "grpo", "scale_rewards": "group"},
    "dr_grpo": {"loss_type": "dr_grpo", "scale_rewards": "none"},
    "dapo": {"loss_type": "dapo", "scale_rewards": "group", "epsilon_high": DAPO_EPSILON_HIGH},
    "real": {"loss_type": "grpo", "scale_rewards": "group"},  # the loss itself is replaced by REAL's
}


class DitheredReward:
    """TRL reward function: raw verifiable reward + ReDit noise; logs raw and dithered statistics."""

    def __init__(self, task: str, dither_config: DitherConfig, group_size: int, controller: SigmaController | None = None,
                 overlong: tuple[int, int] | None = None):
        self.task, self.config, self.group_size, self.controller = task, dither_config, group_size, controller
        self.overlong = overlong  # DAPO: (max_length, cache) of the soft overlong penalty
        self.last_correct = None  # raw correctness of the last call: DAPO's filter reads this, never the dithered reward
        self.__name__ = "correct"  # TRL names its reward metrics after this
        self._calls_at_step: dict[int, int] = {}

    def __call__(self, prompts, completions, ground_truth, trainer_state, log_metric, completion_ids=None, **_):
        raw = torch.tensor([score(self.task, c, g) for c, g in zip(completions, ground_truth)], dtype=torch.float32)
        self.last_correct = raw.clone()
        if self.overlong is not None:
            penalty = overlong_penalty([len(ids) for ids in completion_ids], *self.overlong)
            log_metric("dapo/overlong_penalty/mean", penalty.mean().item())
            raw = raw + penalty
        # Rewards computed during optimizer step k are logged at step k+1 (TRL's global_step lags by 1).
        step = trainer_state.global_step
        call = self._calls_at_step[step] = self._calls_at_step.get(step, -1) + 1
        # A second reward call within one step (gradient accumulation) gets its own noise stream.
        config = self.config if call == 0 else replace(self.config, seed=self.config.seed + 104729 * call)
        if self.controller is not None:  # adaptive sigma: the controller's current value, no schedule
            config = replace(config, sigma=self.controller.sigma, schedule="constant", total_steps=None)
        noisy = dither(raw, config, step, groups=self.group_size)
        flips = flip_rate(raw, noisy, self.group_size)
        log_metric("critic/score/mean", raw.mean().item())
        log_metric("redit/dithered_score/mean", noisy.mean().item())
        log_metric("redit/sigma", sigma_at(config, step))
        log_metric("redit/flip_rate", flips)
        if self.controller is not None:
            self.controller.observe(flip_rate=flips)
        log_metric("redit/zero_std_group_frac/raw", zero_std_group_frac(raw, self.group_size))
        log_metric("redit/zero_std_group_frac/dithered", zero_std_group_frac(noisy, self.group_size))
        return noisy.tolist()


def make_trainer_class():
    """GRPOTrainer + group ids in every batch, DAPO's raw-accuracy group filter and REAL's loss
    (built on first use so that importing this module does not import TRL)."""
    from trl import GRPOTrainer

    class ReditGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, algorithm: str = "grpo", reward_fn: DitheredReward | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.redit_algorithm, self.redit_reward_fn = algorithm, reward_fn

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            mask = out["completion_mask"]
            # rows are contiguous groups of num_generations here; TRL shuffles later, keeping rows together
            out["group_ids"] = torch.arange(mask.shape[0], device=mask.device) // self.num_generations
            if self.redit_algorithm == "dapo":
                keep = informative_groups(self.redit_reward_fn.last_correct, self.num_generations).to(mask.device)
                out["completion_mask"] = mask * keep[:, None].to(mask.dtype)
                out["advantages"] = out["advantages"] * keep.to(out["advantages"].dtype)
                out["num_items_in_batch"] = out["completion_mask"].sum().clamp(min=1)  # DAPO's token normaliser
                self._metrics["train"]["dapo/kept_group_frac"].append(keep.float().mean().item())
            return out

        def _compute_loss(self, model, inputs):
            if self.redit_algorithm != "real":
                return super()._compute_loss(model, inputs)
            prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
            mask = inputs["completion_mask"]
            logps, _, _ = self._get_per_token_logps_and_entropies(
                model, torch.cat([prompt_ids, completion_ids], dim=1), torch.cat([inputs["prompt_mask"], mask], dim=1),
                completion_ids.size(1))
            old = inputs.get("old_per_token_logps")
            old = logps.detach() if old is None else old
            scores = ((logps - old) * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # REAL's length-normalised s
            loss, used = real_loss(scores, inputs["advantages"].reshape(-1), inputs["group_ids"], REAL_TAU)
            self._metrics["train"]["real/groups_used"].append(float(used))
            return loss

    return ReditGRPOTrainer


class RunFolderCallback(TrainerCallback):
    """Writes one metrics.jsonl line per step in the shared schema, with validation every K steps."""

    def __init__(self, run: RunFolder, task: str, val_rows: list[dict], val_every: int,
                 max_new_tokens: int, log_timing: bool = True, progress=print, controller: SigmaController | None = None):
        self.run, self.task, self.val_rows, self.val_every = run, task, val_rows, val_every
        self.controller = controller
        self.max_new_tokens, self.log_timing, self.progress = max_new_tokens, log_timing, progress
        self._val, self._step_start, self._train_start = {}, None, None

    def _validate(self, model, tokenizer) -> dict:
        # greedy accuracy with the raw reward: validation is never dithered
        return {val_key(self.task): accuracy(model, tokenizer, self.val_rows, greedy=True, task=self.task,
                                             max_new_tokens=self.max_new_tokens)}

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        self._train_start = time.time()
        val = self._validate(model, processing_class)
        self.run.log(0, val)
        self.progress(f"step {0:4d}/{state.max_steps}  val acc {val[val_key(self.task)]:.3f}")

    def on_step_begin(self, args, state, control, **kw):
        self._step_start = time.time()

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
        self._seconds = time.time() - self._step_start
        step = state.global_step
        if step % self.val_every == 0 or step == state.max_steps:
            self._val = self._validate(model, processing_class)

    def on_log(self, args, state, control, logs=None, **kw):
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            return
        data = {TRL_TO_SCHEMA.get(k, f"trl/{k}"): v for k, v in logs.items() if not k.startswith(SHARED_PREFIXES)}
        data.update({k: v for k, v in logs.items() if k.startswith(SHARED_PREFIXES)})
        if self.log_timing:
            data["timing_s/step"] = self._seconds
        else:  # wall-clock keys are the only non-deterministic ones
            data = {k: v for k, v in data.items() if not k.startswith("timing_s/")}
        data.update(self._val)
        self.run.log(state.global_step, data)
        if self.controller is not None:  # a grad_norm controller sets the next step's sigma from this one
            self.controller.observe(grad_norm=data.get("actor/grad_norm"))
        step, total = state.global_step, state.max_steps
        if step % 10 == 0 or self._val or step == total:
            elapsed = time.time() - self._train_start
            eta = elapsed / step * (total - step)
            val = f"  val acc {self._val[val_key(self.task)]:.3f}" if self._val else ""
            self.progress(f"step {step:4d}/{total}  acc {data['critic/score/mean']:.3f}  "
                          f"grad_norm {data['actor/grad_norm']:.3g}  {elapsed:.0f}s elapsed, ETA {eta:.0f}s{val}")
        self._val = {}


def train(run: RunFolder, cfg: dict, model_path, train_rows: list[dict], val_rows: list[dict], progress=print) -> dict:
    """Run GRPO (+ReDit if cfg['dither'] enables it) with TRL; write the run folder; return a summary."""
    from datasets import Dataset
    from trl import GRPOConfig

    from .tiny_policy import load_policy

    model, tokenizer = load_policy(model_path)
    dither_cfg = DitherConfig(**cfg["dither"])
    controller = SigmaController(**cfg["adaptive_sigma"]) if cfg.get("adaptive_sigma") else None
    group = cfg["num_generations"]
    args = GRPOConfig(
        output_dir=str(run.path / "trl"),
        max_steps=cfg["steps"],
        per_device_train_batch_size=cfg["prompts_per_step"] * group,  # counts completions, not prompts
        num_generations=group,
        max_completion_length=cfg["max_new_tokens"],
        learning_rate=cfg["lr"],
        lr_scheduler_type="constant",
        max_grad_norm=cfg["max_grad_norm"],
        temperature=cfg["temperature"],
        beta=0.0,  # no KL/reference model, as in TRL's default and the paper's GRPO baseline script
        **ALGORITHMS[cfg["algorithm"]],
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        bf16=False,  # TRL defaults to bf16 even on CPU
        gradient_checkpointing=False,
        use_cpu=True,
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        dataloader_num_workers=0,
    )
    dataset = Dataset.from_list([{"prompt": tiny_task.prompt(r["question"]), "ground_truth": r["ground_truth"]} for r in train_rows])
    callback = RunFolderCallback(run, cfg["task"], val_rows, cfg["val_every"], cfg["max_new_tokens"],
                                 log_timing=cfg["log_timing"], progress=progress, controller=controller)
    overlong = None
    if cfg["algorithm"] == "dapo":
        overlong = (cfg["max_new_tokens"], max(1, round(DAPO_OVERLONG_FRACTION * cfg["max_new_tokens"])))
    reward_fn = DitheredReward(cfg["task"], dither_cfg, group, controller, overlong)
    trainer = make_trainer_class()(model=model, reward_funcs=[reward_fn], args=args, train_dataset=dataset,
                                   processing_class=tokenizer, callbacks=[callback],
                                   algorithm=cfg["algorithm"], reward_fn=reward_fn)
    trainer.remove_callback(PrinterCallback)  # it prints every raw log dict; our callback shows progress
    start = time.time()
    trainer.train()
    return {"train_seconds": round(time.time() - start, 1), "steps": trainer.state.global_step}
