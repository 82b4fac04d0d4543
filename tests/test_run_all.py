"""run_all.sh and the sweep grid: every experiment's runs are valid `redit.train` configurations,
the paper-scale grid prints every verl command, and one ablation reruns on its own."""

import json
import os
import subprocess

import pandas as pd
import pytest

from redit import registry, sweep, train

from redit import REPO_ROOT as REPO  # noqa: E402


def run_all(*args, timeout=600):
    return subprocess.run(["./run_all.sh", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def configs_of(jobs, name):
    return train.resolve_config(train.parse_args(next(j for j in jobs if j.name == name).args))


def test_every_variant_of_every_experiment_is_a_valid_training_config(tmp_path):
    jobs = sweep.grid(tmp_path, list(registry.EXPERIMENTS), seeds=[0, 1, 2, 3, 4], steps=150,
                      extra=[], ablation_seeds=[0, 1, 2], ablation_steps=60)
    counts = {e: sum(1 for j in jobs if j.name.split("/")[0] == e) for e in registry.EXPERIMENTS}
    # baselines: REINFORCE++ is verl-only, so the TRL grid has 3 algorithms x 2; scope and adaptive carry GRPO
    assert counts == {"regime": 36, "remedies": 99, "convergence": 12, "size": 36, "main": 15, "baselines": 18, "variance": 33,
                      "distribution": 9, "schedule": 18, "scope": 12, "adaptive": 9}
    assert configs_of(jobs, "size/large-hard-redit-s1")["policy_size"] == "large"
    assert configs_of(jobs, "remedies/hard-refill-s0")["refill_max_draws"] == 5
    configs = {j.name: train.resolve_config(train.parse_args(j.args)) for j in jobs}
    assert configs["main/grpo-s4"]["steps"] == 150 and configs["variance/grpo-s2"]["steps"] == 60
    assert (configs["variance/uniform-0.3-s2"]["dither"]["dist"], configs["variance/uniform-0.3-s2"]["dither"]["sigma"]) == ("uniform", 0.3)
    assert configs["schedule/linear-increase-s0"]["dither"]["sigma_end"] == 0.1
    assert configs["scope/mixed-s1"]["dither"]["scope"] == "mixed"
    assert configs["adaptive/grad_norm-s0"]["adaptive_sigma"]["target"] == "grad_norm"
    assert configs["baselines/dr_grpo+redit-gaussian-s0"]["algorithm"] == "dr_grpo"
    assert configs["baselines/real+redit-gaussian-s2"]["method"] == "real+redit-gaussian"
    assert configs["baselines/dapo-s1"]["dither"]["dist"] == "none"
    # matched noise std 0.1 across distributions: Gaussian 0.1, uniform a = 0.1 * sqrt(3), Laplace b = 0.1 / sqrt(2)
    sigmas = {d: configs[f"distribution/{d}-s0"]["dither"]["sigma"] for d in ("gaussian", "uniform", "laplace")}
    assert sigmas == pytest.approx({"gaussian": 0.1, "uniform": 0.173205, "laplace": 0.0707107}, rel=1e-5)
    # every run in <runs>/<experiment>/<variant>-s<seed>, labelled with the same registry names (main too)
    assert all(j.run_dir.parent == tmp_path / j.name.split("/")[0] for j in jobs)
    for j in jobs:
        parsed = train.parse_args(j.args).redit
        assert f"{parsed.experiment}/{parsed.variant}-s{j.args[j.args.index('--seed') + 1]}" == j.name


@pytest.mark.slow
def test_paper_dry_run_prints_every_verl_command_of_the_grid():
    proc = run_all("--scale", "paper", "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.count("-m verl.trainer.main_ppo")
    # main 4 tasks x 3 methods x 5 seeds; GSM8K ablations x 3 seeds: baselines 4 algorithms x 2,
    # variance 11, distribution 3, schedule 6 (constant included), scope 4 (GRPO included), adaptive 3;
    # regime is TRL-only (tiny-task difficulty knobs) and has no verl recipe
    assert commands == 60 + 3 * (8 + 11 + 3 + 6 + 4 + 3)
    assert "runs/paper/variance/gsm8k-uniform-0.3-s2" in proc.stdout
    assert "algorithm.adv_estimator=redit_reinforce_plus_plus" in proc.stdout and "+algorithm.redit.scope=zero_var" in proc.stdout
    assert "algorithm.adv_estimator=redit_real" in proc.stdout and "algorithm.filter_groups.metric=acc" in proc.stdout
    assert "+algorithm.redit_adaptive.target=grad_norm" in proc.stdout
    assert "regime: TRL backend only" in proc.stdout


@pytest.mark.parametrize("args,needle", [(["--only", "nope"], "not an experiment"), (["--scale", "big"], "--scale"),
                                         (["--dry-run"], "--dry-run is for --scale paper")])
def test_bad_options_are_one_line(args, needle):
    proc = run_all(*args, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_only_one_ablation_reruns_just_it(tmp_path, tiny_policy_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    proc = run_all("--only", "scope", "--seeds", 1, "--steps", 2, "--runs", runs, "--out", out, "--jobs", 2)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in (runs / "scope").iterdir() if not p.name.startswith(".")) == \
        ["all-s1", "grpo-s1", "mixed-s1", "zero_var-s1"]
    assert not (runs / "main").exists() and not any(p.name.startswith("grpo") for p in runs.iterdir())
    table = pd.read_csv(out / "scope_table.csv")
    assert sorted(table["method"] + "/" + table["scope"]) == ["grpo/all", "redit-gaussian/all", "redit-gaussian/mixed",
                                                              "redit-gaussian/zero_var"]
    assert (table["n_seeds"] == 1).all()
    again = run_all("--only", "scope", "--seeds", 1, "--steps", 2, "--runs", runs, "--out", out)
    assert again.returncode == 0 and "4 already finished (skipped), 0 to run" in again.stdout


def test_a_run_repeated_across_experiments_is_computed_once_and_linked(tmp_path):
    from analysis.reader import load_runs

    jobs = sweep.grid(tmp_path, ["variance", "distribution", "schedule", "scope"], seeds=[0], steps=30, extra=[])
    repeats = {j.name: j.same_as for j in jobs if j.same_as is not None}
    shared = tmp_path / "variance" / "gaussian-0.1-s0"  # Gaussian std 0.1, constant, all groups
    assert repeats == {"distribution/gaussian-s0": shared, "schedule/constant-s0": shared, "scope/all-s0": shared,
                       "scope/grpo-s0": tmp_path / "variance" / "grpo-s0"}
    to_compute = sweep.link_duplicates(jobs)
    assert len(to_compute) == len(jobs) - 4 and all(j.same_as is None for j in to_compute)
    assert (tmp_path / "scope" / "all-s0").resolve() == shared.resolve()
    # a finished run appears in every experiment that links it; a real folder in a repeat's place is kept
    shared.mkdir(parents=True)
    (shared / "config.json").write_text('{"method": "redit-gaussian", "seed": 0, "experiment": "variance", "variant": "gaussian-0.1"}')
    (shared / "metrics.jsonl").write_text('{"step": 1, "data": {"val-core/tiny/acc/mean@1": 0.5}}\n')
    (shared / "done.json").write_text("{}")
    assert sorted(r.experiment for r in load_runs(tmp_path)) == ["distribution", "schedule", "scope", "variance"]
    (tmp_path / "scope" / "all-s0").unlink()
    (tmp_path / "scope" / "all-s0").mkdir()
    assert [j.name for j in sweep.link_duplicates(jobs) if j.name == "scope/all-s0"] == ["scope/all-s0"]


def test_a_second_sweep_on_the_same_runs_folder_stops_with_one_line(tmp_path):
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".sweep.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "redit.sweep", "--runs", str(tmp_path), "--seeds", "0",
                               "--steps", "2"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "another sweep is running" in proc.stderr
    assert not (tmp_path / "main").exists()


@pytest.mark.slow
def test_killing_the_sweep_ends_its_runs(tmp_path):
    """kill -9 of the sweep: its runs and forkserver stop, the unfinished run is not marked done."""
    import os
    import signal
    import time

    sweep = subprocess.Popen([str(REPO / ".venv/bin/python"), "-m", "redit.sweep", "--runs", str(tmp_path), "--seeds", "0",
                              "--steps", "500", "--jobs", "1"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "main" / "grpo-s0" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.5)
    assert metrics.is_file(), "the run never started"
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    time.sleep(4)  # the runs poll the sweep once a second
    lines = metrics.read_text().count("\n")
    time.sleep(3)
    assert metrics.read_text().count("\n") == lines  # nobody writes any more
    assert not (tmp_path / "main" / "grpo-s0" / "done.json").exists()


@pytest.mark.slow
def test_a_second_writer_on_a_run_folder_stops_and_corrupts_nothing(tmp_path):
    import json
    import os
    import sys
    import time

    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "redit.train", "--run-dir", str(run_dir), "--steps", "400", "--val-every", "400",
           "--val-problems", "50", "--threads", "1"]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        metrics = run_dir / "metrics.jsonl"
        deadline = time.time() + 240
        while time.time() < deadline and not (metrics.is_file() and metrics.read_text().count("\n") >= 3):
            time.sleep(0.5)
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.strip() and not line.startswith("Loading weights")]
        assert len(lines) == 1 and "another process is writing" in lines[0], lines
        before = metrics.read_text().count("\n")
        time.sleep(3)
        assert first.poll() is None and metrics.read_text().count("\n") > before  # the first writer carries on
        steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
        assert steps == list(range(len(steps)))  # one writer: every line whole, steps in order
    finally:
        first.kill()
        first.wait()


@pytest.mark.slow
def test_a_partial_grid_never_writes_over_the_committed_results(tmp_path):
    import hashlib
    import shutil

    def snapshot():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((REPO / "results" / "tiny").rglob("*")) if p.is_file()}

    before = snapshot()
    partial = REPO / "results" / "tiny-partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        proc = run_all("--only", "adaptive", "--seeds", "0", "--steps", "1", "--runs", tmp_path / "runs", timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "partial grid: results go to results/tiny-partial" in proc.stdout
        assert (partial / "README.md").is_file() and (partial / "adaptive_table.md").is_file()
        assert snapshot() == before  # the committed results are untouched
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def test_the_regime_knobs_reach_the_run_config(tmp_path):
    """Each regime level's difficulty and temperature end up in what the run computes (and so in its
    config.json, which train.run_config builds from it), and only there: arms of a level share them."""
    jobs = {j.name: j for j in sweep.grid(tmp_path, ["regime"], seeds=[0], steps=60)}
    for level, (max_number, min_ops, max_ops, temperature) in registry.REGIME_LEVELS.items():
        cfg = train.resolve_config(train.parse_args(jobs[f"regime/{level}-grpo-s0"].args))
        assert (cfg["task_config"]["max_number"], cfg["task_config"]["min_ops"], cfg["task_config"]["max_ops"]) == \
            (max_number, min_ops, max_ops)
        assert cfg["temperature"] == temperature and cfg["task_config"]["n_test"] == 1000 and cfg["val_every"] == 20
        redit = train.resolve_config(train.parse_args(jobs[f"regime/{level}-redit-s0"].args))
        assert redit["task_config"] == cfg["task_config"] and redit["dither"]["sigma"] == 0.05
        written = train.run_config(cfg, {"path": "p"}, {"train_rows": 1}, "regime", f"{level}-grpo")
        assert written["task_config"] == cfg["task_config"] and written["temperature"] == temperature
        assert (written["experiment"], written["variant"]) == ("regime", f"{level}-grpo")
    assert {name.split("/")[1].rsplit("-s", 1)[0] for name in jobs} >= {"hard-zero_var", "hardest-mixed"}


def test_a_baseline_linked_into_several_experiments_counts_once(tmp_path):
    """The sweep links one GRPO run into variance/, scope/ and adaptive/: as a baseline it is n = 1."""
    from analysis.reader import load_runs
    from analysis.tables import baseline_runs, unique_runs

    jobs = sweep.grid(tmp_path, ["variance", "scope", "adaptive"], seeds=[0], steps=30)
    sweep.link_duplicates(jobs)
    shared = tmp_path / "variance" / "grpo-s0"
    shared.mkdir(parents=True)
    cfg = train.resolve_config(train.parse_args(["--run-dir", str(shared), "--seed", "0", "--steps", "30", "--dist", "none"]))
    (shared / "config.json").write_text(json.dumps({**cfg, "experiment": "variance", "variant": "grpo"}))
    (shared / "metrics.jsonl").write_text('{"step": 0, "data": {"val-core/tiny/acc/mean@1": 0.5}}\n')
    (shared / "done.json").write_text("{}")
    treated = tmp_path / "scope" / "zero_var-s0"
    treated.mkdir(parents=True)
    args = ["--run-dir", str(treated), "--seed", "0", "--steps", "30", "--dist", "gaussian", "--sigma", "0.1", "--scope", "zero_var"]
    (treated / "config.json").write_text(json.dumps({**train.resolve_config(train.parse_args(args)), "experiment": "scope",
                                                     "variant": "zero_var"}))
    (treated / "metrics.jsonl").write_text('{"step": 0, "data": {"val-core/tiny/acc/mean@1": 0.5}}\n')
    (treated / "done.json").write_text("{}")
    runs = load_runs(tmp_path)
    assert sum(r.name == "grpo-s0" for r in runs) == 3  # one run, shown in three experiments
    like = next(r for r in runs if r.name == "zero_var-s0")
    assert len(baseline_runs([like], like, runs)) == 1
    assert [r.name for r in unique_runs(runs)].count("grpo-s0") == 1  # the variance figure's "no dithering" band too


def _checkout_without_venv(tmp_path):
    """The files run_all.sh reads, in a folder with no .venv; scripts/ensure_venv.sh there only leaves a mark and
    fails (so a call that would install the environment shows, in a second, instead of installing for minutes)."""
    import shutil

    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("redit", "experiments", "patches", "analysis"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    shutil.copy2(REPO / "run_all.sh", root / "run_all.sh")
    (root / "scripts").mkdir()
    (root / "scripts" / "ensure_venv.sh").write_text('touch "$(dirname "${BASH_SOURCE[0]}")/../ENSURE_VENV_CALLED"; exit 3\n')
    return root


def test_help_installs_nothing_without_a_venv(tmp_path):
    root = _checkout_without_venv(tmp_path)
    proc = subprocess.run(["./run_all.sh", "--help"], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not (root / "ENSURE_VENV_CALLED").exists() and not (root / ".venv").exists()
    assert "--max-concurrent" in proc.stdout and "--partition" in proc.stdout and "--account" in proc.stdout
    listed = [line.split()[0] for line in proc.stdout.split("Experiments (redit/registry.py):")[1].splitlines()
              if line and not line.startswith(" ")]
    assert listed == list(registry.EXPERIMENTS)  # read from the registry by the system python3


def test_py_from_the_environment_and_slurm_options_reach_sbatch(tmp_path):
    """PY=<a cluster's python> ./run_all.sh --scale paper --launcher slurm: no .venv is built, and --partition,
    --account and --max-concurrent end up in every generated sbatch file (printed by --dry-run)."""
    import os
    import re

    root = _checkout_without_venv(tmp_path)
    env = {**os.environ, "PY": str(REPO / ".venv" / "bin" / "python")}
    proc = subprocess.run(["./run_all.sh", "--scale", "paper", "--launcher", "slurm", "--dry-run", "--only", "distribution",
                           "--seeds", "0", "--partition", "gpu-a100", "--account", "proj42", "--max-concurrent", "2"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not (root / "ENSURE_VENV_CALLED").exists() and not (root / ".venv").exists()
    sbatch = [block for block in proc.stdout.split("# ---- ")[1:] if block.split("\n", 1)[0].endswith(".sbatch")]
    assert sbatch
    for block in sbatch:
        assert "#SBATCH --partition=gpu-a100" in block and "#SBATCH --account=proj42" in block
        assert re.search(r"^#SBATCH --array=0-2%2$", block, re.M), block  # 3 distributions x seed 0, 2 at a time
    assert re.search(r"^sbatch .*\.sbatch$", proc.stdout, re.M)
    jobs = [block for block in proc.stdout.split("# ---- ")[1:] if block.split("\n", 1)[0].endswith(".jobs")]
    assert sum(block.count("experiments/gsm8k/run.sh") for block in jobs) == 3


@pytest.mark.parametrize("args", [["--partition", "gpu"], ["--scale", "paper", "--launcher", "ray", "--account", "a"],
                                  ["--scale", "paper", "--launcher", "slurm", "--max-concurrent", "0"]])
def test_slurm_options_outside_slurm_are_one_line(args):
    proc = run_all(*args, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--launcher slurm" in proc.stderr or "--max-concurrent" in proc.stderr


def test_a_missing_sbatch_fails_in_one_line_and_leaves_no_launch_list(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}  # no sbatch on this PATH
    proc = subprocess.run(["./run_all.sh", "--scale", "paper", "--launcher", "slurm", "--only", "distribution"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0 and "sbatch not found" in proc.stderr
    assert not any(tmp_path.iterdir())  # the launch-list temp file is removed on the way out
