"""The verl recipe layer: a recipe's variables -> verl's Hydra overrides, run folder, checks and launch.

The shell recipes in experiments/ are the entry points; each lists its task's values and hands them
here, with the user's arguments after `--`:

    exec "$PY" -m patches.verl_recipe TASK=gsm8k MODEL=... STEPS=1000 ... -- "$@"
    experiments/gsm8k/redit_gaussian.sh --dry-run                     # what a user types
    python -m patches.verl_recipe grid remedies --dry-run             # a registry experiment's verl runs

Values are layered, the first that sets a variable wins: the environment (the user's), the SCALE
preset (tiny / smoke), the recipe's own values, the named HYPERPARAMETERS preset, the defaults below.
The method comes from METHOD (+ SIGMA, SCHEDULE, ...) or, for a grid run, from its registry variant
(REDIT_EXPERIMENT + REDIT_VARIANT: `redit.registry`, no string round trip), and the algorithm from
`redit.algorithms.ALGORITHMS`; both are validated here once, through `redit.dither.DitherConfig`
and that table, before anything is written, and every refusal is one `error:` line (exit 2).

Usage:  experiments/<task>/<method>.sh [--dry-run] [hydra.override=value ...]    (variables from the env)
  --dry-run     print the environment, the full verl command and the resolved verl config; run nothing
  key=value     extra Hydra overrides, appended LAST (they win over everything the recipe sets):
                experiments/gsm8k/grpo.sh --dry-run trainer.val_before_train=False
  SCALE=paper   (default) the recipe's paper-scale values: real model, vLLM rollout, GPUs
  SCALE=smoke   one GPU node check before a long job: 1 GPU, the tiny policy (MODEL=... for another),
                16 prompts x 8 samples, 4 steps, 256/64 data rows; the `hf` rollout when vLLM is not
                installed, sdpa attention when flash-attn is not (../shared/notes/gpu-device.md)
  SCALE=tiny    the same recipe on a CPU: the tiny policy, 4 prompts x 4 samples, 3 steps,
                verl's CPU mode (patches/verl_cpu.py, the `hf` rollout), 64/16 data rows
  METHOD        grpo | redit-gaussian | redit-uniform | redit-laplace (the method wrappers set it);
                SIGMA defaults to the distribution's parameter for noise std NOISE_STD (default 0.05,
                dither.matched_sigma); SCHEDULE SIGMA_END SCOPE as in redit.dither
  ALGORITHM     what ReDit wraps: {algorithms} (redit/algorithms.py: citation, estimator, loss
                aggregation and verl overrides of each)
  LOSS_AGG      verl's actor.loss_agg_mode; default: the algorithm's, the aggregation its TRL loss_type
                computes (grpo: seq-mean-token-mean, dr_grpo: seq-mean-token-sum-norm, dapo: token-mean)
  NOISE_ON      sum (default: one draw on the summed reward) | parts (one draw per part of the paper
                reward, summed: gsm8k 5 parts, math 2; algorithm.redit.reward_parts)
  REFILL_MAX_DRAWS (refill, default 5)  FILL_STRENGTH (directional_fill, 0.1)  RPP_KL_COEF
                (reinforce_plus_plus, 0.001)  REAL_LABELS dithered | raw (real)
  GROUP_SCALE   k: ROLLOUT_N x k with TRAIN_BATCH and MINI_BATCH / k (a larger group at equal samples)
  ADAPTIVE      flip_rate | grad_norm: adaptive sigma (redit/adaptive_sigma.py) from SIGMA; ADAPTIVE_SETPOINT
  REWARD_STYLE  paper (default for gsm8k and math at paper/smoke scale: the released code's 5-part /
                2-part reward and <reasoning>/<answer> resp. \\boxed{{}} prompt) | binary (0/1 correctness,
                verl's prompt; the only style of geo3k, mbpp, and of SCALE=tiny); PROMPT_STYLE=verl|paper
                overrides the prompt alone
  REWARD        redit (default: the project's gold-checked scorers) | verl (verl's built-in scorer, binary)
  SAVE_FREQ     checkpoint every K steps (paper scale 50; -1 none); a relaunched recipe resumes from
                the latest one (trainer.resume_mode=auto); KEEP_CHECKPOINTS (default 2) are kept
  LOGGERS       verl loggers, comma-separated (default console,file; add wandb to opt in; `file` is
                always kept: it writes the run folder's metrics.jsonl)
  LAUNCH_LIST   a file: append this run as a job line (JSON, for python -m redit.launch); run nothing
  DRY_RUN_CONFIG=0  with --dry-run: print only the command (no composed config)
  SEED STEPS RUN_DIR OVERWRITE=1 MODEL TRAIN_BATCH MINI_BATCH ROLLOUT_N LR ...  any recipe variable
A finished run (done.json) is skipped unless OVERWRITE=1; an unfinished one resumes from its latest
checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import io
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from redit import REPO_ROOT, algorithms
from redit.dither import DISTRIBUTIONS, SCHEDULES, SCOPES, DitherConfig

SCALES = ("paper", "smoke", "tiny")
TINY_POLICY = "<the tiny policy>"  # resolved to redit.tiny_policy.policy_dir() when used

# The tiny and smoke presets win over the recipe's paper-scale values (the user's environment wins over both).
SCALE_PRESETS = {
    "tiny": dict(MODEL=TINY_POLICY, TRAIN_BATCH="4", MINI_BATCH="4", ROLLOUT_N="4", STEPS="3", TEST_FREQ="3",
                 SAVE_FREQ="-1", MAX_PROMPT="192", MAX_RESPONSE="32", LR="1e-5", GPUS_PER_NODE="1", NNODES="1", TP="1",
                 CLIP_GRAD="1.0", EST_STEP_SECONDS="2",
                 REWARD_STYLE="binary",  # the tiny policy was warmed up on the `#### N` format
                 DATA_LIMITS="--limit-train 64 --limit-test 16 --test-as-train"),
    # ../shared/notes/gpu-device.md: 13-24 s/step on one H100 with the hf rollout
    "smoke": dict(MODEL=TINY_POLICY, TRAIN_BATCH="16", MINI_BATCH="16", ROLLOUT_N="8", STEPS="4", TEST_FREQ="4",
                  SAVE_FREQ="2", MAX_PROMPT="256", MAX_RESPONSE="48", LR="1e-5", GPUS_PER_NODE="1", NNODES="1", TP="1",
                  EST_STEP_SECONDS="25", DATA_LIMITS="--limit-train 256 --limit-test 64 --test-as-train"),
}

# The hyperparameters of the paper's released code family (../shared/notes/paper.md: a widely copied
# TRL GRPO demo that kithib/ReDit's grpo_gsm8k.py / grpo_math.py derive from; NOT confirmed as the
# paper's own values). The GSM8K and MATH recipes name it (HYPERPARAMETERS=released_code).
RELEASED_CODE = dict(
    ROLLOUT_N="16",                # released code family: 16 generations per prompt
    LR="5e-6",                     # released code family
    CLIP_GRAD="0.1",               # released code family: max_grad_norm 0.1
    WEIGHT_DECAY="0.1",            # released code family
    BETAS="[0.9,0.99]",            # released code family: AdamW betas
    WARMUP_RATIO="0.1",            # released code family
    LR_SCHEDULER="cosine",         # released code family
    MAX_PROMPT="256",              # released code family (longer prompts are filtered out)
    MAX_RESPONSE="786",            # released code family
    # Small per-step batches, as in the released code family, whose exact prompts per optimiser step
    # are unknown here: 16 prompts x 16 samples = 256 responses per step (ours; verl's example: 1024 x 5,
    # with which a step's gradient can never vanish, so Figure 1 could not be reproduced).
    TRAIN_BATCH="16",              # ours (see above)
    MINI_BATCH="16",               # one optimiser update per step (on-policy, one iteration; ours)
    TEMPERATURE="1.0",             # unknown here (verl's default)
    REWARD_STYLE="paper",          # the released code's reward (../shared/notes/paper.md)
    # Unknown here and left at our defaults: KL (none, as the TRL backend), epochs (STEPS bounds the run).
)
HYPERPARAMETERS = {"released_code": RELEASED_CODE}

DEFAULTS = dict(
    METHOD="grpo", ALGORITHM="grpo", SEED="0", SCHEDULE="constant", SIGMA_END="0.0", SCOPE="all",
    ADAPTIVE="none", ADAPTIVE_SETPOINT="", REAL_LABELS=algorithms.REAL_LABEL_SOURCES[0],
    REFILL_MAX_DRAWS=str(algorithms.REFILL_MAX_DRAWS), FILL_STRENGTH=str(algorithms.FILL_STRENGTH), GROUP_SCALE="1",
    # REINFORCE++'s KL-in-reward coefficient: verl's algorithm.kl_ctrl.kl_coef default (0.001, also the KL
    # coefficient of verl's examples/reinforce_plus_plus_trainer script, which applies it as a loss); the
    # REINFORCE++ paper's (arXiv 2501.03262) own beta is not known here.
    RPP_KL_COEF="0.001",
    NOISE_ON="sum", SAVE_FREQ="50", KEEP_CHECKPOINTS="2", LOGGERS="console,file", PROJECT="redit",
    # verl's own defaults, written out so that the command shows them
    CLIP_GRAD="1.0", WEIGHT_DECAY="0.01", BETAS="[0.9,0.999]", WARMUP_RATIO="0.0", LR_SCHEDULER="constant",
    TEMPERATURE="1.0", REWARD_STYLE="binary", REWARD="redit",
)

# Every variable a run depends on: a launcher job (LAUNCH_LIST) records their resolved values, so the
# job reruns exactly this run wherever it is scheduled (not PY: the cluster's own).
RECIPE_VARS = ("SCALE", "METHOD", "ALGORITHM", "SIGMA", "NOISE_STD", "SCHEDULE", "SIGMA_END", "SCOPE", "ADAPTIVE",
               "ADAPTIVE_SETPOINT", "REAL_LABELS", "REFILL_MAX_DRAWS", "FILL_STRENGTH", "GROUP_SCALE", "LOSS_AGG",
               "NOISE_ON", "RPP_KL_COEF", "SEED", "RUN_DIR", "MODEL", "STEPS", "TRAIN_BATCH", "MINI_BATCH", "ROLLOUT_N",
               "LR", "CLIP_GRAD", "WEIGHT_DECAY", "BETAS", "WARMUP_RATIO", "LR_SCHEDULER", "TEMPERATURE", "MAX_PROMPT",
               "MAX_RESPONSE", "TP", "GPUS_PER_NODE", "NNODES", "TEST_FREQ", "SAVE_FREQ", "KEEP_CHECKPOINTS", "LOGGERS",
               "PROJECT", "REWARD", "REWARD_STYLE", "PROMPT_STYLE", "DATA_ROOT", "DATA_LIMITS", "REDIT_EXPERIMENT",
               "REDIT_VARIANT")
# Read from the environment besides RECIPE_VARS (the run's switches, not its definition)
SWITCHES = ("OVERWRITE", "LAUNCH_LIST", "DRY_RUN_CONFIG", "EST_STEP_SECONDS")
VERL_LOGGERS = ("console", "file", "wandb", "tensorboard", "mlflow", "swanlab", "vemlp_wandb", "clearml", "trackio")

HF_ROLLOUT_FSDP2_FP32 = [  # the `hf` rollout (patches/hf_rollout.py) with FSDP2 in fp32: the CPU and the smoke-test GPU share it
    "actor_rollout_ref.rollout.name=hf",
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2",
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile=False",
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
]
CPU_OVERRIDES = [
    *HF_ROLLOUT_FSDP2_FP32,
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "+ray_kwargs.ray_init.num_gpus=1",          # Ray must see one "GPU" to place the worker
    "+ray_kwargs.ray_init.num_cpus=16",         # transfer-queue actors each ask for a CPU
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
]
GPU_OVERRIDES = [
    "actor_rollout_ref.rollout.name=vllm",
    "actor_rollout_ref.rollout.gpu_memory_utilization=0.6",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
    "actor_rollout_ref.model.enable_gradient_checkpointing=True",
]
# SCALE=smoke on a GPU without vLLM: the hf rollout (patches/hf_rollout.py) on CUDA, FSDP2, fp32 --
# what ran on an H100 (../shared/notes/gpu-device.md); sdpa attention where flash-attn is absent.
SMOKE_HF_OVERRIDES = [*HF_ROLLOUT_FSDP2_FP32, "transfer_queue.backend.SimpleStorage.num_data_storage_units=1"]


class RecipeError(ValueError):
    """A bad recipe input: printed as one `error:` line, exit 2, before any work."""


def tiny_policy_path() -> str:
    from redit.tiny_policy import policy_dir

    return str(policy_dir())


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# ---- variables -------------------------------------------------------------------------------------
def resolve_variables(recipe: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """Every variable of the run: environment > SCALE preset > recipe > its HYPERPARAMETERS > defaults."""
    scale = environ.get("SCALE") or "paper"
    if scale not in SCALES:
        raise RecipeError(f"SCALE must be paper, smoke or tiny, got '{scale}'")
    named = recipe.get("HYPERPARAMETERS")
    if named is not None and named not in HYPERPARAMETERS:
        raise RecipeError(f"HYPERPARAMETERS={named} is not a preset; the presets are {', '.join(HYPERPARAMETERS)}")
    layers = [{k: v for k, v in environ.items() if k in RECIPE_VARS or k in SWITCHES},
              SCALE_PRESETS.get(scale, {}), recipe, HYPERPARAMETERS.get(named, {}), DEFAULTS]
    values = {"SCALE": scale}
    for layer in reversed(layers):
        values.update({k: v for k, v in layer.items() if v != "" or k not in values})
    values["SCALE"] = scale
    values.pop("HYPERPARAMETERS", None)
    if values.get("MODEL") == TINY_POLICY:
        values["MODEL"] = tiny_policy_path()
    values.setdefault("DATA_ROOT", str(REPO_ROOT / "data" / "verl" / scale))
    if scale == "tiny":
        values["REWARD_STYLE"] = "binary"  # (a preset, not a choice: the tiny policy answers `#### N`)
    if recipe.get("TEXT_ONLY_BELOW_PAPER") and scale != "paper" and "--text-only" not in values.get("DATA_LIMITS", "").split():
        values["DATA_LIMITS"] = f"{values.get('DATA_LIMITS', '')} --text-only"  # the tiny policy reads text only
    values.pop("TEXT_ONLY_BELOW_PAPER", None)
    return {k: v for k, v in values.items() if v != ""}  # an empty variable is an unset one, as in the shell


@dataclass
class Method:
    """What the run trains: the algorithm (table entry), the noise, adaptive sigma."""
    algorithm: str
    dither: DitherConfig | None  # None: the noise variables are invalid (check_variables names which)
    adaptive: str = "none"
    adaptive_setpoint: str = ""
    label: str = "grpo"  # grpo | redit-<dist>: the run's name and the dry run's header


def method_from_variables(values: dict[str, str]) -> Method:
    """METHOD / ALGORITHM / SIGMA / ... -> a validated Method (the one place they are decoded)."""
    method = values["METHOD"]
    dists = [d for d in DISTRIBUTIONS if d != "none"]
    if method == "grpo":
        dist = "none"
    elif method.startswith("redit-") and method[len("redit-"):] in dists:
        dist = method[len("redit-"):]
    else:
        choices = ", ".join(["grpo", *(f"redit-{d}" for d in dists[:-1])]) + f" or redit-{dists[-1]}"
        raise RecipeError(f"METHOD must be {choices}; got '{method}'")
    check_algorithm(values["ALGORITHM"])
    if "SIGMA" not in values:
        from redit.registry import MAIN_NOISE_STD, noise

        std = number(values, "NOISE_STD", lambda x: x > 0, "> 0") if values.get("NOISE_STD") else MAIN_NOISE_STD
        values["SIGMA"] = f"{noise(dist, std).sigma:g}" if dist != "none" else "0.0"
    return Method(values["ALGORITHM"], dither_config(values, dist), values["ADAPTIVE"], values.get("ADAPTIVE_SETPOINT", ""),
                  label=method)


def method_from_variant(experiment: str, name: str, values: dict[str, str]) -> Method:
    """The registry variant `experiment`/`name` -> a validated Method; its extra recipe variables
    (CLIP_GRAD, GROUP_SCALE, ...) and its method fields are written into `values` (they win)."""
    from redit import registry

    try:
        variants = registry.get(experiment).variants_for("verl")
    except ValueError as error:
        raise RecipeError(f"REDIT_EXPERIMENT: {error}") from None
    if name not in variants:
        raise RecipeError(f"REDIT_VARIANT={name} is no verl variant of {experiment}; choose from {', '.join(variants)}")
    variant = variants[name]
    check_algorithm(variant.algorithm)
    sigma_end = f"{variant.sigma_end:g}" if variant.schedule != "constant" else DEFAULTS["SIGMA_END"]  # (unused when constant)
    values.update(dict(variant.verl), ALGORITHM=variant.algorithm, SIGMA=f"{variant.sigma:g}", SCHEDULE=variant.schedule,
                  SIGMA_END=sigma_end, SCOPE=variant.scope, ADAPTIVE=variant.adaptive,
                  METHOD="grpo" if variant.dist == "none" else f"redit-{variant.dist}")  # the run's name, for people
    return Method(variant.algorithm, dither_config(values, variant.dist), variant.adaptive,
                  values.get("ADAPTIVE_SETPOINT", ""), label=values["METHOD"])


def check_algorithm(name: str):
    verl = algorithms.names("verl")
    if name not in verl:
        raise RecipeError(f"ALGORITHM must be {', '.join(verl[:-1])} or {verl[-1]}; got '{name}'")


def dither_config(values: dict[str, str], dist: str) -> DitherConfig:
    """The noise, validated by DitherConfig itself (the object the verl estimator builds again)."""
    if values["ADAPTIVE"] != "none":
        from redit.adaptive_sigma import TARGETS  # (imports torch: only when asked for)

        if values["ADAPTIVE"] not in TARGETS:
            raise RecipeError(f"ADAPTIVE must be none, {', '.join(TARGETS[:-1])} or {TARGETS[-1]}; got '{values['ADAPTIVE']}'")
    for name, choices in (("SCHEDULE", SCHEDULES), ("SCOPE", SCOPES)):
        if values[name] not in choices:
            raise RecipeError(f"{name} must be one of {', '.join(choices)}; got '{values[name]}'")
    try:
        return DitherConfig(dist=dist, sigma=float(values["SIGMA"]) if finite(values["SIGMA"]) else math.nan,
                            schedule=values["SCHEDULE"],
                            sigma_end=float(values["SIGMA_END"]) if finite(values["SIGMA_END"]) else math.nan,
                            total_steps=int(values["STEPS"]) if values.get("STEPS", "").isdigit() and int(values["STEPS"]) else None,
                            seed=int(values["SEED"]) if values["SEED"].isdigit() else -1, scope=values["SCOPE"])
    except ValueError:
        return None  # reported with the variable's name by check_variables


def finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def number(values: dict, name: str, ok, rule: str) -> float:
    text = values.get(name, "")
    if not (finite(text) and ok(float(text))):
        raise RecipeError(f"{name} must be a finite number {rule}; got '{text}'")
    return float(text)


def check_variables(values: dict[str, str], method: Method):
    """One line naming the variable, before any work (a dry run included)."""
    for name in ("STEPS", "TRAIN_BATCH", "MINI_BATCH", "GPUS_PER_NODE", "NNODES", "TP", "MAX_PROMPT", "MAX_RESPONSE",
                 "REFILL_MAX_DRAWS", "GROUP_SCALE"):
        if values.get(name) and not re.fullmatch(r"[1-9][0-9]*", values[name]):
            raise RecipeError(f"{name} must be a whole number >= 1; got '{values[name]}'")
    if values.get("ROLLOUT_N") and not (values["ROLLOUT_N"].isdigit() and int(values["ROLLOUT_N"]) >= 2):
        raise RecipeError(f"ROLLOUT_N must be a whole number >= 2 (group-normalised advantages need a group); got '{values['ROLLOUT_N']}'")
    if not values["SEED"].isdigit():
        raise RecipeError(f"SEED must be a whole number >= 0; got '{values['SEED']}'")
    for name in ("TEST_FREQ", "SAVE_FREQ"):  # verl: -1 = never
        if values.get(name) and not (re.fullmatch(r"[1-9][0-9]*", values[name]) or values[name] == "-1"):
            raise RecipeError(f"{name} must be a whole number >= 1, or -1 for never; got '{values[name]}'")
    if not re.fullmatch(r"[1-9][0-9]*", values["KEEP_CHECKPOINTS"]):
        raise RecipeError(f"KEEP_CHECKPOINTS must be a whole number >= 1; got '{values['KEEP_CHECKPOINTS']}'")
    if values.get("MINI_BATCH") and values.get("TRAIN_BATCH") and int(values["MINI_BATCH"]) > int(values["TRAIN_BATCH"]):
        raise RecipeError(f"MINI_BATCH={values['MINI_BATCH']} exceeds TRAIN_BATCH={values['TRAIN_BATCH']} (a mini-batch is "
                          "a slice of the step's prompts); lower MINI_BATCH")
    for logger in values["LOGGERS"].split(","):
        if logger not in VERL_LOGGERS:
            raise RecipeError(f"LOGGERS has '{logger}'; verl's loggers are {', '.join(VERL_LOGGERS)}")
    if values.get("PROMPT_STYLE", "verl") not in ("verl", "paper"):
        raise RecipeError(f"PROMPT_STYLE must be verl or paper; got '{values['PROMPT_STYLE']}'")
    number(values, "LR", lambda x: x > 0, "> 0")
    number(values, "SIGMA", lambda x: x >= 0, ">= 0")
    number(values, "SIGMA_END", lambda x: x >= 0, ">= 0")
    number(values, "FILL_STRENGTH", lambda x: x >= 0, ">= 0")
    number(values, "CLIP_GRAD", lambda x: x > 0, "> 0")
    number(values, "TEMPERATURE", lambda x: x > 0, "> 0")
    if method.dither is None:  # every field was checked above: what is left is DitherConfig's own rule
        raise RecipeError("the noise settings do not make a DitherConfig; see python -m patches.verl_recipe -h")
    if method.dither.dist != "none" and method.adaptive == "none" and method.dither.schedule == "constant" and method.dither.sigma == 0:
        raise RecipeError(f"METHOD={method.label} with SIGMA=0 adds no noise; use METHOD=grpo for plain GRPO or set SIGMA")
    model = values["MODEL"]
    if model.startswith(("/", ".")) and not Path(model, "config.json").is_file() and model != tiny_policy_path():
        raise RecipeError(f"no model at MODEL={model} (config.json missing); pass a model folder or a hub id (org/name)")
    if values.get("LOSS_AGG") and values["LOSS_AGG"] not in algorithms.VERL_LOSS_AGG_MODES:
        raise RecipeError(f"LOSS_AGG must be one of {', '.join(algorithms.VERL_LOSS_AGG_MODES)}; got '{values['LOSS_AGG']}'")
    if values.get("LOSS_AGG") and algorithms.get(method.algorithm).verl_loss_agg is None:
        raise RecipeError(f"LOSS_AGG does not apply to ALGORITHM={method.algorithm} (its own loss aggregates itself); unset LOSS_AGG")
    if values["NOISE_ON"] not in ("sum", "parts"):
        raise RecipeError(f"NOISE_ON must be sum or parts; got '{values['NOISE_ON']}'")


def apply_group_scale(values: dict[str, str]):
    """GROUP_SCALE=k: a larger group at equal samples per step (ROLLOUT_N x k, batches / k)."""
    k = int(values["GROUP_SCALE"])
    if k == 1:
        return
    train, mini = int(values["TRAIN_BATCH"]), int(values["MINI_BATCH"])
    if train % k or mini % k:
        raise RecipeError(f"GROUP_SCALE={k} must divide TRAIN_BATCH={train} and MINI_BATCH={mini}")
    values.update(ROLLOUT_N=str(int(values["ROLLOUT_N"]) * k), TRAIN_BATCH=str(train // k), MINI_BATCH=str(mini // k),
                  GROUP_SCALE="1")  # applied: a launcher job records the resolved sizes, never scales twice


def reward_settings(values: dict[str, str], task: str):
    style = values["REWARD_STYLE"]
    if style == "binary":
        values.setdefault("PROMPT_STYLE", "verl")
    elif style == "paper":
        values.setdefault("PROMPT_STYLE", "paper")
        if task not in ("gsm8k", "math"):
            raise RecipeError(f"REWARD_STYLE=paper exists for gsm8k and math only (the released code's rewards); use "
                              f"REWARD_STYLE=binary for {task}")
        if values["REWARD"] != "redit":
            raise RecipeError("REWARD=verl is verl's binary scorer; use REWARD_STYLE=binary with it")
    else:
        raise RecipeError(f"REWARD_STYLE must be paper or binary; got '{style}'")


def reward_parts(values: dict[str, str], task: str) -> int:
    """NOISE_ON=parts: the number of parts of the task's paper reward (noise drawn per part, summed)."""
    if values["NOISE_ON"] == "sum":
        return 1
    if values["REWARD_STYLE"] != "paper":
        raise RecipeError("NOISE_ON=parts needs the paper's multi-part reward; the binary reward has one part "
                          "(use NOISE_ON=sum, or REWARD_STYLE=paper for gsm8k and math)")
    from redit.rewards import PAPER_REWARDS

    return PAPER_REWARDS[task].n_parts


