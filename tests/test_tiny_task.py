"""The tiny synthetic task and its reward."""

import re

import pytest

from redit import rewards, tiny_task
from redit.tiny_task import TinyTaskConfig

SMALL = TinyTaskConfig(n_train=2000, n_test=100)


def check_solution(row):
    """Recompute every line of the solution from the question's numbers."""
    numbers = [int(n) for n in re.findall(r"\d+", row["question"])]
    lines = row["answer"].splitlines()
    value = numbers[0]
    for line, n in zip(lines[:-1], numbers[1:]):
        a, op, b, result = re.fullmatch(r"(\d+)([+-])(\d+)=(\d+)", line).groups()
        assert int(a) == value and int(b) == n
        value = value + n if op == "+" else value - n
        assert int(result) == value >= 0
    assert lines[-1] == f"#### {value}" and row["ground_truth"] == str(value)


def test_rows_are_gsm8k_shaped_and_correct():
    for row in tiny_task.generate(SMALL, "train")[:500] + tiny_task.generate(SMALL, "test"):
        assert row["question"].endswith("have now?")
        check_solution(row)
        assert rewards.score("tiny", row["answer"], row["ground_truth"]) == 1.0


def test_generation_is_deterministic_and_splits_are_disjoint():
    assert tiny_task.generate(SMALL, "test") == tiny_task.generate(SMALL, "test")
    train_q = {r["question"] for r in tiny_task.generate(SMALL, "train")}
    test_q = [r["question"] for r in tiny_task.generate(SMALL, "test")]
    assert len(test_q) == SMALL.n_test == len(set(test_q))
    assert not train_q & set(test_q)
    other = TinyTaskConfig(n_train=2000, n_test=100, seed=99)
    assert tiny_task.generate(other, "test") != tiny_task.generate(SMALL, "test")


def test_splits_are_built_once_but_every_caller_gets_its_own_rows():
    cfg = TinyTaskConfig(n_train=50, n_test=5, seed=7)
    train = tiny_task.generate(cfg, "train")
    train[0]["question"] = "edited by a caller"
    again = tiny_task.generate(cfg, "train")
    assert again[0]["question"] != "edited by a caller" and again is not train
    assert tiny_task.generate(cfg, "test") == tiny_task.generate(cfg, "test")
    assert tiny_task._train_split.cache_info().hits >= 2  # the test split reused the train split's questions


@pytest.mark.parametrize("max_number,min_ops,max_ops", [(5, 1, 1), (30, 3, 3)])
def test_difficulty_knobs(max_number, min_ops, max_ops):
    cfg = TinyTaskConfig(max_number=max_number, min_ops=min_ops, max_ops=max_ops, n_train=300, n_test=20)
    for row in tiny_task.generate(cfg, "train"):
        check_solution(row)
        operands = [int(n) for n in re.findall(r"\d+", row["question"])]
        assert max(operands) <= max_number and len(operands) == min_ops + 1


def test_bad_configs_fail_clearly():
    with pytest.raises(ValueError, match="min_ops <= max_ops"):
        TinyTaskConfig(min_ops=3, max_ops=2)
    with pytest.raises(ValueError, match="split"):
        tiny_task.generate(SMALL, "validation")
    with pytest.raises(ValueError, match="too few distinct"):
        tiny_task.generate(TinyTaskConfig(max_number=1, min_ops=1, max_ops=1, n_train=20000, n_test=50), "test")


@pytest.mark.parametrize("response,expected", [
    ("3+4=7\n#### 7", 1.0),
    ("#### 7.0", 1.0),
    ("#### 1,007", 0.0),
    ("3+4=8\n#### 8", 0.0),
    ("#### 6\n#### 7", 1.0),  # the last #### counts
    ("the answer is 7", 0.0),  # no ####: no credit
    ("", 0.0),
])
def test_tiny_reward_is_exact_match_on_the_number_after_hashes(response, expected):
    assert rewards.score("tiny", response, "7") == expected


def test_unknown_task_reward_names_the_known_ones():
    with pytest.raises(ValueError, match="tiny"):
        rewards.score("gsm9k", "#### 1", "1")


def test_legacy_knob_names_of_older_runs_read_as_the_current_ones():
    """config.json of runs written before the rename holds min_steps/max_steps (operation counts, not training steps)."""
    legacy = {"max_number": 15, "min_steps": 1, "max_steps": 2, "n_test": 1000}
    assert tiny_task.with_current_names(legacy) == {"max_number": 15, "min_ops": 1, "max_ops": 2, "n_test": 1000}
    assert TinyTaskConfig(**tiny_task.with_current_names(legacy)).max_ops == 2
    assert tiny_task.with_current_names(TinyTaskConfig().to_dict()) == TinyTaskConfig().to_dict()  # current names pass through
