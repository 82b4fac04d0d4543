"""Verifiable rewards. `score(task, response, reference) -> float` is correctness in [0, 1].

    >>> score("gsm8k", "... so she pays $1,000.00\\n#### 1,000", "1000")
    1.0
    >>> score("mbpp", "def inc(x):\\n    return x + 1", {"test_list": ["assert inc(1) == 2"]})
    1.0

`reference` is the task's ground truth: the answer string for math tasks (gsm8k, math, tiny), the
answer (a value or a choice letter, or a dict with `answer`, `choices`, `precise_value`) for geo3k,
and for code the row's tests (`test_list` [+ `test_setup_code`] for MBPP; `test`, `entry_point`
[+ `prompt`] for HumanEval), run in `redit.sandbox`.

Shaped rewards of the paper's released code (not in [0, 1]) are separate, named functions:
`gsm8k_paper_reward` (max 5.0) and `math_paper_reward` (max 3.0); `paper_reward_parts(task, ...)` gives
them part by part (the TRL backend logs each part). Which task uses which scorer is its record in
redit.tasks.TASKS; `score(task, ...)` and `PAPER_REWARDS` read those records.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Callable, NamedTuple

# ---------------------------------------------------------------- numbers (gsm8k, tiny)
_NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?|-?\.\d+"
_HASH_ANSWER = re.compile(r"####\s*(" + _NUMBER + ")")


def _to_number(text: str) -> float | None:
    text = text.strip().replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_hash_answer(text: str) -> str | None:
    """The number after the last `####` (GSM8K style), `$`/commas removed; None when there is none."""
    matches = _HASH_ANSWER.findall(text)
    return matches[-1].replace(",", "").replace("$", "").replace(" ", "") if matches else None


def extract_final_number(text: str) -> float | None:
    """The final answer as a number: after `####`, else in the last <answer>…</answer> or \\boxed{},
    else the last number in the text."""
    for candidate in (extract_hash_answer(text), _last_tag(text, "answer"), last_boxed(text)):
        if candidate is not None:
            numbers = re.findall(_NUMBER, candidate)
            if numbers:
                return _to_number(numbers[-1])
    numbers = re.findall(_NUMBER, text)
    return _to_number(numbers[-1]) if numbers else None


def _numbers_equal(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def tiny_exact_match(response: str, reference) -> float:
    """Binary: 1.0 iff the number after `####` equals the reference number (strict, like verl's gsm8k)."""
    answer = extract_hash_answer(response)
    return float(answer is not None and _numbers_equal(_to_number(answer), _to_number(str(reference))))


def gsm8k_correct(response: str, reference) -> float:
    """Binary correctness on the final number: `#### 18`, `18.00`, `$18`, `1,000` all read as numbers."""
    gold = _to_number(extract_hash_answer(str(reference)) or str(reference))
    return float(_numbers_equal(extract_final_number(response), gold))


# ---------------------------------------------------------------- the paper's GSM8K reward (max 5.0)
def _last_tag(text: str, tag: str) -> str | None:
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    return found[-1].strip() if found else None


# Where these rules come from: the released code, kithib/ReDit grpo_gsm8k.py, read in the copy
# github.com/HongbinLin3589/DGOforMoE ReDit/grpo_gsm8k.py (commit 06c80e0; its model paths are the authors',
# /data_train/kitwei/...), whose reward functions extend willccbb's GRPO demo
# (gist.github.com/willccbb/4676755236bb08cab5f4e54a0475d6fb). Reimplemented here, not copied.
# Strict and soft format: re.match (anchored at the start) on the completion with surrounding whitespace
# stripped, flags DOTALL | MULTILINE, so `</answer>$` needs </answer> at the end of a line, not of the text.
# (The demo instead matches the raw text without flags, so its `.*?` stays on one line, and its strict
# pattern ends `\n</answer>\n$`.)
_STRICT_FORMAT = re.compile(r"<reasoning>\n.*?\n</reasoning>\n<answer>\n.*?</answer>$", re.DOTALL | re.MULTILINE)
_SOFT_FORMAT = re.compile(r"<reasoning>.*?</reasoning>.*?<answer>.*?</answer>$", re.DOTALL | re.MULTILINE)


def xml_answer(text: str) -> str:
    """The released code's answer: the text after the last <answer> up to the next </answer>, stripped
    (with no tags at all, the whole text)."""
    return text.split("<answer>")[-1].split("</answer>")[0].strip()


def xml_count(text: str) -> float:
    """0.125 per well-placed tag, minus 0.001 per character after the last line holding </answer>.
    The released code comments out the demo's second penalty (characters after "\n</answer>\n"), so it is absent."""
    score = 0.0
    if text.count("<reasoning>\n") == 1:
        score += 0.125
    if text.count("\n</reasoning>\n") == 1:
        score += 0.125
    if text.count("\n<answer>\n") == 1:
        score += 0.125
    if text.count("\n</answer>") == 1:
        score += 0.125
        score -= (len(text.split("\n</answer>")[-1]) - 1) * 0.001
    return score


def gsm8k_paper_reward_parts(response: str, reference) -> dict[str, float]:
    """The five reward functions of the released GSM8K script (max 5.0 in all; source above): correctness
    2.0 (`xml_answer` equals the `####` gold), integer answer 0.5, strict format 1.0, soft format 1.0, XML
    tag count up to 0.5 (`xml_count`).

    Departures, named: correctness compares numbers (`18.0` = `18`, `1,000` = `1000`) where the released
    script compares strings (its noisy variants compare the first run of digits); the integer part accepts
    a leading minus sign (the script's `str.isdigit` does not)."""
    answer = xml_answer(response)
    gold = extract_hash_answer(str(reference)) or str(reference).strip()
    stripped = response.strip()  # both format checks of the released script strip the completion first
    return {
        "correctness": 2.0 if _numbers_equal(_to_number(answer), _to_number(gold)) else 0.0,
        "integer": 0.5 if answer.lstrip("-").isdigit() else 0.0,
        "strict_format": 1.0 if _STRICT_FORMAT.match(stripped) else 0.0,
        "soft_format": 1.0 if _SOFT_FORMAT.match(stripped) else 0.0,
        "xml_count": xml_count(response),
    }


def gsm8k_paper_reward(response: str, reference) -> float:
    """The paper's GSM8K reward: the sum of `gsm8k_paper_reward_parts` (max 5.0)."""
    return sum(gsm8k_paper_reward_parts(response, reference).values())


# ---------------------------------------------------------------- MATH (\boxed{} + math-verify)
def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces matched; None when there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        rest = text[start:].split(None, 1)  # \boxed 5
        return rest[1].split("$")[0].strip() if len(rest) > 1 else None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def math_equivalent(answer: str, gold: str, timeout_s: int = 5) -> bool:
    """Mathematical equivalence of two LaTeX answers with math-verify, with a time limit per check.

    math-verify's time limit uses signal.alarm, which only works in the main thread; from another
    thread the check runs without a limit (call it from the main thread or a process pool)."""
    import threading

    from math_verify import LatexExtractionConfig, parse, verify

    if threading.current_thread() is not threading.main_thread():
        timeout_s = None
    config = [LatexExtractionConfig(boxed_match_priority=0)]
    try:
        gold_parsed = parse(f"\\boxed{{{gold}}}", extraction_config=config, parsing_timeout=timeout_s)
        answer_parsed = parse(f"\\boxed{{{answer}}}", extraction_config=config, parsing_timeout=timeout_s)
        if not gold_parsed or not answer_parsed:
            return answer.strip() == gold.strip()
        return bool(verify(gold_parsed, answer_parsed, timeout_seconds=timeout_s))
    except Exception:  # math-verify raises on pathological input; a crash is not a correct answer
        return answer.strip() == gold.strip()


def math_correct(response: str, reference) -> float:
    answer = last_boxed(response)
    return float(answer is not None and math_equivalent(answer, str(reference)))


# grpo_math.py's reasoning_steps_reward: re.findall without flags on the stripped completion, so `^\d+\.` counts
# a numbered step only at the very start (its docstring says "at start of line"; the code does not do that).
_STEP_MARKERS = re.compile(r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)")


def math_paper_reward_parts(response: str, reference) -> dict[str, float]:
    """The two reward functions of the released MATH script (grpo_math.py, read in the same copy as the GSM8K
    one; max 3.0): correctness 2.0 on the last \\boxed{} and reasoning steps up to 1.0 (a third per marker of
    `_STEP_MARKERS`, capped at 1: the script's rule).

    Departure, named: correctness is `math_correct` (math-verify equivalence); the script compares the
    boxed answer and the gold after the Hendrycks MATH string normalisation (lm-evaluation-harness's is_equiv)."""
    return {"correctness": 2.0 * math_correct(response, reference),
            "reasoning_steps": min(1.0, len(_STEP_MARKERS.findall(response.strip())) / 3)}


def math_paper_reward(response: str, reference) -> float:
    """The paper's MATH reward: the sum of `math_paper_reward_parts` (max 3.0)."""
    return sum(math_paper_reward_parts(response, reference).values())


# ---------------------------------------------------------------- Geometry3K
def geo3k_correct(response: str, reference, rel_tol: float = 1e-2) -> float:
    """Multiple choice: the right letter, or a value equal to the right choice's value (1 % tolerance)."""
    ref = reference if isinstance(reference, dict) else {"answer": str(reference)}
    letter = str(ref.get("answer", "")).strip().upper()
    choices = ref.get("choices") or []
    gold_values = [ref.get("precise_value")]
    if len(letter) == 1 and letter.isalpha() and choices and ord(letter) - 65 < len(choices):
        gold_values.append(choices[ord(letter) - 65])
    elif not (len(letter) == 1 and letter.isalpha()):
        gold_values.append(ref.get("answer"))
    lines = response.strip().splitlines()
    answer = (last_boxed(response) or _last_tag(response, "answer") or (lines[-1] if lines else "")).strip()
    picked = re.fullmatch(r"\(?([A-Da-d])\)?\.?", answer) or re.search(r"\b(?:answer|choice)\s*(?:is|:)?\s*\(?([A-D])\)?", answer)
    if picked and len(letter) == 1:
        return float(picked.group(1).upper() == letter)
    for gold in gold_values:
        if gold is None:
            continue
        g = _to_number(str(gold))
        if g is not None:
            value = extract_final_number(answer)
            if value is not None and math.isclose(value, g, rel_tol=rel_tol, abs_tol=1e-6):
                return 1.0
        elif math_equivalent(answer, str(gold)):
            return 1.0
    return 0.0


# ---------------------------------------------------------------- code (MBPP, HumanEval)
def extract_code(response: str) -> str:
    """The first fenced code block that defines something, else the first block, else the raw text."""
    blocks = re.findall(r"```(?:python|py|Python)?[ \t]*\n(.*?)```", response, flags=re.DOTALL)
    for block in blocks:
        if "def " in block:
            return block
    return blocks[0] if blocks else response


def _code_reward(run) -> float:
    """A code reward never raises for what the model wrote or what the row holds: a program that
    breaks the scorer (or a row it cannot read) scores 0.0. Only a machine without a sandbox raises
    (SandboxUnavailable, before any training starts)."""
    from .sandbox import SandboxUnavailable

    try:
        return float(run())
    except SandboxUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 (RecursionError, MemoryError, UnicodeError, a malformed row, ...)
        if len(_CODE_ERRORS) < 5:  # say so a few times, never flood a training log
            _CODE_ERRORS.append(repr(e)[:200])
            logging.getLogger(__name__).warning("code reward: %s; scored 0.0", _CODE_ERRORS[-1])
        return 0.0


_CODE_ERRORS: list[str] = []


def mbpp_correct(response: str, reference, timeout: float = 10.0) -> float:
    from .sandbox import run_tests

    def run():
        tests = list(reference["test_list"]) if isinstance(reference, dict) else list(reference)
        setup = reference.get("test_setup_code", "") if isinstance(reference, dict) else ""
        return run_tests(extract_code(response), tests, setup=setup, timeout=timeout).passed

    return _code_reward(run)


def humaneval_correct(response: str, reference, timeout: float = 10.0) -> float:
    """`response` is the completion (a function body continuing the prompt, or a whole function)."""
    from .sandbox import run_tests

    def run():
        code = extract_code(response)
        entry = reference["entry_point"]
        if not re.search(rf"def\s+{re.escape(entry)}\s*\(", code):
            code = reference.get("prompt", "") + code
        tests = reference["test"] + f"\ncheck({entry})\n"
        # The prompt runs on the judge's side too (trusted helpers such as HumanEval/32's `poly`, which
        # `check` uses); only the entry point is taken from the program.
        return run_tests(code, tests, timeout=timeout, context=reference.get("prompt", ""), calls=(entry,)).passed

    return _code_reward(run)


class PaperReward(NamedTuple):
    """A released-code shaped reward: `parts(response, reference) -> {part: value}` (sum = the reward),
    the maximum of the sum, and the parts' names (one per reward function of the released script)."""
    parts: Callable[[str, object], dict]
    maximum: float
    part_names: tuple[str, ...]

    @property
    def n_parts(self) -> int:
        return len(self.part_names)


GSM8K_PAPER_REWARD = PaperReward(gsm8k_paper_reward_parts, 5.0, ("correctness", "integer", "strict_format", "soft_format", "xml_count"))
MATH_PAPER_REWARD = PaperReward(math_paper_reward_parts, 3.0, ("correctness", "reasoning_steps"))


def __getattr__(name: str):
    """PAPER_REWARDS ({task: PaperReward} of the tasks that have one) is a view of redit.tasks.TASKS."""
    if name == "PAPER_REWARDS":
        from .tasks import TASKS

        return {task.name: task.paper_reward for task in TASKS.values() if task.paper_reward is not None}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def paper_reward_parts(task: str, response: str, reference) -> dict[str, float]:
    """The paper's reward for `task`, part by part (sum = the reward); only gsm8k and math have one."""
    from .tasks import get

    record = get(task)
    if record.paper_reward is None:
        raise ValueError(f"the paper's shaped reward exists for {', '.join(__getattr__('PAPER_REWARDS'))} only; got task "
                         f"{task!r} (use the binary reward).")
    return record.paper_reward.parts(response, reference)


def score(task: str, response: str, reference) -> float:
    """Binary correctness of `response` for `task` (its record's scorer in redit.tasks.TASKS)."""
    from .tasks import TASKS

    if task not in TASKS:
        raise ValueError(f"no reward for task {task!r}; known tasks: {', '.join(sorted(TASKS))}.")
    return TASKS[task].scorer(response, reference)
