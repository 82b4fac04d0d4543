"""Reward functions: hand-written cases, and every gold solution of the real offline benchmarks."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from redit import rewards, tasks

HAVE_DATA = (tasks.data_dir() / "gsm8k" / "test.jsonl").is_file()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"offline benchmark copies not found at {tasks.data_dir()} (set REDIT_DATA_DIR)")


@pytest.mark.parametrize("response,expected", [
    ("She pays 18 dollars.\n#### 18", 1.0),
    ("The answer is 18.00", 1.0),
    ("So the total is $18.", 1.0),
    ("<reasoning>\n9+9\n</reasoning>\n<answer>\n18\n</answer>\n", 1.0),
    ("\\boxed{18}", 1.0),
    ("#### 19", 0.0),
    ("18 apples, so 19 in total", 0.0),  # the last number is the answer
    ("no number at all", 0.0),
])
def test_gsm8k_correctness(response, expected):
    assert rewards.score("gsm8k", response, "18") == expected


def test_gsm8k_thousands_separator_both_ways():
    assert rewards.score("gsm8k", "#### 1,000", "1000") == 1.0
    assert rewards.score("gsm8k", "#### 1000", "1,000") == 1.0
    assert rewards.score("gsm8k", "#### 1,001", "1000") == 0.0


def test_gsm8k_paper_reward_parts_add_up_to_five():
    perfect = "<reasoning>\n9+9=18\n</reasoning>\n<answer>\n18\n</answer>\n"
    assert rewards.gsm8k_paper_reward(perfect, "18") == pytest.approx(5.0)
    wrong = perfect.replace("18\n</answer>", "19\n</answer>")
    assert rewards.gsm8k_paper_reward(wrong, "18") == pytest.approx(3.0)  # only correctness (2.0) lost
    trailing = perfect + "extra"
    assert rewards.gsm8k_paper_reward(trailing, "18") == pytest.approx(2.0 + 0.5 + 0 + 1.0 + 0.5 - 0.005 - 0.005)
    assert rewards.gsm8k_paper_reward("18", "18") == 0.0  # no tags: nothing parses as the answer


@pytest.mark.parametrize("response,gold,expected", [
    ("so \\boxed{\\frac{1}{2}}", "0.5", 1.0),
    ("\\boxed{\\dfrac{14}{3}}", "\\frac{14}{3}", 1.0),
    ("\\boxed{x = 3}", "3", 1.0),
    ("\\boxed{2\\sqrt{3}}", "\\sqrt{12}", 1.0),
    ("first \\boxed{5} then \\boxed{4}", "4", 1.0),  # the last box counts
    ("\\boxed{5}", "4", 0.0),
    ("the answer is 4", "4", 0.0),  # no box
])
def test_math_correctness(response, gold, expected):
    assert rewards.score("math", response, gold) == expected


def test_math_paper_reward():
    steps = "Step 1: add.\nStep 2: simplify.\nStep 3: box.\n\\boxed{4}"
    assert rewards.math_paper_reward(steps, "4") == pytest.approx(3.0)
    assert rewards.math_paper_reward("\\boxed{4}", "4") == pytest.approx(2.0)
    assert rewards.math_paper_reward(steps.replace("{4}", "{5}"), "4") == pytest.approx(1.0)


@pytest.mark.parametrize("response,expected", [
    ("\\boxed{B}", 1.0), ("The answer is (B).", 1.0), ("\\boxed{4.0}", 1.0), ("\\boxed{4.02}", 1.0),
    ("\\boxed{A}", 0.0), ("\\boxed{5}", 0.0),
])
def test_geo3k_letter_or_value(response, expected):
    reference = {"answer": "B", "choices": ["3", "4", "5", "6"], "precise_value": 4.0}
    assert rewards.score("geo3k", response, reference) == expected


def test_code_extraction_prefers_a_fenced_function():
    text = "Here:\n```\nprint(1)\n```\n```python\ndef f():\n    return 1\n```"
    assert rewards.extract_code(text).startswith("def f()")
    assert rewards.extract_code("def g(): pass") == "def g(): pass"


def gold_rate(task, respond=lambda row: row["solution"], workers=1):
    rows = tasks.load_rows(task, "test")
    with ThreadPoolExecutor(workers) as pool:
        scores = list(pool.map(lambda r: rewards.score(task, respond(r), r["reference"]), rows))
    return rows, scores


@needs_data
def test_every_gsm8k_gold_solution_scores_one_and_gold_plus_one_scores_zero():
    rows, scores = gold_rate("gsm8k")
    assert len(rows) == 1319 and all(s == 1.0 for s in scores)
    _, wrong = gold_rate("gsm8k", lambda r: f"#### {float(r['reference']) + 1:g}")
    assert not any(wrong)


@needs_data
def test_math500_gold_solutions_score_one():
    rows, scores = gold_rate("math")
    assert len(rows) == 500
    assert sum(scores) / len(rows) >= 0.99, [r["index"] for r, s in zip(rows, scores) if s != 1.0]
    _, wrong = gold_rate("math", lambda r: f"\\boxed{{{r['reference']}+1}}")
    assert sum(wrong) == 0


@needs_data
def test_mbpp_reference_code_passes_its_own_tests():
    rows, scores = gold_rate("mbpp", workers=2)
    assert len(rows) == 974
    misses = [r["index"] for r, s in zip(rows, scores) if s != 1.0]
    assert len(misses) / len(rows) <= 0.01, misses


@needs_data
def test_humaneval_canonical_solutions_pass_and_stubs_fail():
    rows, scores = gold_rate("humaneval", workers=2)
    assert len(rows) == 164 and sum(scores) / len(rows) >= 0.99
    _, stubs = gold_rate("humaneval", lambda r: "    return None\n", workers=2)
    assert sum(stubs) == 0


@needs_data
def test_geo3k_examples_load_with_images_and_score():
    rows = tasks.load_rows("geo3k", "test")
    assert len(rows) == 10 and all(r["images"][0].endswith(".png") for r in rows)
    for r in rows:
        assert rewards.score("geo3k", f"\\boxed{{{r['reference']['answer']}}}", r["reference"]) == 1.0


def test_backend_adapters_use_the_same_rewards():
    import json

    trl_fn = tasks.trl_reward_function("mbpp")
    ref = json.dumps({"test_list": ["assert inc(1) == 2"]})
    assert trl_fn(["def inc(x):\n    return x + 1", "def inc(x):\n    return x"], [ref, ref]) == [1.0, 0.0]
    assert tasks.verl_compute_score("openai/gsm8k", "#### 7", "7") == {"score": 1.0, "acc": 1.0}
    assert tasks.verl_compute_score("mbpp", "def inc(x):\n    return x + 1", ref)["score"] == 1.0
    with pytest.raises(ValueError, match="data_source"):
        tasks.verl_compute_score("unknown/source", "", "")


def test_loader_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="REDIT_DATA_DIR"):
        tasks.load_rows("gsm8k", "test", data_dir_path=tmp_path)
    with pytest.raises(FileNotFoundError, match="REDIT_OFFLINE=0"):
        tasks.load_rows("math", "train")
    with pytest.raises(ValueError, match="known"):
        tasks.load_rows("gsm9k")


def test_a_math_answer_that_looks_like_json_stays_an_answer():
    from redit.tasks import decode_reference, verl_compute_score

    assert decode_reference("math", "[-2,7]") == "[-2,7]"
    assert decode_reference("mbpp", '{"test_list": []}') == {"test_list": []}
    assert verl_compute_score("HuggingFaceH4/MATH-500", "so the answer is \\boxed{[-2,7]}", "[-2,7]")["score"] == 1.0
