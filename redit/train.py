"""Train one run with TRL's GRPOTrainer and write its run folder (config.json, metrics.jsonl, done.json).

    python -m redit.train --run-dir runs/tiny/main/redit-gaussian-s0 --dist gaussian --sigma 0.05 --seed 0 --experiment main --variant redit-gaussian
    python -m redit.train --run-dir runs/tiny/main/grpo-s0 --dist none --seed 0 --experiment main --variant grpo
    python -m redit.train --run-dir runs/gsm8k/smoke --task gsm8k --steps 2            # tiny policy, GSM8K rows
    python -m redit.train --config experiments/trl/gsm8k.yaml --run-dir runs/gsm8k/redit-s0 --dist gaussian --sigma 0.05
    accelerate launch -m redit.train --config experiments/trl/gsm8k.yaml --run-dir ...  # several GPUs

Configuration follows TRL's own convention: `TrlParser` over (ReditArguments, GRPOConfig,
ModelConfig), so every TRL option is a flag (`--beta 0.04`, `--use_vllm true`, `--report_to wandb`)
or a key of a YAML recipe (`--config`; experiments/trl/). Precedence, lowest first: the dataclass
defaults; the machine (CUDA with bf16 where available, else CPU fp32); the recipe (default:
experiments/trl/tiny.yaml); the command line; then the fields this backend derives (see
`derived_training_fields`). The flags of earlier versions keep working: --steps = --max_steps,
--lr = --learning_rate, --max-new-tokens = --max_completion_length, --model = --model_name_or_path.

A finished run (done.json present) is skipped unless --overwrite; an unfinished one resumes from its
latest TRL checkpoint (<run>/trl/checkpoint-N, written when --save_strategy saves: the GPU recipes
every 50 steps) with its metrics kept through step N, else restarts from step 0.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import REPO_ROOT, algorithms
from .adaptive_sigma import TARGETS, SigmaController
from .algorithms import FILL_STRENGTH, REAL_LABEL_SOURCES, REFILL_MAX_DRAWS
from .dither import DISTRIBUTIONS, SCHEDULES, SCOPES, DitherConfig
from .rewards import PAPER_REWARDS
from .runlog import RunFolder, RunFolderBusy, method_name
from .runlog import run_config as shared_run_config
from .tasks import TASKS
from . import tiny_task
from .tiny_policy import TinyPolicySpec

MAX_GROUP, MAX_COMPLETIONS_PER_STEP = 4096, 65536  # beyond these a step would not finish on any machine here
BACKENDS = ("trl",)  # verl runs go through experiments/ recipes (python -m verl.trainer.main_ppo)
DEFAULT_RECIPE = REPO_ROOT / "experiments" / "trl" / "tiny.yaml"
LEGACY_FLAGS = {"--steps": "--max_steps", "--lr": "--learning_rate", "--max-new-tokens": "--max_completion_length",
                "--model": "--model_name_or_path"}
# GRPOConfig fields that only say where files go: never part of what a run computes.
PATH_FIELDS = ("output_dir", "logging_dir", "run_name", "hub_token")


def _arg(default, help: str, choices=None, **kw):
    meta = {"help": help, **({"choices": list(choices)} if choices else {})}
    return field(default=default, metadata=meta, **kw)


@dataclass
class ReditArguments:
    """ReDit's own options; everything else is TRL's (GRPOConfig, ModelConfig)."""
    run_dir: str = _arg(None, "run folder to write (runs/<scale>/<name>); required")
    backend: str = _arg("trl", "training backend", BACKENDS)
    experiment: str | None = _arg(None, "registry experiment this run belongs to (python -m redit.registry); written to "
                                  "config.json so the analysis groups the run by it, not by its folder")
    variant: str | None = _arg(None, "registry variant of --experiment this run is (e.g. hard-redit); written to config.json")
    task: str = _arg("tiny", "task of redit.tasks (geo3k needs a vision-language policy: use its verl recipe)", TASKS)
    reward: str = _arg("auto", "binary: 0/1 correctness; paper: the released code's shaped reward (gsm8k max 5, "
                       "math max 3) with its <reasoning>/<answer> prompt; auto: paper for gsm8k and math, binary otherwise",
                       ("auto", "binary", "paper"))
    algorithm: str = _arg("grpo", "the algorithm ReDit wraps, from the table in redit/algorithms.py: "
                          + "; ".join(f"{n}: {algorithms.get(n).citation}" for n in algorithms.names("trl"))
                          + ". Sets TRL's loss_type, scale_rewards and epsilon_high", algorithms.names("trl"))
    real_labels: str = _arg(REAL_LABEL_SOURCES[0], "REAL's labels: dithered = sign of the dithered group advantage "
                            "(ReDit acts on REAL); raw = correctness (ReDit + REAL is then plain REAL)", REAL_LABEL_SOURCES)
    # ReDit dithering (redit.dither.DitherConfig)
    dist: str = _arg("none", "noise distribution; none = plain GRPO", DISTRIBUTIONS)
    sigma: float = _arg(0.0, "gaussian std / uniform half-width a / laplace scale b")
    schedule: str = _arg("constant", "sigma schedule", SCHEDULES)
    sigma_end: float = _arg(0.0, "sigma at the last step for non-constant schedules")
    scope: str = _arg("all", "groups that get noise, by their raw rewards: all (the paper), zero_var, mixed", SCOPES)
    noise_on: str = _arg("sum", "sum: one draw on the summed reward; parts: one draw per part of the paper reward "
                         "(gsm8k 5, math 2), as the released code's separate reward functions do", ("sum", "parts"))
    adaptive: str = _arg("none", "adaptive sigma (redit.adaptive_sigma): steer this statistic to --setpoint; "
                         "--sigma is the start", ("none", *TARGETS))
    setpoint: float | None = _arg(None, "adaptive target (default: flip_rate 0.05, grad_norm 1.0)")
    dither_seed: int | None = _arg(None, "noise seed (default: --seed)")
    # batch, validation, machine
    prompts_per_step: int = _arg(8, "prompts per optimizer step (all processes together); x num_generations completions")
    val_every: int = _arg(10, "validate (greedy, never dithered) every K steps and at the end")
    val_problems: int | None = _arg(None, "validation rows (default: tiny 1000 drawn at the run's difficulty; "
                                    "other tasks their whole test split)")
    val_batch_size: int = _arg(64, "prompts per greedy validation batch (similar lengths batched together)")
    train_problems: int | None = _arg(None, "use only the first N training rows (smoke runs)")
    data_dir: str | None = _arg(None, "offline benchmark folder (default: $REDIT_DATA_DIR or ../shared/data)")
    test_as_train: bool = _arg(False, "where no train split exists offline (math, humaneval), train on the test rows: smoke runs only")
    device: str = _arg("auto", "auto: CUDA (bf16 where supported) if available, else CPU (fp32)", ("auto", "cpu", "cuda"))
    threads: int = _arg(1, "torch threads (fixed so runs are bit-reproducible)")
    no_timing: bool = _arg(False, "omit timing_s/* so metrics.jsonl is byte-reproducible")
    overwrite: bool = _arg(False, "rerun even if the run folder is complete")
    # tiny-task difficulty (redit.tiny_task.TinyTaskConfig); the policy stays the one warmed on the default task
    max_number: int | None = _arg(None, "tiny task: operands are drawn from 1..N (default 9)")
    min_ops: int | None = _arg(None, "tiny task: fewest +/- operations per problem (default 1)")
    max_ops: int | None = _arg(None, "tiny task: most +/- operations per problem (default 2)")
    policy_size: str = _arg("small", "tiny policy shape (redit.tiny_policy.POLICY_SIZES: small 0.11 M, wide 0.38 M, "
                            "large 1.2 M parameters), each warmed up by the same SFT recipe; ignored with --model",
                            ("small", "wide", "large"))
    # remedies for saturated groups (redit/algorithms.py)
    refill_max_draws: int = _arg(REFILL_MAX_DRAWS, "--algorithm refill: generation batches per step at most (DAPO's max_num_gen_batches)")
    fill_strength: float = _arg(FILL_STRENGTH, "--algorithm directional_fill: |advantage| given to every sample of an all-equal group")


@dataclass
class ParsedArgs:
    redit: ReditArguments
    training: object  # trl.GRPOConfig
    model_args: object  # trl.ModelConfig
    recipe: str | None

    @property
    def model(self) -> str | None:
        """--model as given (hub id or folder); None = the tiny policy."""
        return self.model_args.model_name_or_path

    @property
    def run_dir(self) -> Path:
        return Path(self.redit.run_dir)


def _short_help() -> None:
    """`--help`: this module's doc and ReDit's own options, then where TRL's are (exits like argparse)."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(ReditArguments, prog="python -m redit.train", description=__doc__,
                              formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.print_help()
    print("\nEvery option of TRL's GRPOConfig and ModelConfig is a flag too (--learning_rate, --beta, --num_generations, "
          "--report_to, --save_strategy, --model_name_or_path, ...): python -m redit.train --help-all lists them.")
    raise SystemExit(0)


