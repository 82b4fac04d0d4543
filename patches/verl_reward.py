"""verl `reward.custom_reward_function` entry point: verl loads this file by path, so it holds no
relative imports; the task of a row is its `data_source`'s record in `redit.tasks.TASKS`, and the
scorers are the project's (`redit.rewards`, gold-checked).

    reward.custom_reward_function.path=<repo>/patches/verl_reward.py
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.style=paper      # or binary (the default)

style=binary: score = acc = the task's 0/1 correctness (its record's scorer).
style=paper:  score = the paper's released-code reward (the record's paper_reward: gsm8k max 5.0,
              correctness 2 + integer 0.5 + strict format 1 + soft format 1 + XML count 0.5;
              math max 3.0, correctness 2 + reasoning steps 1), the reward axis of the paper's
              Figure 1; acc stays the 0/1 correctness, so `val-core/<source>/acc/mean@1` and DAPO's
              `filter_groups.metric=acc` mean the same thing under both styles.
Tasks without a released-code reward (geo3k, mbpp, humaneval, tiny) refuse style=paper. Ground truths
that are not one answer (code tests, geo3k choices) arrive as JSON strings (patches/verl_data.py).

    >>> compute_score("openai/gsm8k", "<reasoning>\\n2+2\\n</reasoning>\\n<answer>\\n4\\n</answer>\\n", "4", style="paper")
    {'score': 5.0, 'acc': 1.0}
"""

from redit.tasks import task_of_source

STYLES = ("binary", "paper")


def compute_score(data_source, solution_str, ground_truth, extra_info=None, style="binary", **kwargs):
    """{"score": training reward, "acc": 0/1 correctness} for one response (see the module docstring)."""
    if style not in STYLES:
        raise ValueError(f"reward style must be one of {', '.join(STYLES)}; got {style!r}.")
    task = task_of_source(data_source)
    reference = task.decode_reference(ground_truth)
    correct = float(task.scorer(solution_str, reference))
    if style == "binary":
        return {"score": correct, "acc": correct}  # "acc" names verl's validation metric val-core/<source>/acc/mean@N
    if task.paper_reward is None:
        raise ValueError(f"the paper's released code has no shaped reward for {task.name!r}; use style=binary.")
    return {"score": float(sum(task.paper_reward.parts(solution_str, reference).values())), "acc": correct}
