"""Golden dry runs of the verl recipes: the exact environment, interpreter call and Hydra override list
(in order) that `experiments/<task>/<method>.sh --dry-run` prints, and the LAUNCH_LIST job line, for a
spread of (task, method, algorithm, scale). They pin what a recipe launches, whatever language the
recipe layer is written in. Regenerate after a deliberate change with

    REDIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_recipe_golden.py -q

and review the diff of tests/golden/verl_recipes.json like code."""

import json
import os
import shlex

import pytest

from redit import REPO_ROOT as REPO
from test_verl_recipes import recipe

GOLDEN = REPO / "tests" / "golden" / "verl_recipes.json"
UPDATE = os.environ.get("REDIT_UPDATE_GOLDEN") == "1"

DRY_RUNS = {
    "gsm8k-grpo-paper": ("gsm8k/grpo.sh", {}, []),
    "gsm8k-redit_gaussian-tiny": ("gsm8k/redit_gaussian.sh", {"SCALE": "tiny"}, []),
    "math-redit_uniform-smoke-dr_grpo": ("math/redit_uniform.sh", {"SCALE": "smoke", "ALGORITHM": "dr_grpo"}, []),
    "geo3k-grpo-paper": ("geo3k/grpo.sh", {}, []),
    "geo3k-redit_gaussian-tiny": ("geo3k/redit_gaussian.sh", {"SCALE": "tiny"}, []),
    "mbpp-redit_gaussian-tiny-dapo": ("mbpp/redit_gaussian.sh", {"SCALE": "tiny", "ALGORITHM": "dapo"}, []),
    "gsm8k-redit_gaussian-tiny-real": ("gsm8k/redit_gaussian.sh", {"SCALE": "tiny", "ALGORITHM": "real", "REAL_LABELS": "raw"}, []),
    "gsm8k-grpo-paper-rpp": ("gsm8k/grpo.sh", {"ALGORITHM": "reinforce_plus_plus"}, []),
    "gsm8k-grpo-paper-refill": ("gsm8k/grpo.sh", {"ALGORITHM": "refill", "REFILL_MAX_DRAWS": "3"}, []),
    "gsm8k-grpo-tiny-filter": ("gsm8k/grpo.sh", {"SCALE": "tiny", "ALGORITHM": "filter"}, []),
    "math-grpo-paper-directional_fill": ("math/grpo.sh", {"ALGORITHM": "directional_fill", "FILL_STRENGTH": "0.2"}, []),
    "gsm8k-redit_gaussian-paper-adaptive-schedule-scope": (
        "gsm8k/redit_gaussian.sh", {"ADAPTIVE": "flip_rate", "ADAPTIVE_SETPOINT": "0.3", "SCHEDULE": "cosine",
                                    "SCOPE": "zero_var", "SIGMA": "0.2", "SEED": "3"}, []),
    "gsm8k-grpo-tiny-group_scale": ("gsm8k/grpo.sh", {"SCALE": "tiny", "GROUP_SCALE": "2"}, []),
    "gsm8k-grpo-paper-binary-loggers-overrides": (
        "gsm8k/grpo.sh", {"REWARD_STYLE": "binary", "LOGGERS": "console,wandb", "SAVE_FREQ": "10", "REDIT_EXPERIMENT": "main"},
        ["trainer.val_before_train=False", "data.train_batch_size=8"]),
    "gsm8k-grpo-tiny-verl_reward-laplace": ("gsm8k/run.sh", {"SCALE": "tiny", "REWARD": "verl", "METHOD": "redit-laplace",
                                                             "NOISE_STD": "0.1"}, []),
}
JOBS = {
    "mbpp-redit_uniform-paper-2nodes": ("mbpp/redit_uniform.sh", {"NNODES": "2"}, []),
    "geo3k-grpo-tiny": ("geo3k/grpo.sh", {"SCALE": "tiny"}, ["trainer.val_before_train=False"]),
    "gsm8k-redit_gaussian-smoke-dapo": ("gsm8k/redit_gaussian.sh", {"SCALE": "smoke", "ALGORITHM": "dapo", "GROUP_SCALE": "2"}, []),
}


def normalise(text: str) -> str:
    """Machine-specific paths -> placeholders (the repository, its interpreter, the tiny policy's folder)."""
    import subprocess

    tiny = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "redit.tiny_policy", "--path-only"], capture_output=True,
                          text=True, cwd=REPO).stdout.strip()
    return text.replace(tiny, "<TINY_POLICY>").replace(str(REPO), "<REPO>")


def dry_run_record(out: str) -> dict:
    """{header, env, interpreter, overrides} of a dry run's printed command."""
    header, command = out.split("\n", 1)
    tokens = shlex.split(command.replace("\\\n", " "))
    main = tokens.index("verl.trainer.main_ppo")
    assert tokens[0] == "env" and tokens[main - 1] == "-m"
    return {"header": header, "env": tokens[1:main - 2], "interpreter": tokens[main - 2], "overrides": tokens[main + 1:]}


def load_golden() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {"dry_runs": {}, "jobs": {}, "grids": {}}


def check(kind: str, name: str, record):
    golden = load_golden()
    if UPDATE:
        golden[kind][name] = record
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert name in golden[kind], f"no golden for {name}; regenerate with REDIT_UPDATE_GOLDEN=1"
    assert record == golden[kind][name]


@pytest.mark.parametrize("name", list(DRY_RUNS))
def test_dry_run_prints_the_golden_command(name):
    path, env, args = DRY_RUNS[name]
    out = recipe(REPO / "experiments" / path, "--dry-run", *args, env={"DRY_RUN_CONFIG": "0", **env})
    assert out.returncode == 0, out.stderr[-2000:]
    check("dry_runs", name, dry_run_record(normalise(out.stdout)))


@pytest.mark.parametrize("name", list(JOBS))
def test_launch_list_job_line_is_golden(name, tmp_path):
    path, env, args = JOBS[name]
    listing = tmp_path / "jobs.jsonl"
    out = recipe(REPO / "experiments" / path, *args, env={"LAUNCH_LIST": str(listing), **env})
    assert out.returncode == 0, out.stderr[-2000:]
    (line,) = listing.read_text().splitlines()
    check("jobs", name, json.loads(normalise(line)))


def test_ablation_grid_dry_run_is_golden(tmp_path):
    """Every verl run of the remedies grid (one seed): its variables come from the registry entry."""
    out = recipe(REPO / "experiments/ablations/experiment.sh", "--dry-run",
                 env={"ABLATION": "remedies", "SEEDS": "0", "RUNS": "/runs"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    blocks = ["# " + block for block in normalise(out.stdout).split("# ")[1:]]
    check("grids", "remedies", [dry_run_record(block) for block in blocks])