def _translate_legacy(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=")
        out.append(LEGACY_FLAGS.get(flag, flag) + eq + value if flag.startswith("--") else arg)
    return out


def _machine_defaults() -> dict:
    import torch

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported()}
    return {"use_cpu": True, "bf16": False}


def resolve_device(requested: str) -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but torch sees no CUDA GPU; use --device cpu (or auto).")
    return ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested


def tiny_task_config(redit: ReditArguments):
    """The run's tiny-task difficulty: the policy's task with the knobs given (validation at that difficulty)."""
    overrides = {"max_number": redit.max_number, "min_ops": redit.min_ops, "max_ops": redit.max_ops,
                 "n_test": redit.val_problems or 1000}
    return dataclasses.replace(TinyPolicySpec().task, **{k: v for k, v in overrides.items() if v is not None})


def derived_training_fields(values: dict, device: str) -> dict:
    """GRPOConfig fields this backend sets from ReDit's options (they win over recipe and flags):
    the batch (prompts_per_step x num_generations completions, split over processes), the loss of
    --algorithm, the device, and what the run folder needs (one log line per step, TRL files inside it)."""
    from .trl_backend import ALGORITHMS as TRL_ALGORITHMS

    world = int(os.environ.get("WORLD_SIZE", "1"))
    completions = values["prompts_per_step"] * values["num_generations"]
    if completions % (world * values["num_generations"]):
        raise ValueError(f"--prompts-per-step {values['prompts_per_step']} must split evenly over {world} processes "
                         "(each process scores whole prompt groups).")
    derived = {"per_device_train_batch_size": completions // world, **TRL_ALGORITHMS[values["algorithm"]],
               "output_dir": str(Path(values["run_dir"]) / "trl"), "logging_steps": 1, "disable_tqdm": True}
    if device == "cpu":  # CPU runs are fp32 whatever the recipe says (bf16 on a CPU is slow and lossy)
        derived.update(use_cpu=True, bf16=False, fp16=False)
    if values.get("data_seed") is None:
        derived["data_seed"] = values["seed"]
    return derived


