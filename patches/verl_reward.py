"""verl `reward.custom_reward_function` entry point: verl loads this file by path, so it holds no
relative imports; the scorers are the project's (`redit.tasks.verl_compute_score`, gold-checked).

    reward.custom_reward_function.path=<repo>/patches/verl_reward.py
    reward.custom_reward_function.name=compute_score
"""

from redit.tasks import verl_compute_score as compute_score  # noqa: F401
