"""The tiny policy: a byte-level BPE tokenizer with merges learned on the task text and a small Qwen2 model, built locally (no hub),
SFT-warmed on the tiny task until its *sampled* accuracy reaches a target, and cached on disk.

    python -m redit.tiny_policy            # build (or reuse) the default policy, print its report

The cache key is a hash of every knob (task, model, SFT); a finished policy folder holds
`config.json`, `model.safetensors`, the tokenizer files and `sft_report.json` (with the machine and
thread count it was built on). The warm-up is NOT bit-reproducible across machines or thread counts:
the same key gave greedy accuracy 0.485 (the committed regime runs' machine, 1 thread), 0.545 and 0.64
(another machine, 1 and 2 threads). Runs compared with each other must share one built policy; the
run folder records its report (config.json `model.tiny_policy`). It is written to a
temporary folder and renamed at the end, so an interrupted warm-up never leaves a half policy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import REPO_ROOT, tiny_task
from .rewards import score

SPECIAL_TOKENS = {"pad": "<pad>", "eos": "<eos>", "unk": "<unk>"}
BYTE_VOCAB = 256  # byte-level alphabet size
NO_MERGES_TOKENIZER = "byte-level-no-merges+concat-chat-template"  # one token per byte (the policy before issue 13)
BPE_TOKENIZER = "byte-level-bpe-384+concat-chat-template"  # merges learned on the task text; 391 saturates it
FIT_MARGIN_TOKENS = 4  # fitted_max_new_tokens: room beyond the longest gold answer
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"


@dataclass(frozen=True)
class TinyModelConfig:
    """Qwen2 shape of the tiny policy: 0.11 M parameters. Width 64 (from 128 before issue 13) makes a GRPO
    step 1.7-1.9x faster at equal tokens (benchmarks/tiny_throughput.py, bpe+fit vs bpe+fit+d64) and still
    warms up into the 15-60 % sampled-accuracy band, in 350 SFT steps. The depth (2 layers) is unchanged."""
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 256


WIDE_MODEL = TinyModelConfig(hidden_size=128, intermediate_size=256)  # 0.38 M parameters: the shape before issue 13
LARGE_MODEL = TinyModelConfig(hidden_size=192, num_hidden_layers=3, intermediate_size=384)  # 1.2 M parameters
# The model-size axis (results/tiny/convergence.md): one SFT recipe, three shapes spanning 11x in
# parameters; `redit.train --policy-size NAME` picks one (a registry variant option).
POLICY_SIZES = {"small": TinyModelConfig(), "wide": WIDE_MODEL, "large": LARGE_MODEL}


@dataclass(frozen=True)
class SFTConfig:
    lr: float = 2e-3
    batch_size: int = 64
    max_steps: int = 3000
    eval_every: int = 50
    eval_problems: int = 200
    target_sampled_acc: float = 0.30  # stop at the first eval at or above this (mixed GRPO groups)
    seed: int = 0


@dataclass(frozen=True)
class TinyPolicySpec:
    tokenizer: str = BPE_TOKENIZER  # NO_MERGES_TOKENIZER with model=WIDE_MODEL rebuilds the pre-issue-13 policy
    task: tiny_task.TinyTaskConfig = field(default_factory=tiny_task.TinyTaskConfig)
    model: TinyModelConfig = field(default_factory=TinyModelConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)

    def key(self) -> str:
        fields = asdict(self)
        # the key hashes the task knobs under their names before the min_ops/max_ops rename, so the cached
        # policy keeps its key (its SFT warm-up is not bit-reproducible across machines: a new key would
        # silently train a different policy)
        fields["task"] = {tiny_task.LEGACY_NAMES.get(k, k): v for k, v in fields["task"].items()}
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def default_cache_dir() -> Path:
    return Path(os.environ.get("REDIT_CHECKPOINTS", REPO_ROOT / "checkpoints"))


def _tokenizer_vocab_size(name: str) -> int | None:
    """Whole vocabulary size V (bytes + merges + specials) of "byte-level-bpe-<V>+..."; None for no merges."""
    if name == NO_MERGES_TOKENIZER:
        return None
    match = re.fullmatch(r"byte-level-bpe-(\d+)\+concat-chat-template", name)
    if not match or int(match[1]) <= BYTE_VOCAB + len(SPECIAL_TOKENS):
        raise ValueError(f"unknown tiny tokenizer {name!r}; use {NO_MERGES_TOKENIZER!r} or "
                         f"'byte-level-bpe-<V>+concat-chat-template' with V > {BYTE_VOCAB + len(SPECIAL_TOKENS)}.")
    return int(match[1])


def _task_corpus(task: tiny_task.TinyTaskConfig) -> list[str]:
    """The text the policy reads and writes: train-split prompts and gold answers (never test rows)."""
    rows = tiny_task.generate(task, "train")
    return [tiny_task.prompt(r["question"]) for r in rows] + [r["answer"] for r in rows]


def build_tokenizer(name: str = NO_MERGES_TOKENIZER, task: tiny_task.TinyTaskConfig | None = None):
    """Byte-level BPE tokenizer built with `tokenizers`: no merges (one token per byte) or merges learned
    on the task's train text up to a vocabulary size (`name`, see TinyPolicySpec.tokenizer).

    Byte-level BPE is Qwen2's own tokenizer family and covers any UTF-8 text. `AutoTokenizer` (as TRL and
    verl load a qwen2 folder) always rebuilds a `Qwen2Tokenizer` from the saved vocabulary and merges,
    with Qwen2's NFC normaliser and pre-tokenising regex; merges are therefore learned under that very
    pipeline (they never cross a digit, so "17" stays "1","7") and the reload gives identical ids.
    Learned merges make prompts ~3x shorter; generation, forward and backward all scale with length.
    Training is deterministic: the same name and task give the same merges, hence the same files.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    vocab_size = _tokenizer_vocab_size(name)
    specials = list(SPECIAL_TOKENS.values())
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    if vocab_size is None:
        core = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(specials + alphabet)}, merges=[],
                                    unk_token=SPECIAL_TOKENS["unk"]))
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        core.decoder = decoders.ByteLevel()
        tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=SPECIAL_TOKENS["pad"],
                                      eos_token=SPECIAL_TOKENS["eos"], unk_token=SPECIAL_TOKENS["unk"])
    else:
        from transformers import Qwen2Tokenizer

        pipeline = Qwen2Tokenizer()._tokenizer  # Qwen2's normaliser, pre-tokeniser and decoder, empty vocabulary
        core = Tokenizer(models.BPE())
        core.normalizer, core.pre_tokenizer = pipeline.normalizer, pipeline.pre_tokenizer
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet,
                                      min_frequency=2, show_progress=False)
        core.train_from_iterator(_task_corpus(task or tiny_task.TinyTaskConfig()), trainer=trainer)
        learned = json.loads(core.to_str())["model"]
        tok = Qwen2Tokenizer(vocab=learned["vocab"], merges=[tuple(m) for m in learned["merges"]],
                             unk_token=SPECIAL_TOKENS["unk"], pad_token=SPECIAL_TOKENS["pad"], eos_token=SPECIAL_TOKENS["eos"])
    tok.padding_side = "left"  # generation pads on the left
    # verl renders every prompt through the chat template; the tiny policy's "chat" is the bare text.
    tok.chat_template = CHAT_TEMPLATE
    return tok


