"""Paper-scale verl recipes: the paper's reward and prompt, the algorithms as their papers define them,
checkpoints/resume, trailing overrides, the launchers, adaptive sigma and Geometry3K with images --
each dry run composed again with verl's own Hydra config (patches.verl_compose) -- plus the paper
reward on hand-made completions, REAL's label source and adaptive sigma in the verl estimator, and
(slow) a tiny verl run that resumes from its checkpoint."""

import json

import pytest
from omegaconf import OmegaConf

from patches import redit_verl
from patches.verl_compose import compose
from patches.verl_reward import compute_score
from redit import REPO_ROOT as REPO
from redit.tasks import data_dir
from test_verl_plugin import algo, batch, run
from test_verl_recipes import overrides_of, recipe

needs_data = pytest.mark.skipif(not (data_dir() / "gsm8k").is_dir(), reason="../shared/data not present")
GSM8K, MATH = "openai/gsm8k", "DigitalLearningGmbH/MATH-lighteval"


def dry_run(path, *args, **env):
    out = recipe(REPO / path, "--dry-run", *args, env={k: str(v) for k, v in env.items()})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout, compose(overrides_of(out.stdout))  # the printed command, composed again


# ---------------------------------------------------------------- the paper's setup by default
@pytest.mark.parametrize("task", ["gsm8k", "math"])
def test_paper_scale_uses_the_paper_reward_prompt_and_released_code_hyperparameters(task):
    text, config = dry_run(f"experiments/{task}/redit_gaussian.sh")
    assert config.reward.custom_reward_function.reward_kwargs.style == "paper"
    assert config.data.train_files.endswith(f"{task}/paper/train.parquet")  # verl_data --style paper
    actor = config.actor_rollout_ref.actor
    assert config.actor_rollout_ref.rollout.n == 16 and actor.optim.lr == 5e-6 and actor.optim.clip_grad == 0.1
    assert list(actor.optim.betas) == [0.9, 0.99] and actor.optim.weight_decay == 0.1
    assert actor.optim.lr_scheduler_type == "cosine" and actor.optim.lr_warmup_steps_ratio == 0.1
    assert (config.data.max_prompt_length, config.data.max_response_length) == (256, 786)
    assert config.data.train_batch_size == 16  # small per-step batches, not verl's 1024
    binary, config = dry_run(f"experiments/{task}/grpo.sh", REWARD_STYLE="binary")
    assert config.reward.custom_reward_function.reward_kwargs.style == "binary"
    assert config.data.train_files.endswith(f"{task}/verl/train.parquet")


def test_every_recipe_variable_says_where_it_comes_from():
    for task in ("gsm8k", "math", "geo3k", "mbpp"):
        text = (REPO / f"experiments/{task}/run.sh").read_text()
        values = text.split("RECIPE=(\n")[1].split("\n)")[0].splitlines()
        assert values[0].strip() == f"TASK={task}"
        assert all("#" in line for line in values[1:]), [line for line in values[1:] if "#" not in line]
    import inspect

    from patches import verl_recipe

    source = inspect.getsource(verl_recipe).split("RELEASED_CODE = dict(")[1].split("\n)")[0]
    assignments = [line for line in source.splitlines() if "=" in line and not line.strip().startswith("#")]
    assert len(assignments) == len(verl_recipe.RELEASED_CODE) and all("#" in line for line in assignments)


def test_paper_reward_is_refused_where_the_released_code_has_none():
    out = recipe(REPO / "experiments/geo3k/grpo.sh", "--dry-run", env={"REWARD_STYLE": "paper"})
    assert out.returncode == 2 and "gsm8k and math only" in out.stderr and len(out.stderr.strip().splitlines()) == 1


GOOD = "<reasoning>\nShe has 2 + 2.\n</reasoning>\n<answer>\n4\n</answer>\n"


