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
# Algorithms this backend expresses with stock TRL options.
ALGORITHMS = {
    "grpo": {"loss_type": "grpo", "scale_rewards": "group"},
    "dr_grpo": {"loss_type": "dr_grpo", "scale_rewards": "none"},
}


class DitheredReward:
    """TRL reward function: raw verifiable reward + ReDit noise; logs raw and dithered statistics."""

    def __init__(self, task: str, dither_config: DitherConfig, group_size: int, controller: SigmaController | None = None):
        self.task, self.config, self.group_size, self.controller = task, dither_config, group_size, controller
        self.__name__ = "correct"  # TRL names its reward metrics after this
        self._calls_at_step: dict[int, int] = {}

    def __call__(self, prompts, completions, ground_truth, trainer_state, log_metric, **_):
        raw = torch.tensor([score(self.task, c, g) for c, g in zip(completions, ground_truth)], dtype=torch.float32)
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
        data = {TRL_TO_SCHEMA.get(k, f"trl/{k}"): v for k, v in logs.items() if not k.startswith(("critic/", "redit/"))}
        data.update({k: v for k, v in logs.items() if k.startswith(("critic/", "redit/"))})
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
    from trl import GRPOConfig, GRPOTrainer

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
    trainer = GRPOTrainer(model=model, reward_funcs=[DitheredReward(cfg["task"], dither_cfg, group, controller)],
                          args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[callback])
    trainer.remove_callback(PrinterCallback)  # it prints every raw log dict; our callback shows progress
    start = time.time()
    trainer.train()
    return {"train_seconds": round(time.time() - start, 1), "steps": trainer.state.global_step}