# ---- the run -----------------------------------------------------------------------------------------
@dataclass
class Run:
    task: str
    values: dict[str, str]
    method: Method
    run_dir: Path
    name: str
    env: dict[str, str]
    overrides: list[str]
    user_overrides: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.values["DATA_ROOT"]) / self.task / self.values["PROMPT_STYLE"]


def build_run(task: str, recipe: dict[str, str], recipe_overrides: list[str], user_overrides: list[str],
              environ: dict[str, str]) -> Run:
    """Everything a run needs, validated; raises RecipeError with one line."""
    values = resolve_variables(recipe, environ)
    if environ.get("REDIT_VARIANT"):
        if not environ.get("REDIT_EXPERIMENT"):
            raise RecipeError("REDIT_VARIANT needs REDIT_EXPERIMENT (the registry experiment it belongs to)")
        method = method_from_variant(environ["REDIT_EXPERIMENT"], environ["REDIT_VARIANT"], values)
    else:
        method = method_from_variables(values)
    check_variables(values, method)
    apply_group_scale(values)
    name = f"{method.label}-s{values['SEED']}"
    if method.algorithm != "grpo":
        name = f"{method.algorithm}-{name}"
    if method.adaptive != "none":
        name = f"adaptive-{method.adaptive}-{name}"
    run_dir = Path(values.get("RUN_DIR") or REPO_ROOT / "runs" / f"{values['SCALE']}-verl" / task / name)
    values["RUN_DIR"] = str(run_dir)
    reward_settings(values, task)
    parts = reward_parts(values, task)
    env, device, micro = machine(values)
    env["VERL_FILE_LOGGER_PATH"] = str(run_dir / "metrics.jsonl")
    for key in ("REDIT_EXPERIMENT", "REDIT_VARIANT"):  # the registry names, into config.json (patches/redit_verl.py)
        if values.get(key):
            env[key] = values[key]
    if method.algorithm == "real":  # REAL scores whole groups: a micro-batch of whole groups (a multiple of ROLLOUT_N)
        n = int(values["ROLLOUT_N"])
        micro = n * max(micro // n, 1)
    run = Run(task, values, method, run_dir, name, env, [], user_overrides)
    run.overrides = overrides(run, recipe_overrides, device, micro, parts) + user_overrides  # the user's, last: Hydra keeps the last value
    return run


def machine(values: dict[str, str]) -> tuple[dict[str, str], list[str], int]:
    """(environment, device overrides, micro-batch per GPU) for SCALE on this machine."""
    plugins, device, env, micro = ["patches.redit_verl"], list(GPU_OVERRIDES), {}, 8
    if values["SCALE"] == "tiny":
        plugins.insert(0, "patches.verl_cpu")  # the platform plugin must come first
        device, micro = list(CPU_OVERRIDES), 16
        env = {"VERL_PLATFORM": "cpu", "VERL_ENGINE_DEVICE": "cuda"}
    elif values["SCALE"] == "smoke":
        micro = 16
        if not has_module("vllm"):
            plugins.insert(0, "patches.verl_cpu")
            device = list(SMOKE_HF_OVERRIDES)
        if not has_module("flash_attn"):
            device.append("+actor_rollout_ref.model.override_config.attn_implementation=sdpa")
    env["VERL_USE_EXTERNAL_MODULES"] = ",".join(plugins)
    return env, device, micro


def overrides(run: Run, recipe_overrides: list[str], device: list[str], micro: int, reward_parts: int) -> list[str]:
    """verl's Hydra overrides of the run, in the order a reader checks them."""
    v, method, run_dir = run.values, run.method, run.run_dir
    loggers = v["LOGGERS"].split(",")
    loggers += [] if "file" in loggers else ["file"]  # metrics.jsonl is the run folder
    algorithm = algorithms.get(method.algorithm)
    adaptive = [] if method.adaptive == "none" else [f"+algorithm.redit_adaptive.target={method.adaptive}"] + (
        [f"+algorithm.redit_adaptive.setpoint={method.adaptive_setpoint}"] if method.adaptive_setpoint else [])
    forwarded = [f"+ray_kwargs.ray_init.runtime_env.env_vars.{k}='{val}'"  # quoted: a comma in a value would make a Hydra list
                 for k, val in run.env.items()]  # the same variables in every Ray worker on every node of a cluster
    reward = [] if v["REWARD"] != "redit" else [  # REWARD=verl: verl's built-in scorer for the data_source
        f"reward.custom_reward_function.path={REPO_ROOT / 'patches' / 'verl_reward.py'}",
        "reward.custom_reward_function.name=compute_score",
        f"+reward.custom_reward_function.reward_kwargs.style={v['REWARD_STYLE']}"]
    return [
        # the experiment: from the recipe's variables
        f"data.train_files={run.data_dir / 'train.parquet'}",
        f"data.val_files={run.data_dir / 'test.parquet'}",
        f"data.train_batch_size={v['TRAIN_BATCH']}",
        f"data.max_prompt_length={v['MAX_PROMPT']}",
        f"data.max_response_length={v['MAX_RESPONSE']}",
        "data.filter_overlong_prompts=True",
        f"actor_rollout_ref.model.path={v['MODEL']}",
        f"actor_rollout_ref.actor.optim.lr={v['LR']}",
        f"actor_rollout_ref.actor.optim.clip_grad={v['CLIP_GRAD']}",
        f"actor_rollout_ref.actor.optim.weight_decay={v['WEIGHT_DECAY']}",
        f"actor_rollout_ref.actor.optim.betas={v['BETAS']}",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps_ratio={v['WARMUP_RATIO']}",
        f"actor_rollout_ref.actor.optim.lr_scheduler_type={v['LR_SCHEDULER']}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={v['MINI_BATCH']}",
        "actor_rollout_ref.actor.use_kl_loss=False",  # as in the TRL backend (beta = 0), DAPO and Dr.GRPO
        "actor_rollout_ref.actor.entropy_coeff=0",
        f"actor_rollout_ref.rollout.n={v['ROLLOUT_N']}",
        f"actor_rollout_ref.rollout.temperature={v['TEMPERATURE']}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={v['TP']}",
        f"trainer.n_gpus_per_node={v['GPUS_PER_NODE']}",
        f"trainer.nnodes={v['NNODES']}",
        f"trainer.total_training_steps={v['STEPS']}",
        f"trainer.test_freq={v['TEST_FREQ']}",
        "trainer.val_before_train=True",
        *recipe_overrides,  # the recipe's own
        # the method: the algorithm's estimator and table overrides, the noise
        f"algorithm.adv_estimator={algorithm.verl_estimator}",
        f"algorithm.norm_adv_by_std_in_grpo={algorithm.norm_adv_by_std}",
        "trainer.v1.trainer_mode=redit_sync",
        f"+algorithm.redit.dist={method.dither.dist}",
        f"+algorithm.redit.sigma={v['SIGMA']}",
        f"+algorithm.redit.schedule={v['SCHEDULE']}",
        f"+algorithm.redit.sigma_end={v['SIGMA_END']}",
        f"+algorithm.redit.seed={v['SEED']}",
        f"+algorithm.redit.scope={v['SCOPE']}",
        *([f"+algorithm.redit.reward_parts={reward_parts}"] if reward_parts > 1 else []),  # NOISE_ON=parts
        *adaptive,
        f"data.seed={v['SEED']}",
        # the loss aggregation: the same objective as the algorithm's TRL loss_type unless LOSS_AGG says otherwise
        *algorithm.verl_overrides(loss_agg=v.get("LOSS_AGG") or None, max_response=v["MAX_RESPONSE"],
                                  overlong_len=int(v["MAX_RESPONSE"]) // 4, refill_max_draws=v["REFILL_MAX_DRAWS"],
                                  fill_strength=v["FILL_STRENGTH"], rpp_kl_coef=v["RPP_KL_COEF"], real_labels=v["REAL_LABELS"]),
        # survival: checkpoints every SAVE_FREQ steps; a relaunch resumes from the latest
        f"trainer.save_freq={v['SAVE_FREQ']}",
        "trainer.resume_mode=auto",
        f"trainer.max_actor_ckpt_to_keep={v['KEEP_CHECKPOINTS']}",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        f"trainer.logger=[{', '.join(loggers)}]",
        f"trainer.project_name={v['PROJECT']}",
        f"trainer.experiment_name={run.task}-{run.name}",
        # the machine
        *device,
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={micro}",
        *forwarded,
        *reward,
    ]


# ---- what a recipe call does -----------------------------------------------------------------------
def quote(token: str) -> str:
    """Shell quoting that stays readable: 'k=[a, b]' and "k='v'" rather than escapes."""
    if shlex.quote(token) == token:
        return token
    return f'"{token}"' if not set('"$`\\!') & set(token) else shlex.quote(token)


def print_command(run: Run, python: str):
    print(f"# {run.task} / {run.method.label} / {run.method.algorithm} / SCALE={run.values['SCALE']} / seed "
          f"{run.values['SEED']} / reward {run.values['REWARD_STYLE']} -> {run.run_dir}")
    print("env " + " ".join(quote(f"{k}={v}") for k, v in run.env.items()) + f" \\\n  {quote(python)} -m verl.trainer.main_ppo"
          + "".join(f" \\\n    {quote(o)}" for o in run.overrides))


def compose_check(run: Run, show: bool) -> None:
    """verl's own Hydra composition of the overrides (patches.verl_compose): a bad key fails here, in
    seconds, before Ray starts. `show` prints the resolved config."""
    from patches import verl_compose

    captured = io.StringIO()  # Hydra's warnings stay out of the one-line error
    with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(sys.stdout if show else io.StringIO()):
        status = verl_compose.main(run.overrides)
    if status:
        lines = [line for line in captured.getvalue().splitlines() if line.startswith("error")]
        raise RecipeError(lines[0].removeprefix("error: ") if lines else "verl config does not compose")


def add_job(run: Run, environ: dict[str, str]):
    """LAUNCH_LIST: this recipe again, every variable resolved, as a job line for python -m redit.launch."""
    from redit import launch

    job = [arg for v in RECIPE_VARS if run.values.get(v) for arg in ("--var", f"{v}={run.values[v]}")]
    job += [arg for o in run.user_overrides for arg in ("--override", o)]
    status = launch.main(["add", "--list", environ["LAUNCH_LIST"], "--recipe", f"experiments/{run.task}/run.sh",
                          "--run-dir", str(run.run_dir), "--gpus-per-node", run.values["GPUS_PER_NODE"],
                          "--nnodes", run.values["NNODES"], "--steps", run.values["STEPS"],
                          "--step-seconds", run.values.get("EST_STEP_SECONDS") or "60", *job])
    if status:
        raise SystemExit(status)


def launch_run(run: Run, environ: dict[str, str], python: str) -> int:
    """Skip a finished run, check the config, warm up the tiny policy, prepare the data, start verl."""
    if (run.run_dir / "done.json").is_file() and environ.get("OVERWRITE", "0") != "1":
        print(f"[skip] {run.run_dir} is complete (done.json); OVERWRITE=1 reruns it")
        return 0
    compose_check(run, show=False)
    model = run.values["MODEL"]
    if run.values["SCALE"] != "paper" and not Path(model, "config.json").is_file():
        if model != tiny_policy_path():
            raise RecipeError(f"no model at MODEL={model} (config.json missing); unset MODEL to use the tiny policy")
        subprocess.run([python, "-m", "redit.tiny_policy"], check=True, stdout=subprocess.DEVNULL)  # first use: SFT warm-up
    if not (run.data_dir / "train.parquet").is_file():
        subprocess.run([python, "-m", "patches.verl_data", "--task", run.values.get("DATA_TASK") or run.task, "--style",
                        run.values["PROMPT_STYLE"], "--out", str(run.data_dir), *run.values.get("DATA_LIMITS", "").split()],
                       check=True)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if (run.run_dir / "checkpoints").is_dir():
        print(f"[resume] {run.run_dir}: verl resumes from the latest checkpoint in {run.run_dir / 'checkpoints'}", flush=True)
    sys.stdout.flush()
    with open(run.run_dir / "verl.log", "a") as log:  # the console, and a copy in the run folder
        proc = subprocess.Popen([python, "-m", "verl.trainer.main_ppo", *run.overrides], env={**environ, **run.env},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        return proc.wait()


def recipe_tasks() -> list[str]:
    """The tasks with a verl recipe (experiments/<task>/run.sh)."""
    return sorted(path.parent.name for path in (REPO_ROOT / "experiments").glob("*/run.sh"))


def recipe_main(argv: list[str]) -> int:
    """A task recipe: `VAR=value ... [hydra.key=value ...] -- [user arguments]`."""
    split = argv.index("--") if "--" in argv else len(argv)
    recipe_args, user_args = argv[:split], argv[split + 1:]
    recipe = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in recipe_args if re.match(r"[A-Z_]+=", a)}
    recipe_overrides = [a for a in recipe_args if not re.match(r"[A-Z_]+=", a)]
    dry_run, user_overrides = False, []
    if {"-h", "--help"} & set(argv):
        print(__doc__[__doc__.index("Usage:"):].format(algorithms=" | ".join(algorithms.names("verl"))))
        return 0
    if "TASK" not in recipe:
        raise RecipeError("no TASK: a task recipe passes its values (TASK=gsm8k ...); run experiments/<task>/<method>.sh")
    for arg in user_args:
        if arg == "--dry-run":
            dry_run = True
        elif re.match(r"[a-z+~][^=]*=", arg):
            user_overrides.append(arg)
        else:
            raise RecipeError(f"unknown option '{arg}'; recipes take --dry-run, Hydra overrides key=value, and variables "
                              "from the environment (SCALE=tiny SEED=1 ...)")
    task = recipe.pop("TASK")
    if task not in recipe_tasks():
        raise RecipeError(f"TASK={task} has no verl recipe; the tasks with one are {', '.join(recipe_tasks())} (experiments/<task>/run.sh)")
    recipe.setdefault("DATA_TASK", task)
    environ = dict(os.environ)
    run = build_run(task, recipe, recipe_overrides, user_overrides, environ)
    python = sys.executable if "PY" not in environ else environ["PY"]
    if environ.get("LAUNCH_LIST"):
        add_job(run, environ)
        return 0
    if dry_run:
        print_command(run, python)
        if environ.get("DRY_RUN_CONFIG", "1") != "0":
            print("# resolved verl config:", flush=True)
            compose_check(run, show=True)
        return 0
    return launch_run(run, environ, python)


# ---- a registry experiment's verl grid -------------------------------------------------------------
def grid_main(argv: list[str]) -> int:
    """Every verl run of a registry experiment: each variant x task x seed through its task recipe
    (experiments/<task>/run.sh), the variant named by REDIT_EXPERIMENT + REDIT_VARIANT, into
    $RUNS/<experiment>/<task>-<variant>-s<seed> (main included: config.json names experiment and variant).
    From the environment: SEEDS (default: the registry's paper seeds), TASK (default: its paper
    tasks, GSM8K for the ablations), RUNS (default runs/paper), and any recipe variable."""
    from redit import registry

    parser = argparse.ArgumentParser(prog="python -m patches.verl_recipe grid", description=inspect.cleandoc(grid_main.__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", help="a registry experiment with verl variants (python -m redit.registry)")
    parser.add_argument("--dry-run", action="store_true", help="print each run's command only")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise RecipeError(f"unknown option '{unknown[0]}'; ablation recipes take --dry-run, and variables from the "
                          "environment (SEEDS=\"0 1\" TASK=math ...)")
    try:
        experiment = registry.get(args.experiment)
    except ValueError as error:
        raise RecipeError(str(error)) from None
    variants = experiment.variants_for("verl")
    if not variants:
        raise RecipeError(f"experiment {experiment.name!r} has no verl variants (TRL backend only: ./run_all.sh --only {experiment.name})")
    tasks = os.environ.get("TASK", "").split() or list(experiment.paper_tasks)
    unknown_tasks = [t for t in tasks if t not in recipe_tasks()]
    if unknown_tasks:
        raise RecipeError(f"TASK={unknown_tasks[0]} has no verl recipe; the tasks with one are {', '.join(recipe_tasks())}")
    seeds = os.environ.get("SEEDS", "").split() or [str(s) for s in experiment.paper_seeds]
    bad_seeds = [s for s in seeds if not s.isdigit()]
    if bad_seeds:
        raise RecipeError(f"SEEDS must be whole numbers >= 0, space-separated; got '{bad_seeds[0]}'")
    runs = Path(os.environ.get("RUNS") or REPO_ROOT / "runs" / "paper")
    folder = runs / experiment.name  # every experiment, main included, in its own folder (config.json names it too)
    for task in tasks:
        for name in variants:
            for seed in seeds:
                env = {**os.environ, "DRY_RUN_CONFIG": os.environ.get("DRY_RUN_CONFIG", "0"), "REDIT_EXPERIMENT": experiment.name,
                       "REDIT_VARIANT": name, "SEED": seed, "RUN_DIR": str(folder / f"{task}-{name}-s{seed}")}
                env.pop("TASK", None)
                status = subprocess.call(["bash", str(REPO_ROOT / "experiments" / task / "run.sh"),
                                          *(["--dry-run"] if args.dry_run else [])], env=env)
                if status:
                    return status
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return grid_main(argv[1:]) if argv[:1] == ["grid"] else recipe_main(argv)
    except RecipeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