@pytest.mark.parametrize("completion, score", [
    (GOOD, 2.0 + 0.5 + 1.0 + 1.0 + 0.5),                                         # every part
    (GOOD.replace("\n4\n", "\n5\n"), 0.5 + 1.0 + 1.0 + 0.5),                     # wrong: no correctness
    ("<reasoning>2 + 2</reasoning> <answer>4</answer>", 2.0 + 0.5 + 1.0),        # soft format only, no tags counted
    # text after the </answer> line (released rules): both format checks still hold, 5 chars x 0.001 off the tag count
    (GOOD + "extra", 2.0 + 0.5 + 1.0 + 1.0 + 0.5 - 0.005),
    ("2 + 2 = 4\n#### 4", 0.0),                                                  # right answer, none of the format
])
def test_gsm8k_paper_reward_parts_on_hand_made_completions(completion, score):
    result = compute_score(GSM8K, completion, "4", style="paper")
    assert result["score"] == pytest.approx(score)
    assert result["acc"] == float("5" not in completion.split("<answer>")[-1])  # acc: 0/1 correctness, any format


@pytest.mark.parametrize("completion, score, acc", [
    ("Step 1: add. Step 2: halve. Step 3: done. \\boxed{\\frac{1}{2}}", 3.0, 1.0),
    ("\\boxed{0.5}", 2.0, 1.0),
    ("First, add. Next, halve. Finally, \\boxed{3}", 1.0, 0.0),
])
def test_math_paper_reward_parts_on_hand_made_completions(completion, score, acc):
    assert compute_score(MATH, completion, "\\frac{1}{2}", style="paper") == {"score": score, "acc": acc}
    assert compute_score(MATH, completion, "\\frac{1}{2}")["score"] == acc  # binary: correctness only


def test_paper_reward_style_errors_are_clear():
    with pytest.raises(ValueError, match="no shaped reward for 'geo3k'"):
        compute_score("hiyouga/geometry3k", "\\boxed{A}", '{"answer": "A"}', style="paper")
    with pytest.raises(ValueError, match="reward style must be one of"):
        compute_score(GSM8K, GOOD, "4", style="shaped")


# ---------------------------------------------------------------- algorithms
def test_dr_grpo_drops_the_std_and_the_length_normalisation():
    _, config = dry_run("experiments/gsm8k/redit_gaussian.sh", ALGORITHM="dr_grpo")
    assert config.algorithm.norm_adv_by_std_in_grpo is False
    assert config.actor_rollout_ref.actor.loss_agg_mode == "seq-mean-token-sum-norm"
    assert config.actor_rollout_ref.actor.loss_scale_factor == config.data.max_response_length  # a constant


def test_reinforce_plus_plus_puts_its_kl_in_the_reward():
    _, config = dry_run("experiments/gsm8k/grpo.sh", ALGORITHM="reinforce_plus_plus")
    assert config.algorithm.adv_estimator == "redit_reinforce_plus_plus"
    assert config.algorithm.use_kl_in_reward is True and config.algorithm.kl_penalty == "kl"
    assert config.algorithm.kl_ctrl.type == "fixed" and config.algorithm.kl_ctrl.kl_coef == 0.001
    assert config.actor_rollout_ref.actor.use_kl_loss is False  # the KL is in the reward, not the loss


@pytest.mark.parametrize("labels", [None, "raw"])
def test_real_label_source_reaches_verl(labels):
    env = {"ALGORITHM": "real", **({"REAL_LABELS": labels} if labels else {})}
    _, config = dry_run("experiments/gsm8k/redit_gaussian.sh", **env)
    assert config.algorithm.real.labels == (labels or "dithered")
    assert redit_verl.real_label_source(config.algorithm) == (labels or "dithered")


def test_redit_real_in_verl_uses_the_label_source_and_logs_the_flip_rate():
    rewards, mask = batch([1, 1, 1, 0, 0, 0, 0, 0])  # group a mixed, group b all wrong
    tags = {}
    for source in ("raw", "dithered"):
        config = OmegaConf.create({**OmegaConf.to_container(algo(sigma=2.0, seed=3)), "real": {"labels": source}})
        encoded, _ = run("redit_real", rewards, mask, config)
        tags[source] = ((encoded * mask).sum(-1) / mask.sum(-1)).tolist()
        flips = redit_verl._step_state["metrics"]["real/label_flip_rate"]
        assert flips == 0.0 if source == "raw" else 0.0 <= flips <= 1.0
    assert tags["raw"] == [1, 1, 1, -1, 0, 0, 0, 0]  # correctness; the all-wrong group unlabelled
    assert all(t != 0 for t in tags["dithered"]) and [abs(t) for t in tags["dithered"]] == [1] * 4 + [2] * 4


