"""TRL backend: GRPO (TRL 1.16 `GRPOTrainer`, unchanged) with ReDit as a reward-function wrapper.

ReDit enters through TRL's reward-function hook: the function returns dithered rewards, and TRL then
normalises them per prompt group (A = (r - mean_G) / (std_G + 1e-4)), so the noise is added *before*
group normalisation exactly as in the paper. Everything else (sampling, clipping, the optimiser) is
stock TRL. A callback writes the shared run-folder schema (see `redit.runlog`).

Every task of `redit.tasks` except geo3k runs here (`task_rows`, `task_prompt`); the model is the
tiny policy, a local folder or a hub id (`resolve_model`), on the device TRL's config names. Every
tensor this module makes follows the model's device (validation batches, group ids, DAPO masks).

    python -m redit.train --task gsm8k --steps 2 --run-dir /tmp/gsm8k-smoke   # entry point: redit/train.py
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from transformers import PrinterCallback, TrainerCallback

from . import algorithms, tasks, tiny_task
from .adaptive_sigma import SigmaController, flip_rate
from .algorithms import (DAPO_OVERLONG_FRACTION, FILL_STRENGTH, REAL_LABEL_SOURCES, REAL_TAU,
                         REFILL_MAX_DRAWS, directional_fill, filter_saturated, informative_groups, overlong_penalty,
                         real_labels, real_loss, select_informative_groups)
from .dither import DitherConfig, dither, saturated_group_fracs, sigma_at, zero_std_group_frac
from .rewards import paper_reward_parts, score
from .runlog import RunFolder, val_key

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
SHARED_PREFIXES = ("critic/", "redit/", "dapo/", "real/", "reward/", "remedy/", "compute/", "val-core/")  # logged under their own names, not trl/
# Algorithms -> stock TRL options (loss_type, scale_rewards, epsilon_high), read live from the one
# table, redit.algorithms.ALGORITHMS; DAPO's filter and overlong penalty and REAL's loss are added by
# ReditGRPOTrainer and DitheredReward (see redit.algorithms).
class _TrlOptions(Mapping):
    """{algorithm: GRPOConfig options} for every algorithm the table runs on TRL (an entry added to
    the table later is seen too)."""

    def __getitem__(self, name):
        if name not in algorithms.names("trl"):
            raise KeyError(name)
        return algorithms.get(name).trl_options()

    def __iter__(self):
        return iter(algorithms.names("trl"))

    def __len__(self):
        return len(algorithms.names("trl"))


ALGORITHMS = _TrlOptions()
REFILL_SEED_OFFSET = 7919  # the refill prompt sampler's own stream: the data order of the first draw stays GRPO's


def pad_and_concat(batches: list[dict], pad_token_id: int) -> dict:
    """Concatenate TRL generation outputs row-wise: 2-D tensors padded to a common width (prompt
    tensors on the left, as TRL left-pads prompts; completion tensors on the right), 1-D tensors
    concatenated, anything else taken from the first batch."""
    import torch.nn.functional as F

    out = {}
    for key, first in batches[0].items():
        values = [b[key] for b in batches]
        if not isinstance(first, torch.Tensor) or first.dim() == 0:
            out[key] = first
        elif first.dim() == 1:
            out[key] = torch.cat(values)
        else:
            width = max(v.shape[1] for v in values)
            fill = pad_token_id if key.endswith("_ids") else 0
            left = key.startswith("prompt")
            out[key] = torch.cat([F.pad(v, (width - v.shape[1], 0) if left else (0, width - v.shape[1]), value=fill)
                                  for v in values])
    return out


PROCESS_SEED_STRIDE = 1_000_003  # each training process draws its own noise (different samples, independent noise)


def completion_text(completion) -> str:
    """A completion as text: TRL passes strings, or assistant messages for conversational prompts."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


