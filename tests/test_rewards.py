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
    trailing = perfect + "extra"  # both formats still hold (</answer> ends a line); 5 characters after it cost 0.005
    assert rewards.gsm8k_paper_reward(trailing, "18") == pytest.approx(2.0 + 0.5 + 1.0 + 1.0 + 0.5 - 0.005)
    assert rewards.gsm8k_paper_reward("Nine and nine.", "18") == 0.0


# The released reward functions (kithib/ReDit grpo_gsm8k.py / grpo_math.py, read in the copy
# HongbinLin3589/DGOforMoE ReDit/ at commit 06c80e0; see redit/rewards.py), one hand-written case per rule.
PERFECT = "<reasoning>\n9+9=18\n</reasoning>\n<answer>\n18\n</answer>\n"


@pytest.mark.parametrize("completion,expected", [
    (PERFECT, 1.0),
    ("  \n" + PERFECT + "\n\n", 1.0),                                      # the completion is stripped first
    ("Sure.\n" + PERFECT, 0.0),                                             # re.match: anchored at the start
    (PERFECT.replace("\n18\n</answer>", "\n18</answer>"), 1.0),               # no newline needed before </answer>
    (PERFECT.rstrip("\n"), 1.0),                                            # nor after it
    (PERFECT + "Hope that helps.", 1.0),                                    # MULTILINE: </answer> ends a line
    (PERFECT.rstrip("\n") + " Hope that helps.", 0.0),                       # ... but not this one
    ("<reasoning>\nstep one\nstep two\n</reasoning>\n<answer>\n18\n</answer>", 1.0),  # DOTALL: many lines
    ("<reasoning>9+9=18</reasoning>\n<answer>\n18\n</answer>", 0.0),        # the tags' own newlines are required
])
def test_strict_format_follows_the_released_rule(completion, expected):
    assert rewards.gsm8k_paper_reward_parts(completion, "18")["strict_format"] == expected


@pytest.mark.parametrize("completion,expected", [
    ("<reasoning>9+9</reasoning><answer>18</answer>", 1.0),
    ("<reasoning>\n9+9\n</reasoning>\n\n<answer>\n18\n</answer>\n", 1.0),   # DOTALL: across lines
    ("<reasoning>9+9</reasoning> so the answer: <answer>18</answer>", 1.0),  # anything between the two blocks
    ("Let me think. <reasoning>9+9</reasoning><answer>18</answer>", 0.0),   # re.match: nothing before <reasoning>
    ("<reasoning>9+9</reasoning><answer>18</answer> done", 0.0),            # </answer> must end a line
    ("<reasoning>9+9</reasoning><answer>18</answer>\ndone", 1.0),
    ("<answer>18</answer>", 0.0),
])
def test_soft_format_follows_the_released_rule(completion, expected):
    assert rewards.gsm8k_paper_reward_parts(completion, "18")["soft_format"] == expected


@pytest.mark.parametrize("completion,expected", [
    (PERFECT, 0.5),
    (PERFECT + "abc", 0.5 - 0.003),                  # 0.001 per character after the "\n</answer>" line's newline
    (PERFECT.rstrip("\n"), 0.5 + 0.001),              # no trailing newline: the released rule's -1 gives +0.001
    (PERFECT.replace("\n</answer>\n", "\n</answer>\nxy\n"), 0.5 - 0.003),  # one penalty only (the demo's second is off)
    (PERFECT.replace("<reasoning>\n", "<reasoning>"), 0.375),
    ("18", 0.0),
])
def test_xml_count_follows_the_released_rule(completion, expected):
    assert rewards.xml_count(completion) == pytest.approx(expected)


@pytest.mark.parametrize("completion,correct,integer", [
    (PERFECT, 2.0, 0.5),
    ("18", 2.0, 0.5),                                # no tags: the released extraction takes the whole text
    ("<answer>\n18.0\n</answer>", 2.0, 0.0),          # departure: numbers compare (the script: strings)
    ("<answer>one</answer><answer>18</answer>", 2.0, 0.5),  # the last <answer> counts
    ("<answer>\n19\n</answer>", 0.0, 0.5),
    ("<answer>\n-18\n</answer>", 0.0, 0.5),           # departure: a minus sign is still an integer
])
def test_correctness_and_integer_parts_read_the_released_answer(completion, correct, integer):
    parts = rewards.gsm8k_paper_reward_parts(completion, "18")
    assert (parts["correctness"], parts["integer"]) == (correct, integer)


