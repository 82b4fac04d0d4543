"""verl data preparation, the experiments/ recipes (dry runs composed with verl's Hydra config), and the
real `verl.trainer.main_ppo` loop on this CPU with the ReDit plugin."""

import json
import os
import shlex
import subprocess
import sys

import pandas as pd
import pytest

from patches import verl_data
from redit.tasks import data_dir
from patches.verl_compose import compose

from redit import REPO_ROOT as REPO  # noqa: E402
RECIPES = sorted(p for p in (REPO / "experiments").glob("*/*.sh") if p.name != "run.sh" and p.parent.name != "ablations")
needs_data = pytest.mark.skipif(not (data_dir() / "gsm8k").is_dir(), reason="../shared/data not present")


def recipe(path, *args, env=None, timeout=120):
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([str(path), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env)


def overrides_of(dry_run_output: str) -> list[str]:
    """The Hydra overrides a dry run printed (one per line after the main_ppo line)."""
    lines = dry_run_output.split("verl.trainer.main_ppo", 1)[1].split("# resolved verl config:")[0].splitlines()
    return [shlex.split(line.strip().rstrip("\\").strip())[0] for line in lines if line.strip().rstrip("\\").strip()]


@needs_data
def test_gsm8k_parquet_has_verls_schema(tmp_path):
    counts = verl_data.prepare("gsm8k", tmp_path, limit_train=5, limit_test=3)
    assert counts == {"train": 5, "test": 3}
    df = pd.read_parquet(tmp_path / "train.parquet")
    assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    row = df.iloc[0]
    assert row.data_source == "openai/gsm8k" and row.ability == "math"
    assert row.prompt[0]["role"] == "user" and "####" in row.prompt[0]["content"]
    assert row.reward_model["style"] == "rule" and row.reward_model["ground_truth"] == "72"  # Natalia's clips
    assert row.extra_info["split"] == "train" and row.extra_info["index"] == 0


@needs_data
def test_geo3k_rows_carry_image_bytes_unless_text_only(tmp_path):
    verl_data.prepare("geo3k", tmp_path / "vl", test_as_train=True)
    verl_data.prepare("geo3k", tmp_path / "text", test_as_train=True, text_only=True)
    vl, text = pd.read_parquet(tmp_path / "vl" / "test.parquet"), pd.read_parquet(tmp_path / "text" / "test.parquet")
    assert len(vl) == 10 and vl.iloc[0].images[0]["bytes"][:4] == b"\x89PNG"
    assert vl.iloc[0].prompt[0]["content"].startswith("<image>")
    assert "images" not in text.columns and "<image>" not in text.iloc[0].prompt[0]["content"]
    assert json.loads(vl.iloc[0].reward_model["ground_truth"])["answer"] in "ABCD"


@needs_data
def test_mbpp_uses_the_published_split_and_missing_splits_fail_clearly(tmp_path):
    counts = verl_data.prepare("mbpp", tmp_path)
    assert counts == {"train": 374, "test": 500}
    with pytest.raises(ValueError, match="HumanEval has no train split"):
        verl_data.prepare("humaneval", tmp_path / "he")
    assert not (tmp_path / "he" / "train.parquet").exists()


@pytest.mark.parametrize("ablation", ["baselines", "variance", "distribution", "schedule", "scope", "adaptive", "remedies"])
def test_each_ablation_recipe_prints_its_grid_of_verl_runs(ablation, tmp_path):
    from redit import registry

    runs = len(registry.get(ablation).variants_for("verl"))  # the recipe's grid is the registry's entry
    path = REPO / f"experiments/ablations/{ablation}.sh"
    env = {"SEEDS": "0 1", "RUNS": str(tmp_path)} if path.is_file() else {"SEEDS": "0 1", "RUNS": str(tmp_path), "ABLATION": ablation}
    out = recipe(path if path.is_file() else REPO / "experiments/ablations/experiment.sh", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-m verl.trainer.main_ppo") == 2 * runs and f"{tmp_path}/{ablation}/gsm8k-" in out.stdout
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


@pytest.mark.parametrize("algorithm,needles", [
    ("dapo", ["algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=acc", "clip_ratio_high=0.28",
              "reward.reward_manager.name=dapo", "overlong_buffer_cfg.len=8", "algorithm.adv_estimator=redit_grpo"]),
    ("real", ["algorithm.adv_estimator=redit_real", "policy_loss.loss_mode=real", "actor_rollout_ref.actor.shuffle=False",
              "ppo_micro_batch_size_per_gpu=16"]),
])
def test_recipes_express_dapo_and_real_and_verl_accepts_the_overrides(algorithm, needles):
    proc = recipe(REPO / "experiments/gsm8k/run.sh", "--dry-run", env={"ALGORITHM": algorithm, "METHOD": "redit-gaussian", "SCALE": "tiny"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    command, resolved = proc.stdout.split("# resolved verl config:")
    assert all(n in command for n in needles), [n for n in needles if n not in command]
    # verl's own config composition took every key (the resolved config echoes them)
    assert ("loss_mode: real" in resolved) == (algorithm == "real") and ("clip_ratio_high: 0.28" in resolved) == (algorithm == "dapo")


@pytest.mark.parametrize("env,needles", [
    ({"ALGORITHM": "filter"}, ["+algorithm.redit_remedy.filter=True"]),
    ({"ALGORITHM": "refill"}, ["algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=acc",
                               "algorithm.filter_groups.max_num_gen_batches=5"]),
    ({"ALGORITHM": "directional_fill", "FILL_STRENGTH": "0.2"}, ["+algorithm.redit_remedy.fill_strength=0.2"]),
    ({"GROUP_SCALE": "2"}, ["actor_rollout_ref.rollout.n=8", "data.train_batch_size=2", "ppo_mini_batch_size=2"]),
    ({"CLIP_GRAD": "1e6"}, ["actor_rollout_ref.actor.optim.clip_grad=1e6"]),
])
def test_recipes_express_each_remedy_and_verl_composes_it(env, needles):
    proc = recipe(REPO / "experiments/gsm8k/run.sh", "--dry-run", env={**env, "SCALE": "tiny"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    command = proc.stdout.split("# resolved verl config:")[0]
    assert all(n in command for n in needles), [n for n in needles if n not in command]


def test_there_is_a_recipe_per_task_and_method():
    names = {(p.parent.name, p.stem) for p in RECIPES}
    for task in ("gsm8k", "math", "geo3k", "mbpp"):
        for method in ("grpo", "redit_gaussian", "redit_uniform"):
            assert (task, method) in names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recipe_dry_run_prints_a_verl_command_that_composes(path):
    out = recipe(path, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "-m verl.trainer.main_ppo" in out.stdout and "# resolved verl config:" in out.stdout
    overrides = overrides_of(out.stdout)
    keys = {o.split("=", 1)[0].lstrip("+") for o in overrides}
    assert {"algorithm.adv_estimator", "actor_rollout_ref.model.path", "data.train_files", "trainer.total_training_steps",
            "algorithm.redit.dist", "algorithm.redit.sigma", "actor_rollout_ref.rollout.name"} <= keys
    config = compose(overrides)  # the printed command, composed again independently
    assert config.trainer.v1.trainer_mode == "redit_sync" and config.actor_rollout_ref.rollout.name == "vllm"
    method = path.stem.replace("_", "-")
    assert config.algorithm.redit.dist == ("none" if method == "grpo" else method.split("-")[1])


def test_tiny_scale_dry_run_selects_cpu_mode_and_the_tiny_policy():
    out = recipe(REPO / "experiments/gsm8k/redit_uniform.sh", "--dry-run", env={"SCALE": "tiny"})
    assert out.returncode == 0, out.stderr
    config = compose(overrides_of(out.stdout))
    assert config.actor_rollout_ref.rollout.name == "hf" and config.actor_rollout_ref.actor.strategy == "fsdp2"
    assert "tiny-policy-" in config.actor_rollout_ref.model.path and config.trainer.total_training_steps == 3
    assert "VERL_PLATFORM=cpu" in out.stdout and "patches.verl_cpu" in out.stdout


@pytest.mark.parametrize("bad, needle", [
    ("data.train_batch_sizee=4", "data.train_batch_sizee"),
    ("algorithm.adv_estimator=redit_ppo", "redit_grpo"),
    ("+algorithm.redit.sigmaa=0.1", "algorithm.redit.sigmaa"),
    ("+algorithm.redit.dist=cauchy", "dist must be one of"),
])
def test_a_typo_in_an_override_fails_composition(bad, needle):
    with pytest.raises(Exception, match=needle):
        compose(["actor_rollout_ref.rollout.name=vllm", "algorithm.adv_estimator=redit_grpo", bad])


@pytest.mark.parametrize("env, args, needle", [
    ({"METHOD": "redit-cauchy"}, [], "METHOD must be"),
    ({"SCALE": "huge"}, [], "SCALE must be"),
    ({}, ["--steps", "3"], "unknown option"),
    ({}, ["--dry-run", "steps"], "unknown option"),
    ({"ADAPTIVE": "loss"}, ["--dry-run"], "ADAPTIVE must be"),
    ({"SIGMA": "-1", "METHOD": "redit-gaussian"}, ["--dry-run"], "SIGMA must be a finite number"),
    ({"ALGORITHM": "directional_fill", "FILL_STRENGTH": "-0.1"}, ["--dry-run"], "FILL_STRENGTH must be a finite number"),
    ({"GROUP_SCALE": "3", "SCALE": "tiny"}, ["--dry-run"], "GROUP_SCALE=3 must divide TRAIN_BATCH=4"),
    ({"REFILL_MAX_DRAWS": "0"}, ["--dry-run"], "REFILL_MAX_DRAWS must be a whole number"),
    ({"LOGGERS": "console,bad"}, ["--dry-run"], "LOGGERS has 'bad'"),
    ({"SAVE_FREQ": "-5"}, ["--dry-run"], "SAVE_FREQ must be a whole number >= 1, or -1"),
    ({"TEST_FREQ": "abc"}, ["--dry-run"], "TEST_FREQ must be a whole number >= 1, or -1"),
    ({"TEMPERATURE": "-1"}, ["--dry-run"], "TEMPERATURE must be a finite number > 0"),
    ({"MINI_BATCH": "64", "TRAIN_BATCH": "16"}, ["--dry-run"], "MINI_BATCH=64 exceeds TRAIN_BATCH=16"),
    ({"PROMPT_STYLE": "bad"}, ["--dry-run"], "PROMPT_STYLE must be verl or paper"),
    ({"KEEP_CHECKPOINTS": "0"}, ["--dry-run"], "KEEP_CHECKPOINTS must be a whole number >= 1"),
    ({"SCALE": "tiny", "MODEL": "/nonexistent/model", "RUN_DIR": "/tmp/redit-never-written"}, [], "no model at MODEL=/nonexistent/model"),
    ({"LOSS_AGG": "seq-mean"}, ["--dry-run"], "LOSS_AGG must be one of token-mean"),
    ({"LOSS_AGG": "token-mean", "ALGORITHM": "real"}, ["--dry-run"], "LOSS_AGG does not apply to ALGORITHM=real"),
    ({"NOISE_ON": "parts", "REWARD_STYLE": "binary", "METHOD": "redit-gaussian"}, ["--dry-run"], "NOISE_ON=parts needs the paper's multi-part reward"),
    ({"NOISE_ON": "each"}, ["--dry-run"], "NOISE_ON must be sum or parts"),
    ({"SCHEDULE": "sawtooth"}, ["--dry-run"], "SCHEDULE must be one of constant"),
    ({"SCOPE": "some"}, ["--dry-run"], "SCOPE must be one of all"),
    ({"REDIT_VARIANT": "grpo"}, ["--dry-run"], "REDIT_VARIANT needs REDIT_EXPERIMENT"),
    ({"REDIT_EXPERIMENT": "remedies", "REDIT_VARIANT": "nope"}, ["--dry-run"], "REDIT_VARIANT=nope is no verl variant of remedies"),
])
def test_bad_recipe_input_is_one_line_before_anything_runs(env, args, needle):
    out = recipe(REPO / "experiments/gsm8k/run.sh", *args, env=env)
    assert out.returncode == 2 and needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, env, needle", [
    (["TASK=foo", "--", "--dry-run"], {}, "TASK=foo has no verl recipe; the tasks with one are geo3k, gsm8k, math, mbpp"),
    (["grid", "variance", "--dry-run"], {"TASK": "foo"}, "TASK=foo has no verl recipe"),
    (["grid", "variance", "--dry-run"], {"SEEDS": "0 x"}, "SEEDS must be whole numbers >= 0"),
    (["grid", "nope", "--dry-run"], {}, "unknown experiment 'nope'"),
])
def test_the_recipe_layer_refuses_an_unknown_task_or_bad_grid_in_one_line(argv, env, needle):
    full_env = {**os.environ, **env}
    out = subprocess.run([sys.executable, "-m", "patches.verl_recipe", *argv], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env=full_env)
    assert out.returncode == 2 and needle in out.stderr and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1


# The plain redit_grpo run on the CPU (metrics, config.json, done.json, the analysis reading it, a finished run
# skipped) is checked by test_verl_paper.py's resume test, which runs that recipe anyway: one verl start-up
# (about 2 minutes of the suite) less.


@pytest.mark.slow
@needs_data
def test_verl_main_ppo_runs_real_with_redit_on_cpu(tmp_path, tiny_policy_path):
    """REAL through verl: the redit_real estimator, the `real` policy loss in the actor worker, the
    trainer's group ordering. The tiny policy scores (almost always) 0 on GSM8K, so raw groups are
    all-equal and only ReDit's noise gives them both labels: all 4 groups are used, the gradient is
    nonzero."""
    run_dir = tmp_path / "run"
    env = {"SCALE": "tiny", "REWARD": "verl", "ALGORITHM": "real", "RUN_DIR": str(run_dir), "MODEL": str(tiny_policy_path),
           "DATA_LIMITS": "--limit-train 64 --limit-test 16", "DATA_ROOT": str(tmp_path / "data")}
    out = recipe(REPO / "experiments/gsm8k/redit_gaussian.sh", env=env, timeout=420)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    steps = {line["step"]: line["data"] for line in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}
    for step in (1, 2, 3):
        assert steps[step]["actor/real_groups_used"] == 4.0 and steps[step]["actor/grad_norm"] > 0
        assert steps[step]["critic/score/mean"] in {k / 16 for k in range(17)}  # raw 0/1 scores: the noise never reaches them
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algorithm"] == "real" and config["method"] == "real+redit-gaussian"


@pytest.mark.parametrize("task, parts", [("gsm8k", 5), ("math", 2)])
def test_noise_on_parts_draws_one_noise_per_part_of_the_paper_reward(task, parts):
    out = recipe(REPO / f"experiments/{task}/redit_gaussian.sh", "--dry-run", env={"NOISE_ON": "parts", "DRY_RUN_CONFIG": "0"})
    assert out.returncode == 0, out.stderr
    config = compose(overrides_of(out.stdout))
    assert config.algorithm.redit.reward_parts == parts  # redit.rewards.PAPER_REWARDS[task].n_parts
    assert "+algorithm.redit.reward_parts" not in recipe(REPO / f"experiments/{task}/redit_gaussian.sh", "--dry-run",
                                                         env={"DRY_RUN_CONFIG": "0"}).stdout  # sum: the default


def test_a_grid_run_carries_its_registry_names_and_takes_the_variant_not_method_strings(tmp_path):
    """REDIT_EXPERIMENT + REDIT_VARIANT name the variant; its fields win over the same variables in the
    environment, and both names reach every Ray worker (config.json records them)."""
    env = {"REDIT_EXPERIMENT": "distribution", "REDIT_VARIANT": "laplace", "METHOD": "grpo", "SIGMA": "0.5",
           "DRY_RUN_CONFIG": "0", "RUN_DIR": str(tmp_path / "run")}
    out = recipe(REPO / "experiments/gsm8k/run.sh", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    config = compose(overrides_of(out.stdout))
    assert config.algorithm.redit.dist == "laplace" and config.algorithm.redit.sigma == pytest.approx(0.070711)
    workers = config.ray_kwargs.ray_init.runtime_env.env_vars
    assert (workers.REDIT_EXPERIMENT, workers.REDIT_VARIANT) == ("distribution", "laplace")


def test_help_lists_every_variable_and_the_algorithms_of_the_table():
    from redit import algorithms

    out = recipe(REPO / "experiments/gsm8k/grpo.sh", "-h")
    assert out.returncode == 0 and out.stdout.startswith("Usage:")
    for needle in ("SCALE=tiny", "LOSS_AGG", "NOISE_ON", "LAUNCH_LIST", "DRY_RUN_CONFIG", *algorithms.names("verl")):
        assert needle in out.stdout, needle