def fitted_max_new_tokens(spec: "TinyPolicySpec | None" = None, cache_dir: Path | None = None) -> int:
    """Generation budget for the tiny task: the longest gold answer (train and test) in tokens, plus its
    eos, plus FIT_MARGIN_TOKENS. A longer budget only lets wrong samples ramble: a sampled batch runs until
    its longest sequence stops, so the budget bounds each GRPO step's generation time. Read from the
    cached policy's sft_report.json when it is there (training the tokenizer again takes seconds)."""
    spec = spec or TinyPolicySpec()
    report = policy_dir(spec, cache_dir) / "sft_report.json"
    if report.is_file() and "fitted_max_new_tokens" in (stored := json.loads(report.read_text())):
        return stored["fitted_max_new_tokens"]
    return _fit_max_new_tokens(build_tokenizer(spec.tokenizer, spec.task), spec.task)


def _fit_max_new_tokens(tokenizer, task: tiny_task.TinyTaskConfig) -> int:
    answers = [r["answer"] for split in ("train", "test") for r in tiny_task.generate(task, split)]
    return max(map(len, tokenizer(answers)["input_ids"])) + 1 + FIT_MARGIN_TOKENS


def build_model(tokenizer, cfg: TinyModelConfig, seed: int):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_attention_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(config)
    _set_generation_ids(model, tokenizer)
    return model


