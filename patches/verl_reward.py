"""verl `reward.custom_reward_function` entry point: verl loads this file by path, so it holds no
relative imports; the scorers are the project's (`redit.tasks` / `redit.rewards`, gold-checked).

    reward.custom_reward_function.path=<repo>/patches/verl_reward.py
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.style=paper      # or binary (the default)

style=binary: score = acc = the task's 0/1 correctness (redit.rewards.score).
style=paper:  score = the paper's released-code reward (redit.rewards.gsm8k_paper_reward, max 5.0:
              correctness 2 + integer 0.5 + strict format 1 + soft format 1 + XML count 0.5;
              math_paper_reward, max 3.0: correctness 2 + reasoning steps 1), the reward axis of the
              paper's Figure 1; acc stays the 0/1 correctness, so `val-core/<source>/acc/mean@1`
              and DAPO's `filter_groups.metric=acc` mean the same thing under both styles.
Tasks without a released-code reward (geo3k, mbpp, humaneval, tiny) refuse style=paper.

    >>> compute_score("openai/gsm8k", "<reasoning>\\n2+2\\n</reasoning>\\n<answer>\\n4\\n</answer>\\n", "4", style="paper")
    {'score': 5.0, 'acc': 1.0}
"""

from redit import rewards
from redit.tasks import DATA_SOURCE_TO_TASK
from redit.tasks import verl_compute_score as binary_score

STYLES = ("binary", "paper")
PAPER_REWARDS = {"gsm8k": rewards.gsm8k_paper_reward, "math": rewards.math_paper_reward}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, style="binary", **kwargs):
    """{"score": training reward, "acc": 0/1 correctness} for one response (see the module docstring)."""
    if style not in STYLES:
        raise ValueError(f"reward style must be one of {', '.join(STYLES)}; got {style!r}.")
    result = binary_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    if style == "paper":
        task = DATA_SOURCE_TO_TASK[data_source]
        if task not in PAPER_REWARDS:
            raise ValueError(f"the paper's released code has no shaped reward for {task!r}; use style=binary.")
        result["score"] = float(PAPER_REWARDS[task](solution_str, ground_truth))
    return result