@pytest.mark.parametrize("completion,steps", [
    ("Step 1: add.\nStep 2: halve.\nStep 3: box.", 1.0),
    ("First, add. Next, halve.", 2 / 3),
    ("1. add\n2. halve\n3. box", 1 / 3),              # no MULTILINE: only the first numbered line counts
    ("  1. add", 1 / 3),                               # the completion is stripped first
    ("\n- add", 0.0),                                 # ... so a leading bullet is not one
    ("text\n- add\n* halve", 2 / 3),
])
def test_math_reasoning_steps_follow_the_released_rule(completion, steps):
    assert rewards.math_paper_reward_parts(completion, "4")["reasoning_steps"] == pytest.approx(steps)


def test_paper_reward_part_names_and_counts_match_the_parts():
    for paper in rewards.PAPER_REWARDS.values():
        assert tuple(paper.parts(PERFECT, "18")) == paper.part_names and paper.n_parts == len(paper.part_names)
    assert {name: paper.n_parts for name, paper in rewards.PAPER_REWARDS.items()} == {"gsm8k": 5, "math": 2}


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


@pytest.mark.slow
@needs_data
def test_mbpp_reference_code_passes_its_own_tests():
    rows, scores = gold_rate("mbpp", workers=2)
    assert len(rows) == 974
    misses = [r["index"] for r, s in zip(rows, scores) if s != 1.0]
    assert len(misses) / len(rows) <= 0.01, misses


@pytest.mark.slow
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


def test_backends_read_the_same_task_record():
    import json

    from patches.verl_reward import compute_score

    ref = json.dumps({"test_list": ["assert inc(1) == 2"]})
    assert tasks.TASKS["mbpp"].decode_reference(ref) == {"test_list": ["assert inc(1) == 2"]}
    assert compute_score("openai/gsm8k", "#### 7", "7") == {"score": 1.0, "acc": 1.0}
    assert compute_score("mbpp", "def inc(x):\n    return x + 1", ref)["score"] == 1.0
    with pytest.raises(ValueError, match="data_source"):
        compute_score("unknown/source", "", "")
    assert tasks.DATA_SOURCE_TO_TASK["HuggingFaceH4/MATH-500"] == "math"


def test_loader_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="REDIT_DATA_DIR"):
        tasks.load_rows("gsm8k", "test", data_dir_path=tmp_path)
    with pytest.raises(FileNotFoundError, match="REDIT_OFFLINE=0"):
        tasks.load_rows("math", "train")
    with pytest.raises(ValueError, match="REDIT_OFFLINE=0"):
        tasks.split_rows("math", "train")
    assert tasks.split_rows("math", "train", test_as_train=True)[0]["data_source"] == "DigitalLearningGmbH/MATH-lighteval"
    with pytest.raises(ValueError, match="known"):
        tasks.load_rows("gsm9k")


def test_a_math_answer_that_looks_like_json_stays_an_answer():
    from patches.verl_reward import compute_score

    assert tasks.TASKS["math"].decode_reference("[-2,7]") == "[-2,7]"
    assert tasks.TASKS["mbpp"].decode_reference('{"test_list": []}') == {"test_list": []}
    assert compute_score("HuggingFaceH4/MATH-500", "so the answer is \\boxed{[-2,7]}", "[-2,7]")["score"] == 1.0


def test_every_task_record_is_complete():
    for name, task in tasks.TASKS.items():
        assert task.name == name and task.data_sources and task.ability in ("math", "code")
        assert task.chat == (task.verl_instruction is not None)  # every chat task has verl's prompt
        assert (task.paper_prompt is None) == (task.paper_reward is None)  # the released code's prompt goes with its reward
        assert task.text_reference != task.code or name == "geo3k"  # structured references: code tests, geo3k choices
    with pytest.raises(ValueError, match="unknown task 'gsm9k'; known: tiny, gsm8k"):
        tasks.get("gsm9k")