def _set_generation_ids(model, tokenizer):
    for cfg in (model.config, model.generation_config):
        cfg.pad_token_id = tokenizer.pad_token_id
        cfg.eos_token_id = tokenizer.eos_token_id
        cfg.bos_token_id = tokenizer.eos_token_id


def load_policy(path: str | Path):
    """Load a saved policy (tiny or any local causal LM folder) with one clear error when missing."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no model at {path} (config.json missing); build the tiny policy with "
                                "`python -m redit.tiny_policy` or pass an existing model folder.")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int = 40, greedy: bool = True,
             temperature: float = 1.0, batch_size: int = 256) -> list[str]:
    """Completions (decoded, special tokens removed) for `prompts`, batched with left padding."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True).to(model.device)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=not greedy,
                             temperature=temperature if not greedy else None, top_k=0 if not greedy else None,
                             top_p=1.0 if not greedy else None, pad_token_id=tokenizer.pad_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    model.train(was_training)
    return out


def accuracy(model, tokenizer, rows: list[dict], greedy: bool, task: str = "tiny", max_new_tokens: int = 40) -> float:
    """Accuracy of sampled (or greedy) completions on tiny-task rows, scored with the raw reward."""
    completions = generate(model, tokenizer, [tiny_task.prompt(r["question"]) for r in rows],
                           max_new_tokens=max_new_tokens, greedy=greedy)
    return sum(score(task, c, r["ground_truth"]) for c, r in zip(completions, rows)) / len(rows)


def _sft_batch(tokenizer, rows: list[dict]):
    """Right-padded prompt+answer+eos with labels on answer tokens only (-100 elsewhere)."""
    seqs, labels = [], []
    for r in rows:
        p = tokenizer(tiny_task.prompt(r["question"]))["input_ids"]
        a = tokenizer(r["answer"])["input_ids"] + [tokenizer.eos_token_id]
        seqs.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, seqs))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    label_ids = torch.tensor([l + [-100] * (width - len(l)) for l in labels])
    return input_ids, (input_ids != pad).long(), label_ids


