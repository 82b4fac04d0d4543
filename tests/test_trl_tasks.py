"""The TRL backend on the registry's real tasks, with TRL's configuration conventions (few rows,
two steps, the tiny policy, on the CPU)."""

import json

import pytest

from redit import train
from redit.dither import DitherConfig
from redit.rewards import gsm8k_paper_reward, paper_reward_parts
from redit.runlog import val_key
from redit.trl_backend import DitheredReward

from conftest import REPO, run_cli
from test_trl_backend import read_lines, reward_call

SMOKE = ["--steps", 2, "--val-every", 2, "--prompts-per-step", 2, "--num-generations", 4, "--val-problems", 6,
         "--train-problems", 16, "--max-new-tokens", 24, "--no-timing", "--threads", 1]


def test_legacy_flags_and_trl_options_reach_the_config():
    parsed = train.parse_args(["--run-dir", "/tmp/x", "--steps", 7, "--lr", 1e-4, "--max-new-tokens", 12,
                               "--num-generations", 4, "--prompts-per-step", 3, "--beta", 0.04, "--algorithm", "dr_grpo"])
    t = parsed.training
    assert (t.max_steps, t.learning_rate, t.max_completion_length, t.beta) == (7, 1e-4, 12, 0.04)
    assert t.per_device_train_batch_size == 12 and t.loss_type == "dr_grpo" and t.scale_rewards == "none"
    assert t.output_dir == "/tmp/x/trl" and t.logging_steps == 1
    cfg = train.resolve_config(parsed)
    assert cfg["steps"] == 7 and cfg["trl"]["beta"] == 0.04 and "output_dir" not in cfg["trl"]
    assert cfg["reward"] == "binary" and cfg["task_config"]["n_test"] == 1000  # the tiny preset: 1000 val problems


def test_tiny_difficulty_knobs_reach_task_config():
    cfg = train.resolve_config(train.parse_args(["--run-dir", "/tmp/x", "--max-number", 30, "--min-ops", 2,
                                                 "--max-ops", 3, "--val-problems", 500, "--temperature", 0.7]))
    knobs = {k: cfg["task_config"][k] for k in ("max_number", "min_ops", "max_ops", "n_test")}
    assert knobs == {"max_number": 30, "min_ops": 2, "max_ops": 3, "n_test": 500}
    assert cfg["temperature"] == 0.7


@pytest.mark.parametrize("args,needle", [
    (["--task", "geo3k"], "vision-language"),
    (["--task", "mbpp", "--reward", "paper"], "--reward paper"),
    (["--task", "gsm8k", "--max-number", 5], "tiny-task knobs"),
    (["--model", "not a/model id"], "--model"),
    (["--config", "/nonexistent.yaml"], "--config"),
])
def test_bad_task_options_fail_in_one_line(args, needle):
    with pytest.raises(ValueError, match=needle.replace("-", r"\-")):
        train.resolve_config(train.parse_args(["--run-dir", "/tmp/x", *args]))


def test_paper_reward_parts_sum_to_the_reward_and_the_noise_is_added_once():
    perfect = "<reasoning>\n9+9=18\n</reasoning>\n<answer>\n18\n</answer>\n"
    parts = paper_reward_parts("gsm8k", perfect, "18")
    assert set(parts) == {"correctness", "integer", "strict_format", "soft_format", "xml_count"}
    assert sum(parts.values()) == gsm8k_paper_reward(perfect, "18") == pytest.approx(5.0)
    fn = DitheredReward("gsm8k", DitherConfig(sigma=0.1, seed=0), group_size=2, reward="paper")
    wrong = perfect.replace("18\n</answer>", "19\n</answer>")
    out, logged = reward_call(fn, [perfect, wrong], ["18", "18"], step=0)
    assert logged["critic/score/mean"] == pytest.approx(4.0)  # (5 + 3) / 2, raw
    assert logged["reward/correctness/mean"] == 1.0 and logged["reward/strict_format/mean"] == 1.0
    clean = DitheredReward("gsm8k", DitherConfig(dist="none"), group_size=2, reward="paper")
    assert reward_call(clean, [perfect, wrong], ["18", "18"], step=0)[0] == pytest.approx([5.0, 3.0])
    noise = [o - c for o, c in zip(out, [5.0, 3.0])]  # one draw per sample, the same draw a 0/1 reward would get
    binary = DitheredReward("gsm8k", DitherConfig(sigma=0.1, seed=0), group_size=2)
    b_out, _ = reward_call(binary, ["#### 18", "#### 19"], ["18", "18"], step=0)
    assert noise == pytest.approx([b - r for b, r in zip(b_out, [1.0, 0.0])], abs=1e-6)
    assert fn.last_correct.tolist() == [1.0, 0.0]


