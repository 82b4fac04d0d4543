"""A run's identity travels in its config.json (`experiment`, `variant`: redit/registry.py names), not in its
folder path: redit.train validates and writes them, the analysis groups and labels levels by them, and
scripts/label_runs.py labels run folders written before."""

import json
import sys
import warnings

import pytest

import analysis
from analysis import convergence, regime, remedies
from analysis_fixtures import step_records, write_run
from redit import REPO_ROOT, runlog, train
from redit.dither import DitherConfig

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import label_runs  # noqa: E402


# ---- redit.train --experiment/--variant ---------------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (["--experiment", "regim"], "unknown experiment 'regim'; choose from regime, remedies"),
    (["--experiment", "regime", "--variant", "hard-zero_var-s0"], "experiment 'regime' has no variant 'hard-zero_var-s0'; choose from easy-grpo"),
    (["--experiment", "main", "--variant", "hard-grpo"], "experiment 'main' has no variant 'hard-grpo'"),
    (["--variant", "hard-grpo"], "--variant hard-grpo needs --experiment"),
])
def test_train_refuses_a_name_the_registry_does_not_know_before_any_work(args, needle, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train.main(["--run-dir", str(run_dir), "--steps", "1", *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not run_dir.exists()


def test_train_writes_the_identity_into_config_json_but_not_into_what_the_run_computes(tmp_path):
    args = ["--run-dir", str(tmp_path / "r"), "--seed", "0", "--experiment", "regime", "--variant", "hard-grpo",
            "--max-number", "15", "--min-ops", "1", "--max-ops", "2"]
    cfg = train.resolve_config(train.parse_args(args))
    assert "experiment" not in cfg and cfg["task_config"]["min_ops"] == 1 and cfg["task_config"]["max_ops"] == 2
    # the same run under another label computes the same thing (the sweep links such runs instead of training twice)
    assert cfg == train.resolve_config(train.parse_args(args[:4] + args[8:]))
    written = train.run_config(cfg, {"path": "p"}, {"train_rows": 1}, "regime", "hard-grpo")
    assert (written["experiment"], written["variant"]) == ("regime", "hard-grpo")
    plain = runlog.run_config(backend="trl", task="tiny", algorithm="grpo", seed=0, steps=1, dither=DitherConfig())
    assert "experiment" not in plain and "variant" not in plain  # only when given


# ---- the analysis reads the identity ---------------------------------------------------------------
FLAT = dict(val=(0.4, 0.5, 0.6, 0.6, 0.6), grad=(0.5,) * 8)
HARD = dict(task_config={"max_number": 15, "min_ops": 1, "max_ops": 2}, temperature=1.0, val_every=20)


def test_config_labels_win_over_folders_and_levels_are_registry_names(tmp_path):
    # folder names that say nothing: the labels decide experiment, variant, level and arm
    for seed in (0, 1):
        write_run(tmp_path / "a", f"x-s{seed}", "none", seed, step_records(**FLAT), experiment="regime", variant="hard-grpo", **HARD)
        write_run(tmp_path / "b", f"y-s{seed}", "gaussian", seed, step_records(**FLAT), experiment="regime", variant="hard-redit", **HARD)
        write_run(tmp_path / "c", f"z-s{seed}", "none", seed, step_records(**FLAT), experiment="remedies", variant="hard-filter",
                  algorithm="filter", **HARD)
    runs = analysis.load_runs(tmp_path)
    assert sorted({(r.experiment, r.variant, r.level, r.arm) for r in runs}) == [
        ("regime", "hard-grpo", "hard", "grpo"), ("regime", "hard-redit", "hard", "redit"), ("remedies", "hard-filter", "hard", "filter")]
    table = regime.regime_table([r for r in runs if r.experiment == "regime"])
    assert set(table["level"]) == {"hard"}  # not "max_number=15, ..."
    assert {remedies.level_and_arm(r) for r in runs if r.experiment == "remedies"} == {("hard", "filter")}
    assert set(analysis.run_summaries(runs)["variant"]) == {"hard-grpo", "hard-redit", "hard-filter"}


def test_size_and_convergence_read_level_arm_and_policy_size_from_the_registry(tmp_path):
    write_run(tmp_path, "anything-s0", "none", 0, step_records(**FLAT), experiment="size", variant="wide-hard-grpo", **HARD)
    write_run(tmp_path, "other-s0", "gaussian", 0, step_records(**FLAT), experiment="convergence", variant="default-redit")
    by = {r.experiment: r for r in analysis.load_runs(tmp_path)}
    assert convergence.parse(by["size"], with_size=True) == {"level": "hard", "arm": "grpo", "seed": 0, "size": "wide"}
    assert convergence.parse(by["convergence"]) == {"level": "default", "arm": "redit", "seed": 0}
    with pytest.raises(ValueError, match="labelled size/wide-hard-grpo, not a convergence variant"):
        convergence.parse(by["size"])


def test_a_folder_without_labels_is_unlabelled_with_one_warning_naming_the_fix(tmp_path):
    write_run(tmp_path, "grpo-s0", "none", 0, step_records(**FLAT))
    write_run(tmp_path / "variance", "grpo-s1", "none", 1, step_records(**FLAT))
    with pytest.warns(UserWarning, match=r"2 run folders .* grouped as 'unlabelled'; label them with: python scripts/label_runs.py --runs"):
        runs = analysis.load_runs(tmp_path)
    assert {r.experiment for r in runs} == {"unlabelled"} and {r.variant for r in runs} == {None}


def test_a_sweep_link_is_the_experiment_it_sits_in(tmp_path):
    write_run(tmp_path / "variance", "grpo-s0", "none", 0, step_records(**FLAT), experiment="variance", variant="grpo")
    (tmp_path / "scope").mkdir()
    (tmp_path / "scope" / "grpo-s0").symlink_to("../variance/grpo-s0")
    assert sorted((r.experiment, r.variant) for r in analysis.load_runs(tmp_path)) == [("scope", "grpo"), ("variance", "grpo")]


# ---- scripts/label_runs.py -----------------------------------------------------------------------------
LEGACY_HARD = dict(task_config={"max_number": 15, "min_steps": 1, "max_steps": 2, "n_test": 1000}, temperature=1.0, val_every=20)


def legacy_tree(root):
    """Run folders as the sweep wrote them before runs were labelled: main's in the root, the task knobs' old names."""
    write_run(root, "grpo-s0", "none", 0, step_records(**FLAT), task_config={"max_number": 9, "min_steps": 1, "max_steps": 2})
    write_run(root / "regime", "hard-redit-s1", "gaussian", 1, step_records(**FLAT), **LEGACY_HARD)
    (root / "scope").mkdir()
    (root / "scope" / "grpo-s0").symlink_to("../grpo-s0")  # the sweep's "same run as": skipped, its place names it
    return root


def configs(root):
    return {p.parent.relative_to(root).as_posix(): json.loads(p.read_text()) for p in sorted(root.rglob("config.json"))
            if not p.parent.is_symlink()}


def test_label_runs_labels_legacy_folders_once_and_touches_no_metrics(tmp_path, capsys):
    root = legacy_tree(tmp_path / "runs")
    metrics = (root / "regime" / "hard-redit-s1" / "metrics.jsonl").read_bytes()
    assert label_runs.main(["--runs", str(root), "--dry-run"]) == 0 and "2 of 2 run folders to label" in capsys.readouterr().out
    assert "experiment" not in configs(root)["grpo-s0"]  # a dry run writes nothing
    assert label_runs.main(["--runs", str(root)]) == 0
    labelled = configs(root)
    assert (labelled["grpo-s0"]["experiment"], labelled["grpo-s0"]["variant"]) == ("main", "grpo")
    assert (labelled["regime/hard-redit-s1"]["experiment"], labelled["regime/hard-redit-s1"]["variant"]) == ("regime", "hard-redit")
    assert labelled["regime/hard-redit-s1"]["task_config"] == {"max_number": 15, "min_ops": 1, "max_ops": 2, "n_test": 1000}
    assert (root / "regime" / "hard-redit-s1" / "metrics.jsonl").read_bytes() == metrics
    assert label_runs.main(["--runs", str(root)]) == 0 and "0 of 2 run folders labelled" in capsys.readouterr().out  # idempotent
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is unlabelled any more
        runs = analysis.load_runs(root)
    assert sorted((r.experiment, r.variant, r.level) for r in runs) == [
        ("main", "grpo", None), ("regime", "hard-redit", "hard"), ("scope", "grpo", None)]


def test_label_runs_refuses_a_folder_whose_config_is_not_its_variant_and_writes_nothing(tmp_path, capsys):
    root = legacy_tree(tmp_path / "runs")
    write_run(root / "regime", "hard-grpo-s0", "gaussian", 0, step_records(**FLAT), **LEGACY_HARD)  # noise in a GRPO folder
    before = configs(root)
    assert label_runs.main(["--runs", str(root)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hard-grpo-s0" in lines[0] and "dist 'gaussian' (registry: 'none')" in lines[0]
    assert configs(root) == before


def test_label_runs_moves_main_into_its_folder_unless_a_link_points_at_it(tmp_path, capsys):
    root = legacy_tree(tmp_path / "runs")
    assert label_runs.main(["--runs", str(root), "--move-main"]) == 2
    assert "is the target of a link" in capsys.readouterr().err and (root / "grpo-s0").is_dir()
    (root / "scope" / "grpo-s0").unlink()
    assert label_runs.main(["--runs", str(root), "--move-main"]) == 0
    assert (root / "main" / "grpo-s0" / "done.json").is_file() and not (root / "grpo-s0").exists()


def test_the_committed_runs_are_labelled():
    """results/tiny/runs was labelled by scripts/label_runs.py: nothing left to do there."""
    assert label_runs.plan(REPO_ROOT / "results" / "tiny" / "runs") == ([], [])


def test_label_runs_leaves_a_folder_it_cannot_name_and_says_so(tmp_path, capsys):
    root = legacy_tree(tmp_path / "runs")
    write_run(root / "mine", "try-3", "none", 0, step_records(**FLAT))  # not the sweep's layout
    write_run(root / "variance", "gsm8k-gaussian-0.1-s0", "gaussian", 0, step_records(**FLAT), sigma=0.1, task="gsm8k")  # verl's
    assert label_runs.main(["--runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert "left unlabelled " + str(root / "mine" / "try-3") in out and "3 of 4 run folders labelled" in out
    assert configs(root)["variance/gsm8k-gaussian-0.1-s0"]["variant"] == "gaussian-0.1" and "experiment" not in configs(root)["mine/try-3"]


def test_a_finished_run_with_the_legacy_knob_names_is_still_the_same_run(tmp_path, capsys):
    """redit.train skips a finished run whose config.json predates the min_ops/max_ops rename (no false "differs")."""
    run_dir = tmp_path / "run"
    args = ["--run-dir", str(run_dir), "--seed", "0", "--steps", "1", "--dist", "none", "--val-problems", "20"]
    cfg = train.resolve_config(train.parse_args(args))
    legacy = {**cfg, "task_config": {label_runs.tiny_task.LEGACY_NAMES.get(k, k): v for k, v in cfg["task_config"].items()}}
    assert "min_steps" in legacy["task_config"]
    from redit.tiny_policy import policy_dir

    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({**legacy, "model": {"path": str(policy_dir())}}))
    (run_dir / "metrics.jsonl").write_text("")
    (run_dir / "done.json").write_text("{}")
    assert train.main(args) == 0 and "[skip]" in capsys.readouterr().out


def test_figure_panels_name_a_registry_level_not_its_knobs(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path, f"a-s{seed}", "none", seed, step_records(**FLAT), experiment="regime", variant="hard-grpo", **HARD)
        write_run(tmp_path, f"b-s{seed}", "none", seed, step_records(**FLAT), experiment="regime", variant="easy-grpo",
                  task_config={"max_number": 5, "min_ops": 1, "max_ops": 1}, temperature=0.3, val_every=20)
    runs = analysis.load_runs(tmp_path)
    assert sorted({analysis.full_arm_label(runs)(r) for r in runs}) == ["grpo, level easy", "grpo, level hard"]