def parse_args(argv=None) -> ParsedArgs:
    """Parse flags and the YAML recipe (TRL's `--config` convention) into the three dataclasses."""
    import yaml
    from trl import GRPOConfig, ModelConfig, TrlParser

    argv = _translate_legacy(list(sys.argv[1:] if argv is None else map(str, argv)))
    if ("-h" in argv or "--help" in argv) and "--help-all" not in argv:
        _short_help()  # ReDit's own options; TRL's ~300 are behind --help-all
    argv = ["--help" if a == "--help-all" else a for a in argv]
    parser = TrlParser((ReditArguments, GRPOConfig, ModelConfig), description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.set_defaults(**_machine_defaults())

    def one_line_error(message):  # argparse would print the whole usage of every TRL option first
        raise ValueError(f"{message}; see `python -m redit.train --help`.")

    parser.error = one_line_error
    recipe = DEFAULT_RECIPE
    argv = [part for arg in argv for part in (arg.split("=", 1) if arg.startswith("--config=") else [arg])]
    if "--config" in argv:
        i = argv.index("--config")
        recipe = Path(argv[i + 1]) if i + 1 < len(argv) else None
        argv = argv[:i] + argv[i + 2:]
        if recipe is None or not recipe.is_file():
            raise ValueError(f"--config {recipe} is not a file; pass a YAML recipe such as experiments/trl/tiny.yaml.")
    try:
        config = yaml.safe_load(recipe.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ValueError(f"recipe {recipe} is not valid YAML{at}; fix it (experiments/trl/tiny.yaml is an example).") from None
    if not isinstance(config, dict):
        raise ValueError(f"recipe {recipe} must be a YAML mapping of option: value.")
    env = config.pop("env", None) or {}
    if not isinstance(env, dict):
        raise ValueError(f"recipe {recipe}: `env:` must be a mapping of VARIABLE: value (TRL's convention).")
    for key, value in env.items():  # TRL's `env:` section
        os.environ[str(key)] = str(value)
    unknown = parser.set_defaults_with_config(**config)
    if unknown:
        raise ValueError(f"recipe {recipe} has unknown options {unknown[::2]}; see `python -m redit.train --help`.")
    namespace = parser.parse_args(argv)
    values = vars(namespace)
    if values["run_dir"] is None:
        raise ValueError("--run-dir is required (the run folder to write).")
    values.update(derived_training_fields(values, resolve_device(values["device"])))

    def build(cls):
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.init and f.name in values})

    return ParsedArgs(build(ReditArguments), build(GRPOConfig), build(ModelConfig), str(recipe))