class DitheredReward:
    """TRL reward function: raw verifiable reward + ReDit noise; logs raw and dithered statistics.

    `reward="binary"` scores 0/1 correctness (`redit.rewards.score`); `reward="paper"` the paper's
    shaped reward (`redit.rewards.paper_reward_parts`, summed; each part logged as reward/<part>/mean).
    The noise is added to the summed reward: one draw per sample, or the sum of k draws when the dither
    config's reward_parts is k (`--noise-on parts`: one draw per part of the paper reward)."""

    def __init__(self, task: str, dither_config: DitherConfig, group_size: int, controller: SigmaController | None = None,
                 overlong: tuple[int, int] | None = None, reward: str = "binary", process_index: int = 0):
        self.task, self.config, self.group_size, self.controller = task, dither_config, group_size, controller
        self.overlong = overlong  # DAPO: (max_length, cache) of the soft overlong penalty
        self.reward, self.process_index = reward, process_index
        self.last_correct = None  # raw correctness of the last call: DAPO's filter reads this, never the dithered reward
        self.__name__ = "correct"  # TRL names its reward metrics after this
        self._calls_at_step: dict[int, int] = {}

    def raw_rewards(self, completions, ground_truth, ground_truth_json=None, log_metric=None) -> torch.Tensor:
        texts = [completion_text(c) for c in completions]
        refs = [json.loads(g) if ground_truth_json and ground_truth_json[i] else g for i, g in enumerate(ground_truth)]
        if self.reward == "binary":
            raw = torch.tensor([score(self.task, t, g) for t, g in zip(texts, refs)], dtype=torch.float32)
            self.last_correct = raw.clone()
            return raw
        parts = [paper_reward_parts(self.task, t, g) for t, g in zip(texts, refs)]
        for name in parts[0]:
            log_metric(f"reward/{name}/mean", sum(p[name] for p in parts) / len(parts))
        self.last_correct = torch.tensor([float(p["correctness"] > 0) for p in parts])
        return torch.tensor([sum(p.values()) for p in parts], dtype=torch.float32)

    def __call__(self, prompts, completions, ground_truth, trainer_state, log_metric, completion_ids=None,
                 ground_truth_json=None, **_):
        raw = self.raw_rewards(completions, ground_truth, ground_truth_json, log_metric)
        if self.overlong is not None:
            penalty = overlong_penalty([len(ids) for ids in completion_ids], *self.overlong)
            log_metric("dapo/overlong_penalty/mean", penalty.mean().item())
            raw = raw + penalty
        # Rewards computed during optimizer step k are logged at step k+1 (TRL's global_step lags by 1).
        step = trainer_state.global_step
        call = self._calls_at_step[step] = self._calls_at_step.get(step, -1) + 1
        # A second reward call within one step (gradient accumulation) gets its own noise stream.
        config = self.config if call == 0 else replace(self.config, seed=self.config.seed + 104729 * call)
        if self.process_index:
            config = replace(config, seed=config.seed + PROCESS_SEED_STRIDE * self.process_index)
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
        all_correct, all_wrong = saturated_group_fracs(raw, self.last_correct, self.group_size)
        log_metric("redit/zero_std_group_frac/raw_all_correct", all_correct)
        log_metric("redit/zero_std_group_frac/raw_all_wrong", all_wrong)
        log_metric("redit/zero_std_group_frac/dithered", zero_std_group_frac(noisy, self.group_size))
        return noisy.tolist()