# ---------------------------------------------------------------- cluster-grade runs
def test_checkpoints_every_k_steps_and_resume_auto():
    _, config = dry_run("experiments/gsm8k/grpo.sh")
    assert config.trainer.save_freq == 50 and config.trainer.resume_mode == "auto"
    assert config.trainer.max_actor_ckpt_to_keep == 2 and config.trainer.default_local_dir.endswith("/checkpoints")
    _, config = dry_run("experiments/gsm8k/grpo.sh", SAVE_FREQ=10, LOGGERS="console,wandb")
    assert config.trainer.save_freq == 10 and list(config.trainer.logger) == ["console", "wandb", "file"]


def test_a_trailing_hydra_override_wins():
    text, config = dry_run("experiments/gsm8k/grpo.sh", "trainer.val_before_train=False", "data.train_batch_size=8")
    assert config.trainer.val_before_train is False and config.data.train_batch_size == 8
    resolved = text.split("# resolved verl config:")[1]
    assert "val_before_train: false" in resolved
    assert overrides_of(text)[-2:] == ["trainer.val_before_train=False", "data.train_batch_size=8"]


def test_a_bad_trailing_argument_is_one_line():
    out = recipe(REPO / "experiments/gsm8k/grpo.sh", "--dry-run", "trainer.val_before_trainn=False")
    assert out.returncode == 2 and "val_before_trainn" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_run_all_slurm_dry_run_prints_one_array_task_per_run(tmp_path):
    out = recipe(REPO / "run_all.sh", "--scale", "paper", "--launcher", "slurm", "--dry-run", "--only", "distribution",
                 "--runs", str(tmp_path / "runs"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    jobs = out.stdout.split(".jobs\n", 1)[1].split("# ----", 1)[0].splitlines()
    assert len(jobs) == 9  # 3 distributions x 3 seeds
    assert all(" bash experiments/gsm8k/run.sh" in j and "SCALE=paper" in j for j in jobs)
    assert "RUN_DIR=" + str(tmp_path / "runs" / "distribution" / "gsm8k-laplace-s2") in out.stdout
    sbatch = out.stdout.split(".sbatch\n", 1)[1]
    assert "#SBATCH --array=0-8" in sbatch and "#SBATCH --gpus-per-node=8" in sbatch and "#SBATCH --nodes=1" in sbatch
    assert "#SBATCH --requeue" in sbatch and 'sed -n "$((SLURM_ARRAY_TASK_ID + 1))p"' in sbatch
    assert "sbatch " in out.stdout and "GPU-hours in all" in out.stdout
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_ray_launcher_submits_one_job_per_run_with_its_gpus(tmp_path):
    listing = tmp_path / "jobs.jsonl"
    out = recipe(REPO / "experiments/mbpp/redit_uniform.sh", env={"LAUNCH_LIST": str(listing), "NNODES": "2"})
    assert out.returncode == 0, out.stderr
    from redit import launch

    (job,) = launch.read_jobs(listing)
    assert job["vars"]["METHOD"] == "redit-uniform" and job["nnodes"] == 2 and job["gpus_per_node"] == 8
    (command,) = launch.ray_commands([job], "ray://head:10001")
    assert command[:3] == ["ray", "job", "submit"] and command[command.index("--entrypoint-num-gpus") + 1] == "16"
    assert "bash experiments/mbpp/run.sh" in command[-1]
    text = launch.slurm_files([job], tmp_path, launch.main.__globals__["argparse"].Namespace(
        max_parallel=None, cpus_per_gpu=8, time=None, partition="gpu", account=None))
    sbatch = text[tmp_path / "redit-2x8gpu.sbatch"]
    assert "#SBATCH --nodes=2" in sbatch and "ray start --head" in sbatch and "#SBATCH --partition=gpu" in sbatch


# ---------------------------------------------------------------- adaptive sigma on verl
def test_adaptive_recipe_composes_in_verl(tmp_path):
    out = recipe(REPO / "experiments/ablations/adaptive.sh", "--dry-run",
                 env={"SEEDS": "0", "RUNS": str(tmp_path), "DRY_RUN_CONFIG": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    blocks = out.stdout.split("# gsm8k / ")[1:]
    assert len(blocks) == 3  # grpo, flip_rate, grad_norm
    targets = []
    for block in blocks:
        config = compose(overrides_of(block))
        section = config.algorithm.get("redit_adaptive")
        targets.append(section.target if section else None)
        if section:
            assert config.algorithm.redit.dist == "gaussian" and redit_verl.adaptive_controller(config.algorithm).sigma == 0.05
    assert targets == [None, "flip_rate", "grad_norm"]


def test_adaptive_controller_drives_sigma_in_the_verl_estimator():
    from redit.adaptive_sigma import SigmaController

    rewards, mask = batch([1, 1, 1, 1, 0, 1, 0, 0])
    controller = SigmaController(target="flip_rate", setpoint=0.5, sigma=0.01)  # a flip rate of ~0 < 0.4: raise sigma
    redit_verl._step_state["controller"] = controller
    try:
        seen = []
        for step in range(3):
            run("redit_grpo", rewards, mask, algo(sigma=0.01), step=step)
            seen.append(redit_verl._step_state["metrics"]["redit/sigma"])
        assert seen == pytest.approx([0.01, 0.0125, 0.015625]) and controller.sigma == pytest.approx(0.01953125)
        assert redit_verl._step_state["metrics"]["redit/flip_rate"] == 0.0
    finally:
        redit_verl._step_state["controller"] = None


@pytest.mark.parametrize("section, needle", [
    ({"target": "loss"}, "target must be one of"),
    ({"target": "grad_norm", "setpont": 1.0}, "algorithm.redit_adaptive.setpont"),
])
def test_bad_adaptive_section_is_one_clear_error(section, needle):
    with pytest.raises(ValueError, match=needle):
        redit_verl.adaptive_controller({"redit": {"dist": "gaussian", "sigma": 0.05}, "redit_adaptive": section})


# ---------------------------------------------------------------- smoke, Geometry3K, run folder
def test_smoke_preset_is_one_gpu_the_tiny_policy_and_a_few_steps():
    text, config = dry_run("experiments/gsm8k/grpo.sh", SCALE="smoke")
    assert config.trainer.n_gpus_per_node == 1 and config.trainer.total_training_steps == 4
    assert "tiny-policy-" in config.actor_rollout_ref.model.path
    assert config.actor_rollout_ref.rollout.name == "hf"  # vLLM is not installed here
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"  # nor flash-attn
    assert "VERL_PLATFORM" not in text  # CUDA: verl's own platform


@needs_data
def test_geo3k_at_paper_scale_composes_with_a_vision_language_model_and_images(tmp_path):
    listing = tmp_path / "jobs.jsonl"
    for scale in ("paper", "tiny"):
        assert recipe(REPO / "experiments/geo3k/grpo.sh", env={"LAUNCH_LIST": str(listing), "SCALE": scale}).returncode == 0
    paper, tiny = (json.loads(line) for line in listing.read_text().splitlines())
    assert "--text-only" not in paper["vars"].get("DATA_LIMITS", "") and "--text-only" in tiny["vars"]["DATA_LIMITS"]
    from patches import verl_data

    verl_data.prepare("geo3k", tmp_path / "data", test_as_train=True)  # what the paper-scale recipe writes
    _, config = dry_run("experiments/geo3k/grpo.sh", f"data.train_files={tmp_path}/data/train.parquet")
    assert config.actor_rollout_ref.model.path == "Qwen/Qwen2.5-VL-7B-Instruct" and config.data.image_key == "images"
    import pandas as pd

    rows = pd.read_parquet(config.data.train_files)
    assert rows.iloc[0].images[0]["bytes"][:4] == b"\x89PNG" and rows.iloc[0].prompt[0]["content"].startswith("<image>")


def test_verl_config_json_has_the_shared_shape_with_verl_settings_nested(monkeypatch):
    monkeypatch.setenv("REDIT_EXPERIMENT", "adaptive")
    config = compose(["algorithm.adv_estimator=redit_grpo", "+algorithm.redit.dist=gaussian", "+algorithm.redit.sigma=0.05",
                      "+algorithm.redit_adaptive.target=grad_norm", "trainer.total_training_steps=4",
                      "actor_rollout_ref.model.path=/m"])
    run_config = redit_verl.run_config(config)
    assert {"backend", "task", "algorithm", "seed", "steps", "dither", "method", "adaptive_sigma", "model", "versions",
            "git", "experiment", "verl"} == set(run_config)
    assert run_config["experiment"] == "adaptive" and run_config["adaptive_sigma"]["target"] == "grad_norm"
    assert run_config["model"] == {"path": "/m"} and run_config["verl"]["trainer"]["total_training_steps"] == 4


# ---------------------------------------------------------------- resume (slow: two real verl runs)
@pytest.mark.slow
@needs_data
def test_a_relaunched_tiny_verl_run_resumes_from_its_checkpoint(tmp_path, tiny_policy_path):
    """The real verl loop on the CPU (redit_grpo, the hf rollout, verl's gsm8k scorer), and its resume:
    run 2 steps with a checkpoint at step 2, then relaunch the same run folder for 3 steps: verl
    loads global_step_2, runs only step 3, metrics.jsonl keeps steps 0-2 and gains 3, and the
    adaptive controller (grad_norm target far above every norm: sigma x 1.25 per step) continues
    from its logged sigma instead of restarting. The finished run is what the analysis reads, and a
    relaunch of it is skipped."""
    run_dir = tmp_path / "run"
    env = {"SCALE": "tiny", "REWARD": "verl", "RUN_DIR": str(run_dir), "MODEL": str(tiny_policy_path), "SAVE_FREQ": "2",
           "ADAPTIVE": "grad_norm", "ADAPTIVE_SETPOINT": "1000", "STEPS": "2",
           "DATA_LIMITS": "--limit-train 64 --limit-test 16", "DATA_ROOT": str(tmp_path / "data")}
    first = recipe(REPO / "experiments/gsm8k/redit_gaussian.sh", env=env, timeout=420)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert (run_dir / "checkpoints" / "global_step_2").is_dir()
    before = (run_dir / "metrics.jsonl").read_text().splitlines()
    (run_dir / "done.json").unlink()  # as if the job had been preempted after its step-2 checkpoint
    second = recipe(REPO / "experiments/gsm8k/redit_gaussian.sh", env={**env, "STEPS": "3"}, timeout=420)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "[resume]" in second.stdout and "resumed at step 2" in second.stdout
    after = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert after[:len(before)] == before and [json.loads(line)["step"] for line in after] == [0, 1, 2, 3]
    sigma = [json.loads(line)["data"].get("redit/sigma") for line in after]
    assert sigma[1:] == pytest.approx([0.05, 0.0625, 0.078125])
    done = json.loads((run_dir / "done.json").read_text())
    assert done["resumed_from_step"] == 2 and done["steps"] == 3
    config = json.loads((run_dir / "config.json").read_text())
    assert config["adaptive_sigma"]["target"] == "grad_norm"
    assert config["backend"] == "verl" and config["method"] == "redit-gaussian" and config["task"] == "gsm8k"
    steps = {line["step"]: line["data"] for line in map(json.loads, after)}
    assert "val-core/openai/gsm8k/acc/mean@1" in steps[0] and "val-core/openai/gsm8k/acc/mean@1" in steps[3]
    for step in (1, 2, 3):
        data = steps[step]
        assert data["actor/grad_norm"] > 0 and 0.0 <= data["critic/score/mean"] <= 1.0  # raw 0/1 rewards
        assert data["redit/dithered_score/mean"] != data["critic/score/mean"]
        assert data["redit/zero_std_group_frac/dithered"] == 0.0 and 0.0 <= data["redit/zero_std_group_frac/raw"] <= 1.0

    from analysis import load_runs

    (read,) = load_runs(tmp_path)  # the analysis reads the verl run folder as it reads TRL's
    assert read.config["backend"] == "verl" and len(read.metrics) == 4
    again = recipe(REPO / "experiments/gsm8k/redit_gaussian.sh", env={**env, "STEPS": "3"}, timeout=60)
    assert again.returncode == 0 and "[skip]" in again.stdout  # a finished run is never overwritten
