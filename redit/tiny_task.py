"""The tiny synthetic task: GSM8K-shaped arithmetic word problems generated from a seed.

Rows look like GSM8K rows to every piece of reward code: `question`, and an `answer` whose last line
is `#### <number>`; `ground_truth` holds that number as a string.

    >>> rows = generate(TinyTaskConfig(), "test")
    >>> rows[0]["answer"].splitlines()[-1].startswith("####")
    True

Difficulty knobs: `max_number` (operands are drawn from 1..max_number) and `min_ops`/`max_ops`
(the number of +/- operations per problem; intermediate results never go below 0). Runs written before
the rename call them min_steps/max_steps (`LEGACY_NAMES`; `with_current_names` reads either).
Train and test are disjoint: they are drawn from different seeds and any test question that also
appears in train is dropped from the test split.
"""

from __future__ import annotations

import functools
import random
from dataclasses import asdict, dataclass

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ivy", "Jon", "Kim", "Leo")
ITEMS = ("apples", "books", "coins", "cards", "pens", "shells", "stamps", "eggs", "cups", "rocks")
ADD_PHRASES = ("buys {n} more", "finds {n} more", "gets {n} more", "is given {n} more")
SUB_PHRASES = ("gives away {n}", "loses {n}", "sells {n}", "uses {n}")
PROMPT_TEMPLATE = "Q: {question}\nA: "


@dataclass(frozen=True)
class TinyTaskConfig:
    max_number: int = 9
    min_ops: int = 1
    max_ops: int = 2
    n_train: int = 20000
    n_test: int = 200
    seed: int = 1234

    def __post_init__(self):
        if self.max_number < 1:
            raise ValueError(f"tiny task max_number must be >= 1; got {self.max_number}.")
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"tiny task needs 1 <= min_ops <= max_ops (--min-ops, --max-ops); got {self.min_ops}, {self.max_ops}.")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError("tiny task n_train and n_test must be >= 1.")

    def to_dict(self) -> dict:
        return asdict(self)


# The operation-count knobs were called min_steps/max_steps until they were renamed (they count +/-
# operations, not training steps); config.json of older runs and the tiny policy's cache key use these.
LEGACY_NAMES = {"min_ops": "min_steps", "max_ops": "max_steps"}


def with_current_names(task_config: dict) -> dict:
    """A task_config dict with legacy knob names (min_steps/max_steps) renamed to min_ops/max_ops."""
    legacy = {old: new for new, old in LEGACY_NAMES.items()}
    return {legacy.get(k, k): v for k, v in task_config.items()}


def make_problem(rng: random.Random, cfg: TinyTaskConfig) -> dict:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(1, cfg.max_number)
    sentences = [f"{name} has {value} {item}."]
    lines = []
    for i in range(rng.randint(cfg.min_ops, cfg.max_ops)):
        n = rng.randint(1, cfg.max_number)
        if value - n >= 0 and rng.random() < 0.5:
            phrase, new_value, op = rng.choice(SUB_PHRASES), value - n, "-"
        else:
            phrase, new_value, op = rng.choice(ADD_PHRASES), value + n, "+"
        sentences.append(("Then " if i else "") + f"{name} {phrase.format(n=n)}.")
        lines.append(f"{value}{op}{n}={new_value}")
        value = new_value
    sentences.append(f"How many {item} does {name} have now?")
    question = " ".join(sentences)
    answer = "\n".join(lines + [f"#### {value}"])
    return {"question": question, "answer": answer, "ground_truth": str(value)}


def generate(cfg: TinyTaskConfig, split: str) -> list[dict]:
    """Rows of one split ('train' or 'test'), deterministic in cfg (fresh dicts: callers may edit them)."""
    if split not in ("train", "test"):
        raise ValueError(f"tiny task split must be 'train' or 'test'; got {split!r}.")
    return [dict(row) for row in (_train_split(cfg) if split == "train" else _test_split(cfg))]


@functools.lru_cache(maxsize=8)  # a run reads train, then test (which needs train's questions): built once
def _train_split(cfg: TinyTaskConfig) -> tuple[dict, ...]:
    train_rng = random.Random(f"{cfg.seed}-train")
    return tuple(make_problem(train_rng, cfg) for _ in range(cfg.n_train))


@functools.lru_cache(maxsize=8)
def _test_split(cfg: TinyTaskConfig) -> tuple[dict, ...]:
    seen = {row["question"] for row in _train_split(cfg)}
    test_rng, test = random.Random(f"{cfg.seed}-test"), []
    for _ in range(100 * cfg.n_test):  # bounded: tiny configs may have few distinct questions
        row = make_problem(test_rng, cfg)
        if row["question"] not in seen:
            seen.add(row["question"])
            test.append(row)
            if len(test) == cfg.n_test:
                return tuple(test)
    raise ValueError(f"tiny task config {cfg} has too few distinct problems for a disjoint test split; raise max_number or max_ops.")


def prompt(question: str) -> str:
    return PROMPT_TEMPLATE.format(question=question)