def _json_ready(values: dict) -> dict:
    return json.loads(json.dumps({k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}, default=str))


def trl_config_diff(training) -> dict:
    """The run's GRPOConfig values that differ from TRL's defaults on this machine (a GRPOConfig built
    from nothing but the machine's device defaults, resolved by TRL the same way), JSON-ready."""
    from trl import GRPOConfig

    default = _json_ready(GRPOConfig(output_dir=training.output_dir, **_machine_defaults()).to_dict())
    values = _json_ready(training.to_dict())
    return {k: v for k, v in values.items() if k not in PATH_FIELDS and v != default.get(k)}


def resolve_reward(task: str, reward: str) -> str:
    if reward == "auto":
        return "paper" if task in PAPER_REWARDS else "binary"
    if reward == "paper" and task not in PAPER_REWARDS:
        raise ValueError(f"--reward paper exists for {', '.join(PAPER_REWARDS)} only (the paper's released code); "
                         f"use --reward binary for {task}.")
    return reward


def _check_identity(experiment: str | None, variant: str | None) -> None:
    """--experiment/--variant name a registry entry (redit/registry.py), or are both absent."""
    from . import registry

    if variant is not None and experiment is None:
        raise ValueError(f"--variant {variant} needs --experiment (the registry experiment it is a variant of).")
    if experiment is not None:
        registry.get(experiment)
        if variant is not None:
            registry.variant(experiment, variant)


def paper_reward_parts_count(task: str, reward: str, noise_on: str) -> int:
    """The dither's reward_parts: 1 for --noise-on sum, the paper reward's number of parts for --noise-on parts."""
    if noise_on == "sum":
        return 1
    if reward != "paper":
        raise ValueError(f"--noise-on parts needs a reward made of parts (the paper reward of {', '.join(PAPER_REWARDS)}); "
                         f"--task {task} with the {reward} reward has one part: use --noise-on sum.")
    return PAPER_REWARDS[task].n_parts


def _looks_like_hub_id(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name) is not None and not name.startswith(("/", "."))