def make_trainer_class():
    """GRPOTrainer + group ids in every batch, DAPO's raw-accuracy group filter and REAL's loss
    (built on first use so that importing this module does not import TRL)."""
    from trl import GRPOTrainer

    class ReditGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, algorithm: str = "grpo", reward_fn: DitheredReward | None = None,
                     real_label_source: str = REAL_LABEL_SOURCES[0], refill_max_draws: int = REFILL_MAX_DRAWS,
                     fill_strength: float = FILL_STRENGTH, **kwargs):
            super().__init__(*args, **kwargs)
            self.redit_algorithm, self.redit_reward_fn, self.real_label_source = algorithm, reward_fn, real_label_source
            self.refill_max_draws, self.fill_strength = refill_max_draws, fill_strength
            import random

            self._refill_rng = random.Random(self.args.seed + REFILL_SEED_OFFSET)

        def _refill(self, out, inputs):
            """DAPO's dynamic sampling: draw further batches of prompts (as many as the step's own) until
            the samples hold as many informative groups as the step has prompts, at most refill_max_draws
            batches; train on the first informative groups (topped up with saturated ones at the cap)."""
            group = self.num_generations
            target = len(inputs) // group
            batches, correct = [out], [self.redit_reward_fn.last_correct.clone()]
            while (len(batches) < self.refill_max_draws
                   and select_informative_groups(torch.cat(correct), group, target)[1] < target):
                rows = [dict(self.train_dataset[self._refill_rng.randrange(len(self.train_dataset))]) for _ in range(target)]
                batches.append(super()._generate_and_score_completions([row for row in rows for _ in range(group)]))
                correct.append(self.redit_reward_fn.last_correct.clone())
            all_correct = torch.cat(correct)
            chosen, informative = select_informative_groups(all_correct, group, target)
            merged = pad_and_concat(batches, self.processing_class.pad_token_id)
            rows = torch.tensor([g * group + i for g in chosen for i in range(group)])
            selected = {k: v[rows.to(v.device)] if isinstance(v, torch.Tensor) and v.dim() >= 1 else v
                        for k, v in merged.items()}
            selected["num_items_in_batch"] = selected["completion_mask"].sum()
            self.redit_reward_fn.last_correct = all_correct[rows]
            self._metrics["train"]["remedy/draws"].append(float(len(batches)))
            self._metrics["train"]["remedy/informative_groups_found"].append(
                float(select_informative_groups(all_correct, group, len(all_correct) // group)[1]))
            generated = (sum(len(b["completion_mask"]) for b in batches),
                         sum(b["completion_mask"].sum().item() for b in batches))
            return selected, generated

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            training = self.model.training
            generated = (len(out["completion_mask"]), out["completion_mask"].sum().item())
            if training and self.redit_algorithm == "refill":
                out, generated = self._refill(out, inputs)
            if training:  # compute accounting: what this step generated, whatever it trains on
                self._metrics["train"]["compute/completions"].append(float(generated[0]))
                self._metrics["train"]["compute/completion_tokens"].append(float(generated[1]))
            mask = out["completion_mask"]
            # rows are contiguous groups of num_generations here; TRL shuffles later, keeping rows together
            out["group_ids"] = torch.arange(mask.shape[0], device=mask.device) // self.num_generations
            if self.redit_algorithm == "real":  # REAL's raw label source: correctness, never the dithered reward
                out["raw_rewards"] = self.redit_reward_fn.last_correct.to(mask.device)
            if self.redit_algorithm == "dapo":
                keep = informative_groups(self.redit_reward_fn.last_correct, self.num_generations).to(mask.device)
                out["completion_mask"] = mask * keep[:, None].to(mask.dtype)
                out["advantages"] = out["advantages"] * keep.to(out["advantages"].dtype)
                out["num_items_in_batch"] = out["completion_mask"].sum().clamp(min=1)  # DAPO's token normaliser
                self._metrics["train"]["dapo/kept_group_frac"].append(keep.float().mean().item())
            if self.redit_algorithm == "filter":
                out["advantages"], kept = filter_saturated(out["advantages"], self.redit_reward_fn.last_correct,
                                                           self.num_generations)
                self._metrics["train"]["remedy/kept_group_frac"].append(kept)
            if self.redit_algorithm == "directional_fill":
                out["advantages"] = directional_fill(out["advantages"], self.redit_reward_fn.last_correct,
                                                     self.num_generations, self.fill_strength)
            if training:  # the groups the update trains on: informative (raw rewards not all equal) or not
                trained = informative_groups(self.redit_reward_fn.last_correct, self.num_generations)
                self._metrics["train"]["remedy/trained_informative_frac"].append(trained.float().mean().item())
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
            labels, flips = real_labels(inputs["raw_rewards"], inputs["advantages"].reshape(-1), inputs["group_ids"],
                                        self.real_label_source)
            loss, used = real_loss(scores, labels, inputs["group_ids"], REAL_TAU)
            self._metrics["train"]["real/label_flip_rate"].append(flips)
            self._metrics["train"]["real/groups_used"].append(float(used))
            return loss

    return ReditGRPOTrainer


def task_prompt(task: str, row: dict, style: str = "verl"):
    """A row's prompt as TRL takes it: plain text for a task without chat prompts (tiny), else chat
    messages (TRL and the validation below render them with the model's chat template)."""
    record = tasks.get(task)
    text = record.prompt(row, style=style)
    return text if isinstance(text, list) or not record.chat else [{"role": "user", "content": text}]


def task_rows(redit_args, cfg: dict) -> tuple[list[dict], list[dict]]:
    """(train rows, validation rows) of the run's task, from ../shared/data offline or the hub."""
    task, tc = cfg["task"], cfg["task_config"]
    tiny_config = tiny_task.TinyTaskConfig(**tc) if task == "tiny" else None
    try:
        train = tasks.split_rows(task, "train", redit_args.data_dir, None, redit_args.test_as_train, tiny_config)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} (or pass --test-as-train for a smoke run)") from None
    val = tasks.split_rows(task, "test", redit_args.data_dir, None, False, tiny_config)
    train = train[:redit_args.train_problems] if redit_args.train_problems else train
    val = val[:redit_args.val_problems] if redit_args.val_problems and task != "tiny" else val
    if not train or not val:
        raise ValueError(f"task {task} has no {'train' if not train else 'validation'} rows; check --data-dir.")
    return train, val


def check_model_folder(folder: Path) -> None:
    """A model folder whose config or weights cannot be read is one ValueError, found before any run
    folder is touched (not a traceback after the run's metrics were reset)."""
    from safetensors import safe_open
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(folder)
    except Exception as err:
        raise ValueError(f"model folder {folder}: config.json cannot be read ({type(err).__name__}); "
                         "replace the folder (the tiny policy: delete it and it is rebuilt).") from None
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ValueError(f"model folder {folder} has no weights (*.safetensors or *.bin); copy the whole model folder "
                         "(the tiny policy: delete it and it is rebuilt).")
    for weights in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt") as f:
                for key in f.keys():
                    f.get_slice(key)  # reads every header entry; a truncated file fails here
        except Exception as err:
            raise ValueError(f"model weights {weights} cannot be read ({type(err).__name__}: damaged or truncated); "
                             "replace the folder (the tiny policy: delete it and it is rebuilt).") from None


def resolve_model(name_or_path: str | None, model_args, training_args, policy_size: str = "small") -> dict:
    """Where the policy comes from, checked before any long work: the tiny policy (built and cached
    if missing), a local folder, or a hub id (unreachable = one clear ValueError naming the fix)."""
    device = "cpu" if training_args.use_cpu else "cuda"
    dtype = "float32" if device == "cpu" else (model_args.dtype or "float32")
    if name_or_path is None:
        from .tiny_policy import ensure_tiny_policy, policy_spec

        path = ensure_tiny_policy(policy_spec(policy_size))
        check_model_folder(path)
        report = json.loads((path / "sft_report.json").read_text())
        report.pop("history", None)
        return {"path": str(path.resolve()), "name_or_path": None, "tiny_policy": report, "dtype": dtype, "device": device}
    if Path(name_or_path).is_dir():
        check_model_folder(Path(name_or_path))
        return {"path": str(Path(name_or_path).resolve()), "name_or_path": name_or_path, "tiny_policy": None,
                "dtype": dtype, "device": device}
    from huggingface_hub.utils import logging as hub_logging
    from transformers import AutoConfig

    hub_logging.set_verbosity_error()  # the failure below is reported as one line, not the hub's retry log
    try:
        AutoConfig.from_pretrained(name_or_path, revision=model_args.model_revision,
                                   trust_remote_code=training_args.trust_remote_code)
    except Exception as err:  # offline, unknown id, gated repo: all the same fix
        raise ValueError(f"cannot load --model {name_or_path} from the hub ({type(err).__name__}); pass a local model "
                         "folder, or run where huggingface.co is reachable (HF_HUB_OFFLINE unset) to download it.") from None
    return {"path": name_or_path, "name_or_path": name_or_path, "revision": model_args.model_revision,
            "tiny_policy": None, "dtype": dtype, "device": device}


def load_model(model_info: dict, model_args, training_args):
    """(model, tokenizer) in the run's dtype; left padding for generation, a pad token if missing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"revision": model_info.get("revision", "main"), "trust_remote_code": training_args.trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(model_info["path"], **kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = model_info["dtype"] if model_info["dtype"] == "auto" else getattr(torch, model_info["dtype"])
    model = AutoModelForCausalLM.from_pretrained(model_info["path"], dtype=dtype,
                                                 attn_implementation=model_args.attn_implementation, **kwargs)
    return model, tokenizer


@torch.no_grad()
def greedy_completions(model, tokenizer, prompts: list, max_new_tokens: int, batch_size: int = 64) -> list[str]:
    """Greedy completions of text or chat prompts, batched, on the model's device. Chat prompts are
    rendered with TRL's own `maybe_apply_chat_template`, as in training. Batches hold prompts of
    similar length (less padding, and a batch stops as soon as its own answers end). The tiny preset
    validates at batch 256: 1.0-1.3x faster than 64 on one CPU thread, same answers (benchmarks/tiny_throughput.py --validation)."""
    from trl.data_utils import maybe_apply_chat_template

    was_training = model.training
    model.eval()
    chat = not isinstance(prompts[0], str)
    texts = [maybe_apply_chat_template({"prompt": p}, tokenizer)["prompt"] for p in prompts] if chat else prompts
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
        batch = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True,
                        **({"add_special_tokens": False} if chat else {})).to(model.device)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                             top_k=None, pad_token_id=tokenizer.pad_token_id)
        for i, text in zip(batch, tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)):
            out[i] = text
    model.train(was_training)
    return out


class RunFolderCallback(TrainerCallback):
    """Writes one metrics.jsonl line per step in the shared schema, with validation every K steps
    (greedy, binary correctness, never dithered; on the main process only)."""

    def __init__(self, run: RunFolder, task: str, val_prompts: list, val_references: list, val_every: int,
                 max_new_tokens: int, log_timing: bool = True, progress=print, controller: SigmaController | None = None,
                 val_batch_size: int = 64):
        self.run, self.task, self.val_every = run, task, val_every
        self.val_prompts, self.val_references, self.val_batch_size = val_prompts, val_references, val_batch_size
        self.controller = controller
        self.max_new_tokens, self.log_timing, self.progress = max_new_tokens, log_timing, progress
        self._val, self._step_start, self._train_start, self._first_step = {}, None, None, 0
        self.metrics_sink = None  # the trainer's metric store: validation joins TRL's own log, so every tracker gets it

    def _validate(self, model, tokenizer) -> dict:
        completions = greedy_completions(model, tokenizer, self.val_prompts, self.max_new_tokens, self.val_batch_size)
        correct = sum(score(self.task, c, r) for c, r in zip(completions, self.val_references))
        return {val_key(self.task): correct / len(completions)}

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        self._train_start = time.time()
        self._first_step = state.global_step  # > 0 when resumed from a checkpoint (its metrics are kept)
        if not state.is_world_process_zero or state.global_step > 0:
            return
        val = self._validate(model, processing_class)
        self.run.log(0, val)
        self.progress(f"step {0:4d}/{state.max_steps}  val acc {val[val_key(self.task)]:.3f}")

    def on_step_begin(self, args, state, control, **kw):
        self._step_start = time.time()

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
        self._seconds = time.time() - self._step_start
        step = state.global_step
        if state.is_world_process_zero and (step % self.val_every == 0 or step == state.max_steps):
            self._val = self._validate(model, processing_class)
            if self.metrics_sink is not None:  # TRL logs (and sends to tensorboard / wandb) this step's metrics next
                for key, value in self._val.items():
                    self.metrics_sink[key].append(value)

    def on_log(self, args, state, control, logs=None, **kw):
        if "train_runtime" in logs or not state.is_world_process_zero:  # the end-of-training summary, not a step
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
            eta = elapsed / max(step - self._first_step, 1) * (total - step)
            val = f"  val acc {self._val[val_key(self.task)]:.3f}" if self._val else ""
            self.progress(f"step {step:4d}/{total}  reward {data['critic/score/mean']:.3f}  "
                          f"grad_norm {data['actor/grad_norm']:.3g}  {elapsed:.0f}s elapsed, ETA {eta:.0f}s{val}")
        self._val = {}


def train(run: RunFolder, cfg: dict, args, model_args, model_info: dict, train_rows: list[dict], val_rows: list[dict],
          val_batch_size: int = 64, progress=print, resume_from: str | None = None) -> dict:
    """Run GRPO (+ReDit if cfg['dither'] enables it) with TRL; write the run folder; return a summary.
    `args` is the run's GRPOConfig (redit.train builds it), `model_args` TRL's ModelConfig."""
    from datasets import Dataset
    from trl import get_peft_config

    os.environ.setdefault("WANDB_DIR", str(run.path))  # wandb's files in the run folder, not the working directory

    model, tokenizer = load_model(model_info, model_args, args)
    dither_cfg = DitherConfig(**cfg["dither"])
    controller = SigmaController(**cfg["adaptive_sigma"]) if cfg.get("adaptive_sigma") else None
    group = cfg["num_generations"]
    style = cfg["task_config"].get("prompt_style", "verl")
    references = [r["reference"] for r in train_rows]
    columns = {"prompt": [task_prompt(cfg["task"], r, style) for r in train_rows],
               "ground_truth": [tasks.get(cfg["task"]).encode_reference(g) for g in references]}
    if not all(isinstance(g, str) for g in references):  # code tests travel as JSON
        columns["ground_truth_json"] = [not isinstance(g, str) for g in references]
    dataset = Dataset.from_dict(columns)
    callback = RunFolderCallback(run, cfg["task"], [task_prompt(cfg["task"], r, style) for r in val_rows],
                                 [r["reference"] for r in val_rows], cfg["val_every"], cfg["max_new_tokens"],
                                 log_timing=cfg["log_timing"], progress=progress, controller=controller,
                                 val_batch_size=val_batch_size)
    overlong = None
    if cfg["algorithm"] == "dapo":
        overlong = (cfg["max_new_tokens"], max(1, round(DAPO_OVERLONG_FRACTION * cfg["max_new_tokens"])))
    reward_fn = DitheredReward(cfg["task"], dither_cfg, group, controller, overlong, reward=cfg["reward"])
    trainer = make_trainer_class()(model=model, reward_funcs=[reward_fn], args=args, train_dataset=dataset,
                                   processing_class=tokenizer, callbacks=[callback], peft_config=get_peft_config(model_args),
                                   algorithm=cfg["algorithm"], reward_fn=reward_fn,
                                   real_label_source=cfg.get("real_labels", REAL_LABEL_SOURCES[0]),
                                   refill_max_draws=cfg.get("refill_max_draws", REFILL_MAX_DRAWS),
                                   fill_strength=cfg.get("fill_strength", FILL_STRENGTH))
    reward_fn.process_index = trainer.accelerator.process_index
    callback.metrics_sink = trainer._metrics["train"]
    trainer.remove_callback(PrinterCallback)  # it prints every raw log dict; our callback shows progress
    if resume_from is not None and controller is not None:  # adaptive sigma: continue from the last logged value
        last = [json.loads(line)["data"] for line in run.metrics_path.read_text().splitlines() if line.strip()]
        sigmas = [d["redit/sigma"] for d in last if d.get("redit/sigma") is not None]
        controller.sigma = sigmas[-1] if sigmas else controller.sigma
    start = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    return {"train_seconds": round(time.time() - start, 1), "steps": trainer.state.global_step}
