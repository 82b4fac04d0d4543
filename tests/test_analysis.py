"""Analysis from run folders: numbers checked against hand computation, robust reading, figures."""

import json
import math

import pandas as pd
import pytest

from redit import analysis
from redit.runlog import RunFolder


def write_run(root, name, method_dist, seed, val_accs, grad_norms, scores, task="tiny", done=True, verl_style=False):
    """A run folder in the shared schema. verl_style: only what verl's `file` logger writes + config."""
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"task": task, "seed": seed, "dither": {"dist": method_dist}}))
    lines = []
    for step, (g, s) in enumerate(zip(grad_norms, scores), 1):
        data = {"actor/grad_norm": g, "critic/score/mean": s}
        if step in val_accs:
            data[f"val-core/{task}/acc/mean@1"] = val_accs[step]
        if verl_style:
            data.update({"critic/score/max": 1.0, "timing_s/gen": 0.1, "perf/time_per_step": 1.0})
        lines.append(json.dumps({"step": step, "data": data}))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if done:
        (path / "done.json").write_text("{}")
    return path


@pytest.fixture
def fixture_runs(tmp_path):
    # final accuracies: grpo 0.50 0.60 0.70 ; redit-gaussian 0.70 0.80 (one seed verl-style)
    write_run(tmp_path, "grpo-s0", "none", 0, {2: 0.4, 4: 0.50}, [1, 0.005, 6, 1], [0.1, 0.2, 0.3, 0.4])
    write_run(tmp_path, "grpo-s1", "none", 1, {2: 0.4, 4: 0.60}, [1, 1, 1, 0.0], [0.1, 0.2, 0.3, 0.4])
    write_run(tmp_path, "grpo-s2", "none", 2, {4: 0.70}, [7, 8, 1, 1], [0.1, 0.2, 0.3, 0.4])
    write_run(tmp_path, "redit-gaussian-s0", "gaussian", 0, {4: 0.70}, [1, 1, 1, 1], [0.2, 0.2, 0.3, 0.4])
    write_run(tmp_path, "redit-gaussian-s1", "gaussian", 1, {4: 0.80}, [1, 1, 1, 1], [0.2, 0.2, 0.3, 0.4], verl_style=True)
    write_run(tmp_path, "redit-gaussian-s9", "gaussian", 9, {2: 0.1}, [1, 1], [0.2, 0.2], done=False)
    return tmp_path


def test_main_table_matches_hand_computation(fixture_runs):
    with pytest.warns(UserWarning, match="unfinished"):
        runs = analysis.load_runs(fixture_runs)
    table = analysis.main_table(runs).set_index("method")
    grpo, redit = table.loc["grpo"], table.loc["redit-gaussian"]
    assert grpo.n_seeds == 3 and redit.n_seeds == 2  # the unfinished seed 9 is left out
    assert grpo.final_acc_mean == pytest.approx(0.6)
    # t(0.975, df=2) = 4.302653; sample std of (0.5, 0.6, 0.7) = 0.1
    assert grpo.final_acc_ci95 == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    # t(0.975, df=1) = 12.706205; std of (0.7, 0.8) = 0.0707107
    assert redit.final_acc_mean == pytest.approx(0.75)
    assert redit.final_acc_ci95 == pytest.approx(12.706205 * 0.0707107 / math.sqrt(2), rel=1e-5)
    # vanishing (< 0.01): s0 one, s1 one -> mean 2/3; exploding (> 5): s0 one, s2 two -> mean 1
    assert grpo.vanishing_steps_mean == pytest.approx(2 / 3) and grpo.exploding_steps_mean == pytest.approx(1.0)
    assert grpo.final_acc_per_seed == "0.500 0.600 0.700"
    md = analysis.table_markdown(analysis.main_table(runs))
    assert "| tiny | grpo | 60.0 ± 24.8 | 3 |" in md


def test_single_seed_has_no_interval():
    mean, half, n = analysis.mean_ci([0.4])
    assert (mean, n) == (0.4, 1) and math.isnan(half)


def test_reader_skips_a_truncated_last_line_with_a_warning(tmp_path):
    path = write_run(tmp_path, "grpo-s0", "none", 0, {3: 0.5}, [1, 2, 3], [0.1, 0.2, 0.3])
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "data": {"actor/grad_n')  # a crash mid-write
    with pytest.warns(UserWarning, match=r"metrics.jsonl:4"):
        run = analysis.load_run(path)
    assert list(run.metrics.index) == [1, 2, 3]
    assert analysis.final_val_acc(run) == 0.5


def test_reader_keeps_the_last_copy_of_a_repeated_step(tmp_path):
    path = write_run(tmp_path, "grpo-s0", "none", 0, {}, [1, 2, 3], [0.1, 0.2, 0.3])
    with open(path / "metrics.jsonl", "a") as f:  # a resumed run re-logs steps 2-3
        f.write(json.dumps({"step": 2, "data": {"actor/grad_norm": 20.0}}) + "\n")
        f.write(json.dumps({"step": 3, "data": {"actor/grad_norm": 30.0, "critic/score/mean": 0.9}}) + "\n")
    m = analysis.load_run(path).metrics
    assert list(m.index) == [1, 2, 3]
    assert m.loc[2, "actor/grad_norm"] == 20.0 and math.isnan(m.loc[2, "critic/score/mean"])
    assert m.loc[3, "critic/score/mean"] == 0.9


def test_run_folder_writer_and_reader_agree(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.start({"task": "tiny", "seed": 4, "dither": {"dist": "uniform"}})
    run.log(0, {"val-core/tiny/acc/mean@1": 0.25})
    run.log(1, {"actor/grad_norm": float("nan"), "critic/score/mean": 0.5})
    assert not run.is_complete() and run.last_step() == 1
    run.finish({"steps": 1})
    loaded = analysis.load_run(run.path)
    assert loaded.complete and loaded.method == "redit-uniform" and loaded.seed == 4
    assert math.isnan(loaded.metrics.loc[1, "actor/grad_norm"])  # non-finite values are stored as null


def test_figure1_writes_png_and_pdf_with_event_counts(fixture_runs, tmp_path):
    runs = analysis.load_runs(fixture_runs)
    pair = analysis.pick_pair(runs)
    assert [r.name for r in pair] == ["grpo-s0", "redit-gaussian-s0"]
    png = analysis.figure1(list(pair), tmp_path / "out" / "fig1")
    assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").is_file()
    with pytest.raises(ValueError, match="no seed"):
        analysis.pick_pair(runs, treatment="redit-laplace")


def test_cli_writes_table_and_figure(fixture_runs, tmp_path):
    analysis.main(["--runs", str(fixture_runs), "--out", str(tmp_path / "res")])
    csv = pd.read_csv(tmp_path / "res" / "main_table.csv")
    assert set(csv["method"]) == {"grpo", "redit-gaussian"}
    assert (tmp_path / "res" / "figure1_grad_norm.png").is_file()
    assert "60.0 ±" in (tmp_path / "res" / "main_table.md").read_text()