def resolve_config(parsed: ParsedArgs) -> dict:
    """Validate everything cheap before any long work (raises ValueError with one clear sentence) and
    return what the run computes (config.json without model, versions and git; see `run_config`)."""
    r, t = parsed.redit, parsed.training
    for name, value in (("steps", t.max_steps), ("prompts_per_step", r.prompts_per_step), ("val_every", r.val_every),
                        ("max_new_tokens", t.max_completion_length), ("threads", r.threads), ("val_batch_size", r.val_batch_size)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {value}.")
    if t.num_generations < 2:
        raise ValueError(f"--num-generations must be >= 2 for group-normalised advantages; got {t.num_generations}.")
    if t.num_generations > MAX_GROUP or r.prompts_per_step * t.num_generations > MAX_COMPLETIONS_PER_STEP:
        raise ValueError(f"--num-generations {t.num_generations} x --prompts-per-step {r.prompts_per_step} completions a step is "
                         f"beyond this backend's bounds (G <= {MAX_GROUP}, <= {MAX_COMPLETIONS_PER_STEP} a step); choose smaller values.")
    if t.gradient_accumulation_steps < 1:
        raise ValueError(f"--gradient_accumulation_steps must be >= 1; got {t.gradient_accumulation_steps}.")
    for name, value, low in (("lr", t.learning_rate, "> 0"), ("temperature", t.temperature, "> 0"),
                             ("max-grad-norm", t.max_grad_norm, ">= 0 (0 = no clipping)")):
        if value is None or not math.isfinite(value) or value < 0 or (low == "> 0" and value == 0):
            raise ValueError(f"--{name} must be a finite number {low}; got {value}.")
    if r.dist == "none" and (r.sigma or r.sigma_end or r.schedule != "constant"):
        raise ValueError("--dist none (plain GRPO) adds no noise, so --sigma/--sigma-end/--schedule would be ignored; "
                         "choose a noise --dist (gaussian, uniform, laplace) or drop them.")
    if r.dist != "none" and r.schedule == "constant" and r.sigma_end:
        raise ValueError("--sigma-end applies to a decaying or increasing --schedule (linear, cosine, ...); with the constant "
                         "schedule it would be ignored: drop it or choose a --schedule.")
    if r.dist == "none" and r.scope != "all":
        raise ValueError("--scope chooses which groups get noise, and --dist none adds none: choose a noise --dist or drop --scope.")
    if r.dist == "none" and r.noise_on != "sum":
        raise ValueError("--noise-on parts says where noise goes, and --dist none adds none: choose a noise --dist or drop --noise-on.")
    if r.setpoint is not None and r.adaptive == "none":
        raise ValueError("--setpoint is the target of --adaptive (flip_rate or grad_norm); without it the setpoint would be ignored.")
    for name in ("val_problems", "train_problems"):
        if getattr(r, name) is not None and getattr(r, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(r, name)}.")
    _check_run_dir(Path(r.run_dir))
    _check_identity(r.experiment, r.variant)
    if parsed.model is not None:
        folder = Path(parsed.model)
        if folder.exists() and not (folder / "config.json").is_file():
            raise ValueError(f"--model {parsed.model} is not a model folder (no config.json); omit --model to use the tiny policy.")
        if not folder.exists() and not _looks_like_hub_id(parsed.model):
            raise ValueError(f"--model {parsed.model} is neither a model folder nor a hub id (org/name); "
                             "omit --model to use the tiny policy.")
    if TASKS[r.task].trl_refusal:
        raise ValueError(TASKS[r.task].trl_refusal)
    reward = resolve_reward(r.task, r.reward)
    reward_parts = paper_reward_parts_count(r.task, reward, r.noise_on)
    _check_trackers(t.report_to)
    if t.use_vllm:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ValueError("--use_vllm true needs the vllm package (pip install vllm) on a CUDA machine; drop it to generate with transformers.")
    dither_cfg = DitherConfig(dist=r.dist, sigma=r.sigma, schedule=r.schedule, sigma_end=r.sigma_end,
                              total_steps=t.max_steps if r.schedule != "constant" else None,
                              seed=t.seed if r.dither_seed is None else r.dither_seed, scope=r.scope,
                              reward_parts=reward_parts)
    if r.dist != "none" and not dither_cfg.enabled:
        raise ValueError(f"--dist {r.dist} with sigma 0 adds no noise; use --dist none for plain GRPO or set --sigma.")
    adaptive = None
    if r.adaptive != "none":
        if r.dist == "none" or r.schedule != "constant":
            raise ValueError("--adaptive needs a noise --dist and the constant --schedule (the controller sets sigma).")
        setpoint = r.setpoint if r.setpoint is not None else {"flip_rate": 0.05, "grad_norm": 1.0}[r.adaptive]
        adaptive = SigmaController(target=r.adaptive, setpoint=setpoint, sigma=r.sigma,
                                   sigma_max=max(1.0, r.sigma)).to_dict()
    if r.task == "tiny":
        if r.min_ops is not None and r.max_ops is None and r.min_ops > TinyPolicySpec().task.max_ops:
            raise ValueError(f"--min-ops {r.min_ops} exceeds the default --max-ops; set --max-ops too.")
        task_config = tiny_task_config(r).to_dict()
    else:
        if any(v is not None for v in (r.max_number, r.min_ops, r.max_ops)):
            raise ValueError("--max-number/--min-ops/--max-ops are tiny-task knobs; drop them for --task " + r.task + ".")
        task_config = {"prompt_style": "paper" if reward == "paper" else "verl", "val_problems": r.val_problems,
                       "train_problems": r.train_problems, "test_as_train": r.test_as_train}
    if r.algorithm != "real" and r.real_labels != REAL_LABEL_SOURCES[0]:
        raise ValueError("--real-labels is an option of --algorithm real only.")
    if r.algorithm != "refill" and r.refill_max_draws != REFILL_MAX_DRAWS:
        raise ValueError("--refill-max-draws is an option of --algorithm refill only.")
    if r.algorithm != "directional_fill" and r.fill_strength != FILL_STRENGTH:
        raise ValueError("--fill-strength is an option of --algorithm directional_fill only.")
    if r.refill_max_draws < 1 or r.refill_max_draws > 100:
        raise ValueError(f"--refill-max-draws must be a whole number in 1..100; got {r.refill_max_draws}.")
    if not math.isfinite(r.fill_strength) or r.fill_strength < 0:
        raise ValueError(f"--fill-strength must be a finite number >= 0; got {r.fill_strength}.")
    if r.policy_size != "small" and (parsed.model is not None or r.task != "tiny"):
        raise ValueError("--policy-size picks a tiny policy for --task tiny; drop it with --model or another task.")
    remedy = {}
    if r.algorithm == "refill":
        remedy["refill_max_draws"] = r.refill_max_draws
    if r.algorithm == "directional_fill":
        remedy["fill_strength"] = r.fill_strength
    if r.policy_size != "small":  # only when not the default: earlier runs' configs stay comparable
        remedy["policy_size"] = r.policy_size
    return {
        **({"real_labels": r.real_labels} if r.algorithm == "real" else {}), **remedy,
        "backend": r.backend, "task": r.task, "algorithm": r.algorithm, "seed": t.seed,
        "steps": t.max_steps, "prompts_per_step": r.prompts_per_step, "num_generations": t.num_generations,
        "lr": t.learning_rate, "max_grad_norm": t.max_grad_norm, "temperature": t.temperature,
        "max_new_tokens": t.max_completion_length, "val_every": r.val_every, "threads": r.threads,
        "log_timing": not r.no_timing, "dither": dither_cfg.to_dict(), "adaptive_sigma": adaptive,
        "method": method_name(r.algorithm, r.dist), "reward": reward, "task_config": task_config,
        "trl": trl_config_diff(t),
    }


def _check_trackers(report_to) -> None:
    """A tracker that would fail after the run folder is written (wandb without a login) fails here."""
    import importlib.util

    trackers = [report_to] if isinstance(report_to, str) else list(report_to or [])
    installed = importlib.util.find_spec("wandb") is not None
    if "wandb" in trackers or ("all" in trackers and installed):
        if not installed:
            raise ValueError("--report_to wandb needs the wandb package (pip install wandb), or drop it.")
        offline = os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun")
        netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
        logged_in = bool(os.environ.get("WANDB_API_KEY")) or (netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"))
        if not (offline or logged_in):
            raise ValueError("--report_to wandb but no wandb login (WANDB_API_KEY or `wandb login`); log in, or set "
                             "WANDB_MODE=offline to log locally.")


def _check_run_dir(run_dir: Path) -> None:
    """The run folder must be (or be creatable as) a folder: one line instead of an OSError later."""
    if not str(run_dir).strip() or str(run_dir) in (".", "./"):
        raise ValueError("--run-dir must name a run folder (e.g. runs/tiny/my-run), not the working directory.")
    if any(len(part.encode()) > 255 for part in run_dir.parts):
        raise ValueError("--run-dir has a name longer than 255 bytes, which no file system takes; choose a shorter --run-dir.")
    try:
        run_dir.resolve(strict=False)
    except (OSError, RuntimeError):
        raise ValueError(f"--run-dir {run_dir} cannot be resolved (a symlink loop?); choose another --run-dir.") from None
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--run-dir {run_dir} is a file, not a folder; choose another --run-dir.")
    for parent in run_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--run-dir {run_dir} sits under the file {parent}; choose another --run-dir.")
            if not os.access(parent, os.W_OK):
                raise ValueError(f"--run-dir {run_dir}: {parent} is not writable; choose another --run-dir.")
            return


def _finished_run_differs(run: RunFolder, cfg: dict, requested_model: str | None) -> list[str] | str:
    """The settings in which a finished run folder differs from this command (its model included), or
    an error sentence if its config.json cannot be read."""
    try:
        stored = json.loads(run.config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return (f"{run.config_path} is not readable JSON ({type(err).__name__}); the folder holds a damaged run: "
                f"move it away or pass --overwrite to replace it.")
    stored["dither"] = DitherConfig(**stored.get("dither", {})).to_dict()  # keys added since are at their defaults
    stored.setdefault("adaptive_sigma", None)
    if isinstance(stored.get("task_config"), dict):  # runs from before the min_ops/max_ops rename
        stored["task_config"] = tiny_task.with_current_names(stored["task_config"])
    if stored.get("algorithm") == "real":
        stored.setdefault("real_labels", REAL_LABEL_SOURCES[0])  # the only behaviour before the option existed
    changed = sorted(k for k in cfg if k not in ("threads", "log_timing") and stored.get(k) != cfg[k])
    stored_model = stored.get("model") or {}
    if requested_model is None:  # the tiny policy: the same policy key (tokenizer, model, SFT, task)
        from .tiny_policy import policy_dir, policy_spec

        same = Path(stored_model.get("path", "")).name == policy_dir(policy_spec(cfg.get("policy_size", "small"))).name
    else:
        same = requested_model in (stored_model.get("name_or_path"), stored_model.get("path"))
    return changed + ([] if same else ["model"])


def resumable_checkpoint(run: RunFolder, cfg: dict, requested_model: str | None) -> Path | None:
    """The latest TRL checkpoint (<run>/trl/checkpoint-N) of an unfinished run whose config.json matches
    this command, if its metrics reach step N; else None (the run restarts from step 0). Checkpoints
    exist when --save_strategy saves (the GPU recipes: every 50 steps; the tiny preset: never)."""
    if run.is_complete() or not run.config_path.is_file():
        return None
    checkpoints = sorted((p for p in (run.path / "trl").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
                          and (p / "trainer_state.json").is_file()), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints or _finished_run_differs(run, cfg, requested_model):
        return None
    last = checkpoints[-1]
    return last if (run.last_step() or 0) >= int(last.name.split("-")[-1]) else None


def run_config(cfg: dict, model: dict, data: dict, experiment: str | None = None, variant: str | None = None) -> dict:
    """config.json: what the run computes plus where it came from (model, data rows, versions, commit)
    and, when given, which registry experiment and variant it is.
    The keys every backend shares come from redit.runlog.run_config (verl's plugin builds them there too);
    the TRL backend's own settings stay at the top level, where the analysis reads them."""
    shared = shared_run_config(backend=cfg["backend"], task=cfg["task"], algorithm=cfg["algorithm"], seed=cfg["seed"],
                               steps=cfg["steps"], dither=DitherConfig(**cfg["dither"]), adaptive=cfg["adaptive_sigma"],
                               model=model, experiment=experiment, variant=variant)
    return {**cfg, **shared, "data": data}


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _main(argv=None) -> int:
    try:
        parsed = parse_args(argv)
        cfg = resolve_config(parsed)
    except ValueError as err:
        return _error(str(err).strip().splitlines()[0])
    from accelerate import PartialState

    is_main = PartialState().is_main_process
    run = RunFolder(parsed.run_dir)
    if run.is_complete() and not parsed.redit.overwrite:
        changed = _finished_run_differs(run, cfg, parsed.model)
        if isinstance(changed, str):
            return _error(changed)
        if changed:
            return _error(f"{run.path} already holds a finished run with a different {', '.join(changed)}; "
                          f"choose another --run-dir or pass --overwrite to replace it.")
        print(f"[skip] {run.path} is complete (done.json); pass --overwrite to rerun")
        return 0

    import torch

    from . import trl_backend

    torch.set_num_threads(parsed.redit.threads)
    try:  # model and data before the run folder is touched: bad input never costs a written run
        if TASKS[cfg["task"]].code:  # code rewards run model code: refuse before any work if no safe sandbox exists
            from .sandbox import require_sandbox

            require_sandbox()
        model_info = trl_backend.resolve_model(parsed.model, parsed.model_args, parsed.training, cfg.get("policy_size", "small"))
        train_rows, val_rows = trl_backend.task_rows(parsed.redit, cfg)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # RuntimeError: SandboxUnavailable
        return _error(str(err).strip().splitlines()[0])
    if is_main:
        try:  # the one writer of this folder, before anything in it changes
            run.lock()
        except RunFolderBusy as err:
            return _error(str(err))
        except OSError as err:  # a name too long, a loop, a folder under /proc, a read-only disk
            return _error(f"cannot write the run folder {run.path} ({err.strerror or type(err).__name__}); choose another --run-dir.")
    data = {"train_rows": len(train_rows), "val_rows": len(val_rows), "source": val_rows[0].get("data_source")}
    checkpoint = resumable_checkpoint(run, cfg, parsed.model)
    if checkpoint is not None:
        step = int(checkpoint.name.split("-")[-1])
        print(f"[resume] {run.path}: from its checkpoint at step {step} (metrics after it are recomputed)")
        if is_main:
            run.resume(step)
    else:
        if run.last_step() is not None and is_main:
            print(f"[restart] {run.path} was unfinished (last step {run.last_step()}) with no usable checkpoint; "
                  "starting it again from step 0")
        if is_main:
            run.start(run_config(cfg, model_info, data, parsed.redit.experiment, parsed.redit.variant))
    name = run.path.name
    try:
        summary = trl_backend.train(run, cfg, parsed.training, parsed.model_args, model_info, train_rows, val_rows,
                                    val_batch_size=parsed.redit.val_batch_size,
                                    progress=lambda msg: print(f"[{name}] {msg}", flush=True),
                                    resume_from=None if checkpoint is None else str(checkpoint))
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        return _error(f"no space left writing {run.path} ({err.strerror}); its metrics.jsonl holds whole lines only: "
                      "free space and run the same command again (the run restarts).")
    if is_main:
        trl_dir = run.path / "trl"
        if trl_dir.is_dir() and not any(trl_dir.iterdir()):
            trl_dir.rmdir()  # TRL's output_dir stays empty when nothing is saved
        run.finish(summary)
        print(f"[done] {run.path}  {summary}")
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # one line, not a traceback; the run folder has no done.json, so a rerun restarts it
        print("\ninterrupted: the same command continues the run from its last checkpoint (--save_strategy), else from step 0.",
              file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
