"""The TRL backend end to end: real GRPOTrainer runs on the tiny policy, on the CPU."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from redit import REPO_ROOT
from redit.dither import DitherConfig
from redit.runlog import REQUIRED_TRAIN_KEYS, val_key
from redit.trl_backend import DitheredReward

from conftest import run_cli

STEPS = 4
COMMON = ["--steps", STEPS, "--val-every", 2, "--val-problems", 200, "--no-timing", "--threads", 1]


def reward_call(fn, completions, truths, step, **extra):
    logged = {}
    out = fn(prompts=[""] * len(completions), completions=completions, ground_truth=truths,
             trainer_state=SimpleNamespace(global_step=step), log_metric=logged.__setitem__, **extra)
    return out, logged


def test_dithered_reward_adds_noise_before_normalisation_and_logs_raw_stats():
    completions = ["#### 7"] * 4 + ["#### 7", "#### 1", "#### 7", "#### 2"]  # group 1 all correct, group 2 mixed
    truths = ["7"] * 8
    fn = DitheredReward("tiny", DitherConfig(sigma=0.1, seed=3), group_size=4)
    out, logged = reward_call(fn, completions, truths, step=5)
    raw = torch.tensor([1, 1, 1, 1, 1, 0, 1, 0], dtype=torch.float32)
    assert not torch.equal(torch.tensor(out), raw) and torch.allclose(torch.tensor(out), raw, atol=0.6)
    assert logged["critic/score/mean"] == pytest.approx(0.75)
    assert logged["redit/dithered_score/mean"] == pytest.approx(sum(out) / 8)
    assert logged["redit/zero_std_group_frac/raw"] == 0.5 and logged["redit/zero_std_group_frac/dithered"] == 0.0
    assert logged["redit/sigma"] == pytest.approx(0.1)
    # same step again (e.g. gradient accumulation) draws fresh noise; a fresh wrapper repeats the first draw
    again, _ = reward_call(fn, completions, truths, step=5)
    assert again != out
    assert reward_call(DitheredReward("tiny", DitherConfig(sigma=0.1, seed=3), 4), completions, truths, 5)[0] == out


def test_plain_grpo_reward_is_the_raw_reward():
    fn = DitheredReward("tiny", DitherConfig(dist="none", sigma=0.0), group_size=2)
    out, logged = reward_call(fn, ["#### 3", "#### 4"], ["3", "3"], step=0)
    assert out == [1.0, 0.0]
    assert logged["redit/zero_std_group_frac/raw"] == logged["redit/zero_std_group_frac/dithered"] == 0.0
    assert logged["critic/score/mean"] == logged["redit/dithered_score/mean"] == 0.5


def read_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, tiny_policy_path):
    """Four short real runs: ReDit seed 0 twice, ReDit seed 1, plain GRPO seed 0."""
    root = tmp_path_factory.mktemp("runs")
    specs = {"a": ["--dist", "gaussian", "--sigma", 0.3, "--seed", 0],
             "a_again": ["--dist", "gaussian", "--sigma", 0.3, "--seed", 0],
             "b": ["--dist", "gaussian", "--sigma", 0.3, "--seed", 1],
             "grpo": ["--dist", "none", "--seed", 0]}
    for name, args in specs.items():
        proc = run_cli("redit.train", "--run-dir", root / name, *args, *COMMON)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def test_metrics_file_has_every_schema_key_each_step(tiny_runs):
    lines = read_lines(tiny_runs / "a")
    assert [l["step"] for l in lines] == list(range(STEPS + 1))
    assert set(lines[0]["data"]) == {val_key("tiny")}  # step 0: validation before training
    for line in lines[1:]:
        missing = set(REQUIRED_TRAIN_KEYS) - {"timing_s/step"} - set(line["data"])
        assert not missing, missing
        assert line["data"]["actor/grad_norm"] > 0
    assert all(val_key("tiny") in lines[s]["data"] for s in (2, 4))
    assert val_key("tiny") not in lines[1]["data"]
    config = json.loads((tiny_runs / "a" / "config.json").read_text())
    for key in ("backend", "task", "algorithm", "dither", "seed", "model", "steps", "versions", "git"):
        assert key in config
    assert config["dither"]["sigma"] == 0.3 and config["versions"]["trl"] == "1.16.0"
    assert (tiny_runs / "a" / "done.json").is_file()


def test_same_seed_is_byte_identical_and_another_seed_differs(tiny_runs):
    a = (tiny_runs / "a" / "metrics.jsonl").read_bytes()
    assert a == (tiny_runs / "a_again" / "metrics.jsonl").read_bytes()
    assert a != (tiny_runs / "b" / "metrics.jsonl").read_bytes()


def test_raw_and_dithered_statistics_differ_only_with_noise(tiny_runs):
    for line in read_lines(tiny_runs / "a")[1:]:
        d = line["data"]
        assert d["redit/sigma"] == pytest.approx(0.3)
        assert d["redit/dithered_score/mean"] != d["critic/score/mean"]
        assert d["redit/zero_std_group_frac/dithered"] == 0.0
    for line in read_lines(tiny_runs / "grpo")[1:]:
        d = line["data"]
        assert d["redit/sigma"] == 0.0
        assert d["redit/dithered_score/mean"] == d["critic/score/mean"]
        assert d["redit/zero_std_group_frac/dithered"] == d["redit/zero_std_group_frac/raw"]
    # raw statistics come from the policy's own samples: GRPO and ReDit agree at step 1 (same seed,
    # same weights before the first update), and the validation before training is identical
    a1, g1 = read_lines(tiny_runs / "a")[1]["data"], read_lines(tiny_runs / "grpo")[1]["data"]
    assert a1["critic/score/mean"] == g1["critic/score/mean"]
    assert read_lines(tiny_runs / "a")[0] == read_lines(tiny_runs / "grpo")[0]


def test_finished_run_is_skipped_and_a_changed_config_refused(tiny_runs):
    before = (tiny_runs / "a" / "metrics.jsonl").read_bytes()
    same = run_cli("redit.train", "--run-dir", tiny_runs / "a", "--dist", "gaussian", "--sigma", 0.3, "--seed", 0, *COMMON)
    assert same.returncode == 0 and "[skip]" in same.stdout
    changed = run_cli("redit.train", "--run-dir", tiny_runs / "a", "--dist", "gaussian", "--sigma", 0.5, "--seed", 0, *COMMON)
    assert changed.returncode == 2 and "different dither" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1
    assert (tiny_runs / "a" / "metrics.jsonl").read_bytes() == before


@pytest.mark.parametrize("args,needle", [
    (["--model", "/nonexistent/model"], "--model"),
    (["--dist", "gaussian", "--sigma", "-1"], "sigma"),
    (["--dist", "gaussian", "--schedule", "linear", "--sigma", "0.1", "--sigma-end", "nan"], "sigma_end"),
    (["--steps", "0"], "--steps"),
])
def test_bad_input_fails_fast_with_one_line(tmp_path, args, needle):
    proc = run_cli("redit.train", "--run-dir", tmp_path / "r", *args, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_validation_accuracy_reaches_the_trackers_and_wandb_files_stay_in_the_run_folder(tmp_path, tiny_policy_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from conftest import run_cli

    run = tmp_path / "r"
    proc = run_cli("redit.train", "--run-dir", run, "--steps", 4, "--val-every", 2, "--val-problems", 50, "--no-timing",
                   "--report_to", "tensorboard")
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = EventAccumulator(str(next(run.rglob("events.out.tfevents*"))))
    events.Reload()
    steps = [e.step for e in events.Scalars("train/val-core/tiny/acc/mean@1")]
    assert steps == [2, 4]  # the steps the run folder validates at (step 0 is the run folder's own line)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if "val-core/tiny/acc/mean@1" in d["data"]] == [0, 2, 4]
    # wandb offline (no login needed): its files go to the run folder, not the working directory
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "redit.train", "--run-dir", str(tmp_path / "w"), "--steps", "2", "--val-every", "2",
                           "--val-problems", "50", "--no-timing", "--report_to", "wandb"], cwd=work, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not any(work.iterdir()) and (tmp_path / "w" / "wandb").is_dir()


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint_and_ends_identical_to_an_uninterrupted_one(tmp_path, tiny_policy_path):
    import signal
    import time

    from conftest import run_cli

    args = ["--steps", "16", "--val-every", "8", "--val-problems", "50", "--no-timing", "--save_strategy", "steps",
            "--save_steps", "4", "--dist", "gaussian", "--sigma", "0.05"]
    whole = run_cli("redit.train", "--run-dir", tmp_path / "whole", *args)
    assert whole.returncode == 0, whole.stderr[-2000:]
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "redit.train", "--run-dir", str(cut), *args], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    while time.time() < deadline and not ((cut / "metrics.jsonl").is_file() and '"step": 9,' in (cut / "metrics.jsonl").read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # a crash: no clean-up of any kind
    proc.wait()
    assert not (cut / "done.json").exists() and (cut / "trl" / "checkpoint-8").is_dir()
    again = run_cli("redit.train", "--run-dir", cut, *args)
    assert again.returncode == 0 and "[resume]" in again.stdout and "step 8" in again.stdout, again.stdout[-2000:]
    assert (cut / "metrics.jsonl").read_text() == (tmp_path / "whole" / "metrics.jsonl").read_text()
