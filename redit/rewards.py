"""Verifiable rewards: correctness in [0, 1] (1 = correct) from a response and its reference.

    >>> score("tiny", "3+4=7\\n#### 7", "7")
    1.0
"""

from __future__ import annotations

import re

_HASH_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)")


def extract_hash_answer(text: str) -> str | None:
    """The number after the last `####` (GSM8K style), commas removed; None when there is none."""
    matches = _HASH_ANSWER.findall(text)
    return matches[-1].replace(",", "") if matches else None


def tiny_exact_match(response: str, reference: str) -> float:
    """Binary: 1.0 iff the number after `####` equals the reference number."""
    answer = extract_hash_answer(response)
    if answer is None:
        return 0.0
    try:
        return float(float(answer) == float(reference))
    except ValueError:
        return 0.0


SCORERS = {"tiny": tiny_exact_match}


def score(task: str, response: str, reference) -> float:
    if task not in SCORERS:
        raise ValueError(f"no reward for task {task!r}; known tasks: {', '.join(sorted(SCORERS))}.")
    return SCORERS[task](response, reference)