def test_noise_on_parts_draws_once_per_paper_reward_part_and_is_recorded():
    base = ["--run-dir", "/tmp/x", "--task", "gsm8k", "--dist", "gaussian", "--sigma", 0.1]
    assert train.resolve_config(train.parse_args(base))["dither"]["reward_parts"] == 1  # the default: noise on the sum
    assert train.resolve_config(train.parse_args([*base, "--noise-on", "parts"]))["dither"]["reward_parts"] == 5
    math = ["--run-dir", "/tmp/x", "--task", "math", "--dist", "gaussian", "--sigma", 0.1, "--noise-on", "parts"]
    assert train.resolve_config(train.parse_args(math))["dither"]["reward_parts"] == 2  # grpo_math.py: two reward functions


@pytest.mark.parametrize("args,needle", [
    (["--task", "tiny", "--dist", "gaussian", "--sigma", 0.1, "--noise-on", "parts"], "--noise-on parts needs a reward made of parts"),
    (["--task", "gsm8k", "--reward", "binary", "--dist", "gaussian", "--sigma", 0.1, "--noise-on", "parts"], "binary reward has one part"),
    (["--task", "gsm8k", "--noise-on", "parts"], "--dist none adds none"),
])
def test_noise_on_parts_is_refused_where_it_cannot_apply(args, needle):
    with pytest.raises(ValueError, match=needle.replace("-", r"\-")) as err:
        train.resolve_config(train.parse_args(["--run-dir", "/tmp/x", *args]))
    assert "\n" not in str(err.value)


def test_noise_on_parts_adds_the_sum_of_five_draws_to_each_sample():
    perfect = "<reasoning>\n9+9=18\n</reasoning>\n<answer>\n18\n</answer>\n"
    config = DitherConfig(sigma=0.1, seed=0, reward_parts=5)
    out, _ = reward_call(DitheredReward("gsm8k", config, group_size=2, reward="paper"), [perfect, perfect], ["18", "18"], step=0)
    from redit.dither import sample_noise, step_generator
    five = sample_noise((2, 5), "gaussian", 0.1, step_generator(0, 0)).sum(dim=-1)
    assert out == pytest.approx((5.0 + five).tolist(), abs=1e-6)


def check_run(run_dir, task, sigma):
    lines = read_lines(run_dir)
    assert [l["step"] for l in lines] == [0, 1, 2]
    assert 0.0 <= lines[0]["data"][val_key(task)] <= 1.0 and val_key(task) in lines[2]["data"]
    for line in lines[1:]:
        d = line["data"]
        assert "actor/grad_norm" in d and "critic/score/mean" in d
        assert d["redit/zero_std_group_frac/dithered"] == 0.0 and d["redit/sigma"] == pytest.approx(sigma)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == task and config["backend"] == "trl" and config["model"]["path"]
    assert config["data"]["val_rows"] == 6 and (run_dir / "done.json").is_file()
    return lines, config


@pytest.mark.slow
@pytest.mark.parametrize("task,extra", [("gsm8k", []), ("math", ["--test-as-train"]), ("mbpp", [])])
def test_real_tasks_write_run_folders_the_analysis_reads(tmp_path, tiny_policy_path, task, extra):
    run_dir = tmp_path / "runs" / "main" / "redit-gaussian-s0"
    proc = run_cli("redit.train", "--run-dir", run_dir, "--task", task, "--dist", "gaussian", "--sigma", 0.3,
                   *SMOKE, *extra, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines, config = check_run(run_dir, task, 0.3)
    expected_reward = "paper" if task in ("gsm8k", "math") else "binary"
    assert config["reward"] == expected_reward
    if expected_reward == "paper":
        parts = {"gsm8k": "reward/xml_count/mean", "math": "reward/reasoning_steps/mean"}[task]
        assert all(parts in l["data"] for l in lines[1:])
    from analysis import load_runs

    runs = load_runs(tmp_path / "runs")
    assert len(runs) == 1 and runs[0].task == task


@pytest.mark.slow
def test_a_yaml_recipe_runs_and_the_command_line_overrides_it(tmp_path, tiny_policy_path):
    proc = run_cli("redit.train", "--config", REPO / "experiments" / "trl" / "tiny.yaml", "--run-dir", tmp_path / "r",
                   "--dist", "gaussian", "--sigma", 0.1, *SMOKE, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["trl"]["lr_scheduler_type"] == "constant" and config["trl"]["max_completion_length"] == 24
    assert config["task_config"]["n_test"] == 6


@pytest.mark.parametrize("recipe", ["tiny", "gsm8k", "math"])
def test_each_recipe_trains_with_the_seed_its_example_run_folder_names(recipe):
    import re

    path = REPO / "experiments" / "trl" / f"{recipe}.yaml"
    assert train.parse_args(["--config", path, "--run-dir", "/tmp/x"]).training.seed == 0  # TRL's default would be 42
    assert all(seed == "0" for seed in re.findall(r"--run-dir \S+-s(\d+)", path.read_text()))
