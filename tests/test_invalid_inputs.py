"""Bad input, as a careless user types it: each case must exit != 0 with ONE line naming the problem
(and the fix), before any long work, writing nothing. The table at the bottom of each section is the
list of cases; `python -m pytest tests/test_invalid_inputs.py -v` prints it as tried / held."""

import json
import subprocess

import pytest

from redit import REPO_ROOT, sweep, train

PY = str(REPO_ROOT / ".venv" / "bin" / "python")


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Loading weights")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:"), lines[0]
    return lines[0]


# ---- python -m redit.train ---------------------------------------------------------------------------
TRAIN_CASES = {
    "run-dir is a file": (["--run-dir", "{file}"], "is a file"),
    "run-dir under a file": (["--run-dir", "{file}/run"], "sits under the file"),
    "run-dir missing": ([], "--run-dir is required"),
    "steps -1": (["--steps", "-1"], "--steps must be >= 1"),
    "steps 0": (["--steps", "0"], "--steps must be >= 1"),
    "steps not a number": (["--steps", "abc"], "invalid int value"),
    "prompts-per-step 0": (["--prompts-per-step", "0"], "--prompts-per-step must be >= 1"),
    "num-generations 1": (["--num-generations", "1"], "generations"),
    "val-every 0": (["--val-every", "0"], "--val-every must be >= 1"),
    "max-new-tokens 0": (["--max-new-tokens", "0"], "must be >= 1"),
    "threads 0": (["--threads", "0"], "--threads must be >= 1"),
    "lr nan": (["--lr", "nan"], "--lr must be a finite number > 0"),
    "lr negative": (["--lr", "-1"], "--lr must be a finite number > 0"),
    "lr 0": (["--lr", "0"], "--lr must be a finite number > 0"),
    "temperature 0": (["--temperature", "0"], "--temperature must be a finite number > 0"),
    "temperature inf": (["--temperature", "inf"], "--temperature must be a finite number > 0"),
    "max-grad-norm -1": (["--max-grad-norm", "-1"], "--max-grad-norm must be a finite number >= 0"),
    "sigma negative": (["--dist", "gaussian", "--sigma", "-0.1"], "sigma must be a finite number >= 0"),
    "sigma nan": (["--dist", "gaussian", "--sigma", "nan"], "sigma must be a finite number >= 0"),
    "dist none with sigma": (["--dist", "none", "--sigma", "0.5"], "--dist none (plain GRPO) adds no noise"),
    "dist gaussian with sigma 0": (["--dist", "gaussian", "--sigma", "0"], "adds no noise"),
    "unknown dist": (["--dist", "cauchy", "--sigma", "0.1"], "invalid choice"),
    "sigma-end negative": (["--dist", "gaussian", "--sigma", "0.1", "--schedule", "linear", "--sigma-end", "-1"], "sigma_end"),
    "unknown schedule": (["--dist", "gaussian", "--sigma", "0.1", "--schedule", "sawtooth"], "invalid choice"),
    "unknown scope": (["--dist", "gaussian", "--sigma", "0.1", "--scope", "some"], "invalid choice"),
    "adaptive without noise": (["--adaptive", "flip_rate"], "--adaptive needs a noise --dist"),
    "adaptive with a schedule": (["--dist", "gaussian", "--sigma", "0.1", "--schedule", "linear", "--adaptive", "flip_rate"],
                                 "--adaptive needs a noise --dist and the constant --schedule"),
    "adaptive setpoint negative": (["--dist", "gaussian", "--sigma", "0.05", "--adaptive", "flip_rate", "--setpoint", "-1"],
                                   "setpoint > 0"),
    "unknown flag": (["--bogus", "1"], "unrecognized arguments"),
    "unknown algorithm": (["--algorithm", "ppo2"], "invalid choice"),
    "unknown task": (["--task", "chess"], "invalid choice"),
    "model path missing": (["--model", "/nonexistent/model"], "neither a model folder nor a hub id"),
    "model folder without config.json": (["--model", "{empty_dir}"], "not a model folder"),
    "model folder with non-JSON config.json": (["--model", "{bad_config_model}"], "config.json cannot be read"),
    "model folder with truncated weights": (["--model", "{truncated_model}"], "damaged or truncated"),
    "max-number 0": (["--max-number", "0"], "max_number must be >= 1"),
    "min-ops above max-ops": (["--min-ops", "3", "--max-ops", "1"], "min_ops <= max_ops"),
    "val-problems 0": (["--val-problems", "0"], "must be >= 1"),
    "tiny knob on gsm8k": (["--task", "gsm8k", "--max-number", "12"], "tiny-task knobs"),
    "paper reward on tiny": (["--reward", "paper"], "--reward paper exists for"),
    "geo3k on TRL": (["--task", "geo3k"], "vision-language"),
    "recipe file missing": (["--config", "/nonexistent.yaml"], "is not a file"),
    "recipe not a mapping": (["--config", "{list_yaml}"], "must be a YAML mapping"),
    "recipe with an unknown key": (["--config", "{unknown_key_yaml}"], "unknown options"),
    "finished run with non-JSON config": (["--run-dir", "{damaged_run}"], "is not readable JSON"),
    "finished run with other steps": (["--run-dir", "{finished_run}", "--steps", "7"], "different steps"),
    "finished run with another model": (["--run-dir", "{finished_run}", "--steps", "3", "--model", "{other_model}"], "different model;"),
    # issue 22, second review: run folders that cannot be, malformed recipes, options that would be ignored,
    # failures that used to come after the run folder was written
    "run-dir empty": (["--run-dir", ""], "must name a run folder"),
    "run-dir the working directory": (["--run-dir", "."], "must name a run folder"),
    "run-dir name of 300 characters": (["--run-dir", "{root}/" + "x" * 300], "longer than 255 bytes"),
    "run-dir a symlink loop": (["--run-dir", "{loop}/run"], "a symlink loop?"),
    "run-dir under /proc": (["--run-dir", "/proc/redit-never-written"], "cannot write the run folder /proc/redit-never-written"),
    "recipe not valid YAML": (["--config", "{broken_yaml}"], "is not valid YAML at line"),
    "recipe env as a list": (["--config", "{env_list_yaml}"], "`env:` must be a mapping"),
    "recipe --config=FILE missing": (["--config=/nonexistent.yaml"], "--config /nonexistent.yaml is not a file"),
    "sigma-end without a schedule": (["--dist", "gaussian", "--sigma", "0.1", "--sigma-end", "0.2"],
                                     "--sigma-end applies to a decaying"),
    "setpoint without adaptive": (["--dist", "gaussian", "--sigma", "0.1", "--setpoint", "0.1"], "--setpoint is the target of --adaptive"),
    "scope with dist none": (["--scope", "zero_var"], "--scope chooses which groups get noise"),
    "gradient accumulation 0": (["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be >= 1"),
    "num-generations absurd (would hang)": (["--num-generations", "1000000"], "beyond this backend's bounds"),
    "completions per step absurd": (["--num-generations", "64", "--prompts-per-step", "100000"], "beyond this backend's bounds"),
    "wandb without a login": (["--report_to", "wandb"], "no wandb login"),
    "model folder without weights": (["--model", "{weightless_model}"], "has no weights"),
    "fill strength without its arm": (["--fill-strength", "0.3"], "--fill-strength is an option of --algorithm directional_fill"),
    "policy size with a model": (["--policy-size", "large", "--model", "{other_model}"], "--policy-size picks a tiny policy"),
}


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, tiny_policy_path):
    root = tmp_path_factory.mktemp("bad")
    (root / "afile").write_text("x")
    (root / "empty").mkdir()
    bad_config = root / "bad_config_model"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{not json")
    truncated = root / "truncated_model"
    truncated.mkdir()
    for f in tiny_policy_path.iterdir():
        data = f.read_bytes()
        (truncated / f.name).write_bytes(data[: len(data) // 2] if f.suffix == ".safetensors" else data)
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "unknown.yaml").write_text("not_an_option: 3\n")
    damaged = root / "damaged_run"
    damaged.mkdir()
    (damaged / "config.json").write_bytes(b"\x00\xff garbage")
    (damaged / "metrics.jsonl").write_text('{"step": 0, "data": {}}\n')
    (damaged / "done.json").write_text("{}")
    other_model = root / "other_model"  # a readable model folder that is not the tiny policy
    other_model.mkdir()
    for f in tiny_policy_path.iterdir():
        (other_model / f.name).write_bytes(f.read_bytes())
    finished = root / "finished_run"  # a finished default run (config as train would write it), no training needed
    finished.mkdir()
    cfg = train.resolve_config(train.parse_args(["--run-dir", str(finished), "--steps", "3"]))
    (finished / "config.json").write_text(json.dumps({**cfg, "model": {"path": str(tiny_policy_path), "name_or_path": None}}))
    (finished / "metrics.jsonl").write_text('{"step": 0, "data": {}}\n')
    (finished / "done.json").write_text("{}")
    (root / "broken.yaml").write_text("task: tiny\nsteps: [1, 2\n")
    (root / "env_list.yaml").write_text("env:\n  - A=1\n")
    loop = root / "loop"
    loop.symlink_to(loop)
    weightless = root / "weightless_model"
    weightless.mkdir()
    for f in tiny_policy_path.iterdir():
        if f.suffix != ".safetensors":
            (weightless / f.name).write_bytes(f.read_bytes())
    return {"broken_yaml": root / "broken.yaml", "env_list_yaml": root / "env_list.yaml", "loop": loop,
            "weightless_model": weightless,
            "file": root / "afile", "empty_dir": root / "empty", "bad_config_model": bad_config, "truncated_model": truncated,
            "list_yaml": root / "list.yaml", "unknown_key_yaml": root / "unknown.yaml", "damaged_run": damaged,
            "finished_run": finished, "other_model": other_model, "root": root}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_rejects(case, bad_inputs, tmp_path, capsys):
    args, expected = TRAIN_CASES[case]
    args = [a.format(**bad_inputs) for a in args]
    if "--run-dir" not in args and case != "run-dir missing":
        args += ["--run-dir", str(tmp_path / "run")]
    before = {p: p.read_bytes() for p in bad_inputs["root"].rglob("*") if p.is_file()}
    assert train.main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert expected in line, line
    assert not (tmp_path / "run").exists()  # nothing written
    assert {p: p.read_bytes() for p in bad_inputs["root"].rglob("*") if p.is_file()} == before  # nothing changed


# ---- python -m redit.sweep ---------------------------------------------------------------------------
SWEEP_CASES = {
    "jobs 0 (would hang)": (["--jobs", "0"], "--jobs must be >= 1"),
    "jobs negative": (["--jobs", "-2"], "--jobs must be >= 1"),
    "steps 0": (["--steps", "0"], "--steps must be >= 1"),
    "unknown experiment": (["--experiments", "nope"], "unknown experiment 'nope'"),
    "seeds not numbers": (["--seeds", "a"], "invalid int value"),
    "unknown option": (["--bogus"], "unrecognized arguments"),
    "train-args set the run folder": (["--train-args", "--run-dir /tmp/elsewhere"], "--train-args may not set --run-dir"),
    "train-args set the seed": (["--train-args", "--lr 1e-5 --seed=3"], "--train-args may not set --seed"),
    "a seed listed twice": (["--seeds", "0", "1", "0"], "lists seed 0 twice"),
    "an ablation seed listed twice": (["--ablation-seeds", "2", "2"], "--ablation-seeds lists seed 2 twice"),
}


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_sweep_rejects(case, tmp_path, capsys):
    args, expected = SWEEP_CASES[case]
    assert sweep.main(["--runs", str(tmp_path / "runs"), *args]) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


# ---- ./run_all.sh ------------------------------------------------------------------------------------
RUN_ALL_CASES = {
    "launcher at tiny scale (was silently ignored)": (["--launcher", "slurm", "--quick"], "launches the paper-scale verl recipes"),
    "jobs negative": (["--jobs", "-2"], "take a whole number >= 1, got"),
    "jobs 0": (["--jobs", "0"], "take a whole number >= 1, got"),
    "steps without a value": (["--steps"], "--steps needs a value"),
    "steps followed by another option": (["--steps", "--quick"], "--steps needs a value"),
    "steps not a number": (["--steps", "abc"], "take a whole number"),
    "ablation-steps 0": (["--ablation-steps", "0"], "take a whole number"),
    "seeds empty": (["--seeds", ""], "--seeds needs a value"),
    "seeds not numbers": (["--seeds", "0 x"], "--seeds takes whole numbers"),
    "unknown experiment": (["--only", "nope"], "--only nope is not an experiment"),
    "unknown scale": (["--scale", "huge"], "--scale must be"),
    "unknown option": (["--bogus"], "unknown option --bogus"),
    "dry-run at tiny scale": (["--dry-run"], "--dry-run is for --scale paper"),
}


@pytest.mark.parametrize("case", list(RUN_ALL_CASES))
def test_run_all_rejects(case, tmp_path):
    args, expected = RUN_ALL_CASES[case]
    proc = subprocess.run(["./run_all.sh", *args, "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert expected in one_error_line(proc.stderr)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


# ---- python -m analysis --------------------------------------------------------------------------------
def _analysis_fixture(root, monkeypatch):
    from analysis_fixtures import write_fixture_runs

    write_fixture_runs(root / "runs", monkeypatch)
    single = next(p.parent for p in (root / "runs").rglob("config.json"))
    bad_config = root / "bad_config"
    bad_config.mkdir()
    (bad_config / "run-s0").mkdir()
    (bad_config / "run-s0" / "config.json").write_text("{not json")
    (bad_config / "run-s0" / "metrics.jsonl").write_text('{"step": 0, "data": {}}\n')
    (bad_config / "run-s0" / "done.json").write_text("{}")
    (root / "afile").write_text("x")
    broken = {}
    for name, config, metrics in (("config_list", "[1, 2]", None), ("dither_string", '{"seed": 0, "dither": "gaussian"}', None),
                                  ("corrupt_gz", '{"seed": 0}', b"\x1f\x8b\x08\x00garbage")):
        run = root / name / "run-s0"
        run.mkdir(parents=True)
        (run / "config.json").write_text(config)
        (run / ("metrics.jsonl.gz" if metrics else "metrics.jsonl")).write_bytes(metrics or b'{"step": 0, "data": {}}\n')
        (run / "done.json").write_text("{}")
        broken[name] = root / name
    (root / "columns.csv").write_text("id,value\nabstract_gain,4\n")
    return {"runs": root / "runs", "single": single, "bad_config": bad_config, "afile": root / "afile",
            "columns_csv": root / "columns.csv", **broken}


ANALYSIS_CASES = {
    "runs folder missing": (["--runs", "{root}/nope", "--out", "{root}/out"], "no run folder"),
    "runs is a single run folder": (["--runs", "{single}", "--out", "{root}/out"], "is a single run folder"),
    "a run's config.json is not JSON": (["--runs", "{bad_config}", "--out", "{root}/out"], "is not readable JSON"),
    "out is a file": (["--runs", "{runs}", "--out", "{afile}"], "is a file, not a folder"),
    "other runs without --out (would overwrite results/tiny)": (["--runs", "{runs}"], "pass --out DIR"),
    "smooth-evals 0": (["--runs", "{runs}", "--out", "{root}/out", "--smooth-evals", "0"], "--smooth-evals must be >= 1"),
    "unknown option": (["--bogus"], "unrecognized arguments"),
    "a run's config.json is a JSON list": (["--runs", "{config_list}", "--out", "{root}/out"], "is not a JSON object"),
    "a run's dither is a string": (["--runs", "{dither_string}", "--out", "{root}/out"], "has 'dither' that is not a JSON object"),
    "a corrupt metrics.jsonl.gz": (["--runs", "{corrupt_gz}", "--out", "{root}/out"], "a corrupt or truncated file"),
    "export-runs onto a file": (["--runs", "{runs}", "--export-runs", "{afile}"], "--export-runs"),
    "reference without its columns": (["--runs", "{runs}", "--out", "{root}/out", "--reference", "{columns_csv}"],
                                      "lacks the columns metric, task, method, step, model, location"),
}


def test_bad_metrics_lines_are_skipped_and_a_symlink_loop_counts_a_run_once(tmp_path):
    """A step of 1e999 or a `data` that is a list is one unreadable line (skipped, with a warning), not a
    traceback; a link from a run folder back to its parent is not walked again and again."""
    import os
    import warnings

    from analysis import load_runs, read_metrics

    run = tmp_path / "runs" / "grpo-s0"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"seed": 0, "steps": 2}')
    (run / "metrics.jsonl").write_text('{"step": 0, "data": {"x": 1}}\n{"step": 1e999, "data": {"x": 2}}\n'
                                       '{"step": 2, "data": [1, 2]}\n{"step": "data", "data": {}}\n{"step": 3, "data": {"x": 4}}\n')
    (run / "done.json").write_text("{}")
    os.symlink("..", run / "loop")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_metrics(run / "metrics.jsonl")
        runs = load_runs(tmp_path / "runs")
    assert list(frame.index) == [0, 3] and sum("unreadable metrics line" in str(w.message) for w in caught) >= 3
    assert [r.name for r in runs] == ["grpo-s0"]


@pytest.mark.parametrize("case", list(ANALYSIS_CASES))
def test_analysis_rejects(case, tmp_path, capsys, monkeypatch):
    import analysis

    paths = {"root": tmp_path, **_analysis_fixture(tmp_path, monkeypatch)}
    args, expected = ANALYSIS_CASES[case]
    assert analysis.main([a.format(**paths) for a in args]) == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# ---- experiments/<task>/run.sh (verl recipes; a dry run must refuse the same inputs) -------------------
RECIPE_CASES = {
    "STEPS=0": ({"STEPS": "0"}, "STEPS must be a whole number >= 1"),
    "TRAIN_BATCH=abc": ({"TRAIN_BATCH": "abc"}, "TRAIN_BATCH must be a whole number >= 1"),
    "ROLLOUT_N=1": ({"ROLLOUT_N": "1"}, "ROLLOUT_N must be a whole number >= 2"),
    "LR=-1": ({"LR": "-1"}, "LR must be a finite number > 0"),
    "SEED=x": ({"SEED": "x"}, "SEED must be a whole number >= 0"),
    "SIGMA=0 for a ReDit method": ({"METHOD": "redit-gaussian", "SIGMA": "0"}, "adds no noise"),
    "SIGMA=nan": ({"METHOD": "redit-gaussian", "SIGMA": "nan"}, "SIGMA must be a finite number >= 0"),
    "MODEL=/nonexistent in a dry run": ({"MODEL": "/nonexistent"}, "no model at MODEL=/nonexistent"),
    "METHOD=bogus": ({"METHOD": "bogus"}, "METHOD must be"),
    "ALGORITHM=bogus": ({"ALGORITHM": "bogus"}, "ALGORITHM must be"),
    "SCALE=bogus": ({"SCALE": "bogus"}, "SCALE must be"),
    "REWARD_STYLE=bogus": ({"REWARD_STYLE": "bogus"}, "REWARD_STYLE must be paper or binary"),
}


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_recipe_rejects(case, tmp_path):
    import os

    variables, expected = RECIPE_CASES[case]
    before = set(os.listdir("/tmp"))
    proc = subprocess.run(["bash", str(REPO_ROOT / "experiments/gsm8k/run.sh"), "--dry-run"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "RUN_DIR": str(tmp_path / "run"), "DATA_ROOT": str(tmp_path / "data"),
                                            **variables})
    assert proc.returncode == 2
    assert expected in one_error_line(proc.stderr)
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()
    assert not {f for f in set(os.listdir("/tmp")) - before if f.startswith("tmp.")}  # no temporary file left behind


def test_a_dry_run_leaves_no_temporary_file(tmp_path):
    import os

    before = set(os.listdir("/tmp"))
    proc = subprocess.run(["bash", str(REPO_ROOT / "experiments/gsm8k/redit_gaussian.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RUN_DIR": str(tmp_path / "run")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not {f for f in set(os.listdir("/tmp")) - before if f.startswith("tmp.")}


def test_a_full_disk_leaves_only_whole_metrics_lines(tmp_path):
    """The file-size limit stands in for a full disk (EFBIG like ENOSPC): the write that fails is cut
    off again, the error propagates, and every line left is readable."""
    code = f"""
import resource, signal, json, errno
from redit.runlog import RunFolder
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
run = RunFolder({str(tmp_path / 'run')!r})
run.start({{"backend": "trl"}})
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
try:
    for step in range(1000):
        run.log(step, {{"critic/score/mean": 0.5, "actor/grad_norm": 1.25}})
except OSError as err:
    print("stopped", step, errno.errorcode[err.errno])
"""
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert proc.stdout.startswith("stopped") and "EFBIG" in proc.stdout, proc.stdout + proc.stderr
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert text.endswith("\n") and 0 < len(text) <= 1000
    steps = [json.loads(line)["step"] for line in text.splitlines()]
    assert steps == list(range(len(steps))) and int(proc.stdout.split()[1]) == len(steps)


def test_the_sweep_dies_with_the_process_that_started_it(tmp_path):
    """kill -9 of run_all.sh (which sets REDIT_DIE_WITH_PARENT=1) must not orphan the sweep and its runs."""
    import os
    import signal
    import time

    script = f"REDIT_DIE_WITH_PARENT=1 {PY} -m redit.sweep --runs {tmp_path / 'runs'} --experiments main --seeds 0 --steps 50 & wait"
    parent = subprocess.Popen(["bash", "-c", script], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "runs" / "sweep.json").is_file():
        time.sleep(0.5)
    assert (tmp_path / "runs" / "sweep.json").is_file(), "the sweep never started"
    out = subprocess.run(["pgrep", "-f", f"redit.sweep --runs {tmp_path / 'runs'}"], capture_output=True, text=True).stdout.split()
    sweep_pids = [int(pid) for pid in out if int(pid) != parent.pid]
    assert sweep_pids
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in sweep_pids):
        time.sleep(0.5)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in sweep_pids), "the sweep outlived run_all.sh"


def test_train_help_is_short_and_help_all_lists_trls_options():
    short = subprocess.run([PY, "-m", "redit.train", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    full = subprocess.run([PY, "-m", "redit.train", "--help-all"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert short.returncode == 0 and full.returncode == 0
    assert "--policy-size" in short.stdout and "--help-all" in short.stdout and "--gradient_checkpointing" not in short.stdout
    assert "--gradient_checkpointing" in full.stdout and len(full.stdout.splitlines()) > 4 * len(short.stdout.splitlines())


def test_analysis_prints_titles_and_verdicts_not_every_table(tmp_path, monkeypatch, capsys):
    import analysis

    paths = _analysis_fixture(tmp_path, monkeypatch)
    assert analysis.main(["--runs", str(paths["runs"]), "--out", str(tmp_path / "out"), "--scale", "fixture"]) == 0
    short = capsys.readouterr().out
    assert analysis.main(["--runs", str(paths["runs"]), "--out", str(tmp_path / "out2"), "--scale", "fixture", "--print-tables"]) == 0
    whole = capsys.readouterr().out
    assert "|---" not in short and "|---" in whole and len(short) < len(whole) / 2
    assert (tmp_path / "out" / "main_table.md").read_text() == (tmp_path / "out2" / "main_table.md").read_text()


# ---- python -m redit.launch (paper-scale job lists) --------------------------------------------------
GOOD_ADD = ["--recipe", "experiments/gsm8k/run.sh", "--run-dir", "runs/paper/x/gsm8k-grpo-s0", "--gpus-per-node", "8",
            "--nnodes", "1", "--steps", "10", "--step-seconds", "30"]
LAUNCH_CASES = {
    "no subcommand": ([], "required"),
    "unknown subcommand": (["bogus"], "invalid choice"),
    "add without --run-dir": (["add", "--list", "{list}", "--recipe", "r.sh", "--gpus-per-node", "1", "--nnodes", "1",
                               "--steps", "1", "--step-seconds", "1"], "--run-dir"),
    "add gpus 0": (["add", "--list", "{list}", *GOOD_ADD[:5], "0", *GOOD_ADD[6:]], "--gpus-per-node must be >= 1"),
    "add steps -1": (["add", "--list", "{list}", *GOOD_ADD[:9], "-1", *GOOD_ADD[10:]], "--steps must be >= 1"),
    "add step-seconds nan": (["add", "--list", "{list}", *GOOD_ADD[:11], "nan"], "--step-seconds must be a finite number > 0"),
    "add var without =": (["add", "--list", "{list}", *GOOD_ADD, "--var", "SEED"], "--var takes VAR=value"),
    "submit without a list": (["submit", "--list", "{root}/nope.jsonl", "--dry-run"], "no job list at"),
    "submit an empty list": (["submit", "--list", "{empty}", "--dry-run"], "is empty"),
    "submit a corrupt list": (["submit", "--list", "{corrupt}", "--dry-run"], "is not a job line"),
    "submit a job without its keys": (["submit", "--list", "{partial}", "--dry-run"], "lacks"),
    "submit max-concurrent 0": (["submit", "--list", "{empty}", "--launcher", "slurm", "--max-concurrent", "0"],
                                "--max-concurrent takes a whole number >= 1"),
    "submit cpus-per-gpu 0": (["submit", "--list", "{empty}", "--cpus-per-gpu", "0"], "--cpus-per-gpu takes a whole number >= 1"),
    "submit out is a file": (["submit", "--list", "{empty}", "--out", "{empty}"], "is a file, not a folder"),
    "submit unknown launcher": (["submit", "--list", "{empty}", "--launcher", "pbs"], "invalid choice"),
}


@pytest.mark.parametrize("case", list(LAUNCH_CASES))
def test_launch_rejects(case, tmp_path, capsys):
    from redit import launch

    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "corrupt.jsonl").write_text('{"name": \n')
    (tmp_path / "partial.jsonl").write_text('{"name": "a", "run_dir": "x"}\n')
    paths = {"root": tmp_path, "list": tmp_path / "jobs.jsonl", "empty": tmp_path / "empty.jsonl",
             "corrupt": tmp_path / "corrupt.jsonl", "partial": tmp_path / "partial.jsonl"}
    args, expected = LAUNCH_CASES[case]
    try:
        code = launch.main([a.format(**paths) for a in args])
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    assert expected in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "jobs.jsonl").exists()