def sft_warmup(spec: TinyPolicySpec, out_dir: Path, log=print) -> dict:
    """Train from scratch until sampled accuracy >= target (or max_steps); save to out_dir."""
    import random

    cfg = spec.sft
    tokenizer = build_tokenizer(spec.tokenizer, spec.task)
    model = build_model(tokenizer, spec.model, seed=cfg.seed)
    train = tiny_task.generate(spec.task, "train")
    test = tiny_task.generate(spec.task, "test")[: cfg.eval_problems]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(cfg.seed)
    start, history, sampled = time.time(), [], 0.0
    model.train()
    for step in range(1, cfg.max_steps + 1):
        lr_scale = min(1.0, step / 100)  # 100-step warm-up, then constant
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_scale
        input_ids, mask, labels = _sft_batch(tokenizer, rng.sample(train, cfg.batch_size))
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % cfg.eval_every == 0:
            torch.manual_seed(cfg.seed + step)  # sampled eval is reproducible
            sampled = accuracy(model, tokenizer, test, greedy=False)
            history.append({"step": step, "loss": round(loss.item(), 4), "sampled_acc": sampled,
                            "seconds": round(time.time() - start, 1)})
            log(f"[sft] step {step:5d}  loss {loss.item():.3f}  sampled acc {sampled:.3f} (stops at {cfg.target_sampled_acc:.2f}; "
                f"the default policy needed 200-350 steps, at most {cfg.max_steps})  {time.time() - start:.0f}s "
                f"({(time.time() - start) / step * 50:.0f}s per 50 steps)")
            if sampled >= cfg.target_sampled_acc:
                break
    greedy_acc = accuracy(model, tokenizer, test, greedy=True)
    report = {
        "spec": asdict(spec), "key": spec.key(), "steps": step, "seconds": round(time.time() - start, 1),
        "sampled_acc": sampled, "greedy_acc": greedy_acc, "eval_problems": len(test),
        "n_params": sum(p.numel() for p in model.parameters()), "torch_threads": torch.get_num_threads(),
        "machine": _machine(), "torch": torch.__version__,
        "fitted_max_new_tokens": _fit_max_new_tokens(tokenizer, spec.task),
        "history": history,
    }
    if sampled < cfg.target_sampled_acc:
        log(f"[sft] warning: sampled accuracy {sampled:.3f} is below the target {cfg.target_sampled_acc} after {step} steps")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "sft_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _machine() -> str:
    """The CPU model (floating-point results of the warm-up depend on it)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def policy_spec(size: str = "small") -> TinyPolicySpec:
    """The tiny policy of a named size (POLICY_SIZES): same tokenizer, task and SFT recipe."""
    if size not in POLICY_SIZES:
        raise ValueError(f"unknown policy size {size!r}; choose from {', '.join(POLICY_SIZES)}.")
    return TinyPolicySpec(model=POLICY_SIZES[size])


def policy_dir(spec: TinyPolicySpec | None = None, cache_dir: Path | None = None) -> Path:
    """Where the tiny policy for `spec` is (or will be) cached."""
    return Path(cache_dir or default_cache_dir()) / f"tiny-policy-{(spec or TinyPolicySpec()).key()}"


def ensure_tiny_policy(spec: TinyPolicySpec | None = None, cache_dir: Path | None = None, log=print) -> Path:
    """Path of the cached tiny policy for `spec`, warming it up first if it is not cached yet."""
    spec = spec or TinyPolicySpec()
    final = policy_dir(spec, cache_dir)
    if (final / "sft_report.json").is_file():
        return final
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"[sft] warming up the tiny policy into {final} (once; cached for later runs): 25 s on 2 cores for the default "
        "0.11 M shape, minutes for the larger ones")
    sft_warmup(spec, tmp, log=log)
    if final.exists():  # another process finished first; keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(final)
    return final


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None, help="where policies are cached (default: $REDIT_CHECKPOINTS or ./checkpoints)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--path-only", action="store_true", help="print where the policy is (or will be) cached; build nothing")
    parser.add_argument("--size", default="small", choices=list(POLICY_SIZES),
                        help="model shape (POLICY_SIZES; small = the default 0.11 M policy)")
    args = parser.parse_args(argv)
    spec = policy_spec(args.size)
    if args.path_only:
        print(policy_dir(spec, cache_dir=args.cache_dir))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    path = ensure_tiny_policy(spec, cache_dir=args.cache_dir)
    report = json.loads((path / "sft_report.json").read_text())
    print(json.dumps({k: report[k] for k in ("key", "steps", "seconds", "sampled_acc", "greedy_acc", "n_params")}))
    print(path)


if __name__ == "__main__":
    main()
