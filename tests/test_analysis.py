"""Analysis from run folders: table numbers checked against hand computation, the reader on damaged
and resumed logs, every figure and table from fixture runs (one written by verl's file logger)."""

import json
import math
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from analysis_fixtures import (REGIME_DELTA, REGIME_ZERO_VAR, STEPS, step_records, write_fixture_runs,
                               write_regime_runs, write_run)
import analysis
from redit.runlog import RunFolder


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        return write_fixture_runs(tmp_path_factory.mktemp("runs"), mp)


@pytest.fixture(scope="module")
def runs(fixture_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analysis.load_runs(fixture_root)


def test_load_runs_sorts_experiments_and_leaves_out_unfinished(fixture_root):
    with pytest.warns(UserWarning, match="redit-gaussian-s9: unfinished"):
        loaded = analysis.load_runs(fixture_root)
    by_name = {(r.experiment, r.name): r for r in loaded}
    assert ("main", "redit-gaussian-s9") not in by_name and len(loaded) == 6 + 1 + 4 + 1
    assert ("main", "grpo-s0") in by_name and ("schedule", "linear-s0") in by_name
    verl = by_name[("verl", "redit-gaussian-s2")]  # the run verl's FileLogger wrote, config from the plugin
    assert verl.config["backend"] == "verl" and verl.method == "redit-gaussian" and verl.seed == 2
    assert verl.task == "tiny" and verl.info["steps"] == STEPS and analysis.final_val_acc(verl) == 0.75


def test_main_table_matches_hand_computation(runs):
    table = analysis.experiment_table(runs, "main")[0].set_index("method")
    grpo, redit = table.loc["grpo"], table.loc["redit-gaussian"]
    assert grpo.n_seeds == 3 and redit.n_seeds == 3
    assert grpo.final_acc_mean == pytest.approx(0.6) and redit.final_acc_mean == pytest.approx(0.75)
    # t(0.975, df=2) = 4.302653; sample std of (0.5, 0.6, 0.7) = 0.1
    assert grpo.final_acc_ci95 == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    # paired by seed: differences 0.2, 0.2, 0.05 -> mean 0.15, sd sqrt(0.0075), t = 3.0 with df = 2,
    # whose two-sided p is 1 - t / sqrt(2 + t^2) = 1 - 3 / sqrt(11)
    assert redit.delta_vs_baseline == pytest.approx(0.15) and redit.n_pairs == 3
    assert redit.p_value == pytest.approx(1 - 3 / math.sqrt(11), rel=1e-6)
    assert grpo.baseline == "grpo" and math.isnan(grpo.p_value)
    # steps-to-target, 3-evaluation trailing mean of the seed-mean curves:
    # grpo mean (0.4, .48333, .55, .6, .6) -> smoothed at step 8 = (.55 + .6 + .6) / 3 = .58333 = target,
    # first reached at step 8; redit mean (0.4, .6, .7, .75, .75) -> smoothed (.4, .5, .56667, .68333, ...)
    # first >= .58333 at step 6 -> ratio 6 / 8
    assert grpo.target_acc == pytest.approx(0.5833333, rel=1e-6)
    assert grpo.steps_to_target == 8 and redit.steps_to_target == 6 and redit.steps_ratio == pytest.approx(0.75)
    # vanishing (< 0.01): grpo s0 has 0.005 and 0.0 -> mean 2/3; exploding (> 5): s0 one, s2 two -> mean 1
    assert grpo.vanishing_steps_mean == pytest.approx(2 / 3) and grpo.exploding_steps_mean == pytest.approx(1.0)
    assert grpo.vanishing_steps_total == 2 and redit.exploding_steps_total == 0
    # redit: sample std of (0.7, 0.8, 0.75) = 0.05 -> 4.302653 * 0.05 / sqrt(3) = 0.1242
    md = analysis.to_markdown(table.reset_index(), ["task", "method"])
    # Δ CI: t(0.975, 2) * sqrt(0.0075) / sqrt(3) = 4.302653 * 0.05 = 0.2151; one comparison, so Holm = p;
    # MDE = (t(0.975, 2) + t(0.8, 2)) * sqrt(0.0075) / sqrt(3) = (4.302653 + 1.060660) * 0.05 = 0.2682
    assert redit.delta_ci95 == pytest.approx(4.302653 * 0.05, rel=1e-5) and redit.p_holm == redit.p_value
    assert redit.mde == pytest.approx((4.302653 + 1.060660) * 0.05, rel=1e-5)
    assert "| tiny | grpo | 60.0 ± 24.8 | 3 | baseline |  |  |  | 8 | 1.00 | 0.7 / 1.0 |" in md
    assert "| tiny | redit-gaussian | 75.0 ± 12.4 | 3 | +15.0 ± 21.5 | 0.095 | 0.095 | 26.8 | 6 | 0.75 | 0.0 / 0.0 |" in md


def test_steps_to_target_without_smoothing_and_never_reached():
    curve = pd.Series([0.4, 0.6, 0.5, 0.7], index=[0, 10, 20, 30])
    assert analysis.steps_to_target(curve, 0.6, window=1) == 10
    assert analysis.steps_to_target(curve, 0.6, window=2) == 30  # smoothed: .4 .5 .55 .6
    assert math.isnan(analysis.steps_to_target(curve, 0.9, window=1))


def test_ablation_table_groups_by_sigma_and_reports_missing_keys(runs):
    table, by = analysis.experiment_table(runs, "variance")
    assert by == ["task", "method", "sigma", "noise_std"]  # the std: uniform a = 0.1 is std 0.0577
    assert list(zip(table["method"], table["sigma"], table["n_seeds"])) == [
        ("redit-gaussian", 0.01, 2), ("redit-gaussian", 0.1, 1), ("redit-uniform", 0.1, 1)]
    # no GRPO run in variance/: the baseline comes from main, with the same task, algorithm and steps
    assert set(table["baseline"]) == {"grpo"} and table["target_acc"].iloc[0] == pytest.approx(0.5833333, rel=1e-6)
    uniform = table.iloc[2]
    assert math.isnan(uniform.vanishing_steps_mean) and "actor/grad_norm" in uniform.missing
    md = analysis.to_markdown(table, by, notes=analysis.tables.table_notes(table))
    assert "| tiny | redit-uniform | 0.1 | 0.058 | 60.0 | 1 |" in md and "— / —" in md
    assert "— = not logged. Runs lacking keys: uniform-0.1-s0: actor/grad_norm." in md


def test_latex_table_is_escaped_booktabs(runs):
    table, by = analysis.experiment_table(runs, "main")
    tex = analysis.to_latex(table, by, caption="Main results; 95% CI")
    assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count(r"\\") == 1 + len(table)
    assert r"60.0 $\pm$ 24.8" in tex and r"95\% CI" in tex and "±" not in tex


def test_single_seed_has_no_interval():
    mean, half, n = analysis.mean_ci([0.4, math.nan])
    assert (mean, n) == (0.4, 1) and math.isnan(half)


def test_tidy_frame_has_one_row_per_run_step_metric(runs):
    frame = analysis.tidy(runs)
    expected = sum(int(r.metrics.notna().to_numpy().sum()) for r in runs)
    assert len(frame) == expected
    row = frame[(frame["run"] == "grpo-s2") & (frame["step"] == 2) & (frame["metric"] == "actor/grad_norm")]
    assert row["value"].tolist() == [8.0] and row["method"].tolist() == ["grpo"] and row["seed"].tolist() == [2]
    assert set(frame.loc[frame["experiment"] == "verl", "backend"]) == {"verl"}
    assert frame["metric"].dtype == "category" and frame["method"].dtype == "category"


def test_reader_skips_a_truncated_last_line_with_a_warning(tmp_path):
    path = write_run(tmp_path, "grpo-s0", "none", 0, step_records((0.4, 0.5), (1, 2, 3)))
    with open(path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "data": {"actor/grad_n')  # a crash mid-write
    lines = len((path / "metrics.jsonl").read_text().splitlines())
    with pytest.warns(UserWarning, match=rf"metrics.jsonl:{lines}: unreadable"):
        run = analysis.load_run(path)
    assert list(run.metrics.index) == [0, 1, 2, 3] and analysis.final_val_acc(run) == 0.5


def test_reader_keeps_the_last_copy_of_a_repeated_step(tmp_path):
    path = write_run(tmp_path, "grpo-s0", "none", 0, step_records((0.4,), (1, 2, 3)))
    with open(path / "metrics.jsonl", "a") as f:  # a resumed run re-logs steps 2-3
        f.write(json.dumps({"step": 2, "data": {"actor/grad_norm": 20.0}}) + "\n")
        f.write(json.dumps({"step": 3, "data": {"actor/grad_norm": 30.0, "critic/score/mean": 0.9}}) + "\n")
    m = analysis.load_run(path).metrics
    assert list(m.index) == [0, 1, 2, 3]
    assert m.loc[2, "actor/grad_norm"] == 20.0 and math.isnan(m.loc[2, "critic/score/mean"])
    assert m.loc[3, "critic/score/mean"] == 0.9


def test_run_folder_writer_and_reader_agree(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.start({"task": "tiny", "seed": 4, "algorithm": "grpo", "dither": {"dist": "uniform"}})
    run.log(0, {"val-core/tiny/acc/mean@1": 0.25})
    run.log(1, {"actor/grad_norm": float("nan"), "critic/score/mean": 0.5})
    assert not run.is_complete() and run.last_step() == 1
    run.finish({"steps": 1})
    loaded = analysis.load_run(run.path)
    assert loaded.complete and loaded.method == "redit-uniform" and loaded.seed == 4
    assert math.isnan(loaded.metrics.loc[1, "actor/grad_norm"])  # non-finite values are stored as null


def test_method_names_for_other_algorithms():
    assert analysis.method_name({"algorithm": "dapo", "dither": {"dist": "none"}}) == "dapo"
    assert analysis.method_name({"algorithm": "dapo", "dither": {"dist": "laplace"}}) == "dapo+redit-laplace"
    assert analysis.method_name({"dither": {"dist": "gaussian"}}) == "redit-gaussian"


def test_gradient_event_table_lists_the_batches(runs):
    grpo = next(r for r in runs if r.name == "grpo-s0")
    events = analysis.gradient_event_table(grpo)
    assert list(events.index) == [2, 3, 8] and list(events["event"]) == ["vanishing", "exploding", "vanishing"]
    assert events.loc[3, "critic/score/mean"] == pytest.approx(0.45) and "redit/zero_std_group_frac/raw" in events


def test_every_figure_renders_png_and_pdf(runs, tmp_path):
    main = [r for r in runs if r.experiment == "main"]
    figures = {
        "fig1": analysis.figure1(list(analysis.pick_pair(main)), step_range=(2, 6)),
        "acc": analysis.accuracy_vs_step(main, reference_step=4),
        "var": analysis.variance_ablation([r for r in runs if r.experiment in ("main", "variance")]),
        "dist": analysis.grad_norm_distributions(main, log_counts=True),
        "sigma": analysis.sigma_vs_step([r for r in runs if r.experiment == "schedule"]),
    }
    legend = [t.get_text() for t in figures["fig1"].axes[0].get_legend().get_texts()]
    assert "vanishing (< 0.01): 1" in legend and "exploding (> 5): 1" in legend  # steps 2..6 of grpo-s0
    assert figures["fig1"].axes[0].get_yscale() == "log" and "n=1, seed 0" in figures["fig1"].axes[0].get_title()
    # one panel per treated arm, its own baseline in it, the dashed line from the arm itself
    acc = [ax for ax in figures["acc"].axes if ax.get_visible()]
    texts = [t.get_text() for t in acc[0].get_legend().get_texts()]
    assert len(acc) == 1 and "grpo (n=3, seeds 0 1 2)" in texts and "redit-gaussian (n=3, seeds 0 1 2)" in texts
    assert "redit-gaussian at step 4: 70.0%" in texts
    assert all(line.get_marker() not in (None, "None", "") for line in acc[0].get_lines()[:2])  # markers in legends
    # the variance figure plots the noise std: uniform a = 0.1 sits at 0.1 / sqrt(3)
    xs = sorted(x for bars in figures["var"].axes[0].containers for x in bars.lines[0].get_xdata())
    assert min(xs) == pytest.approx(0.01) and any(x == pytest.approx(0.1 / math.sqrt(3)) for x in xs)
    lo, hi = figures["var"].axes[0].get_xlim()
    assert lo <= min(xs) and hi >= max(xs)  # nothing drawn off the axis
    assert "= 0 4.2%" in figures["dist"].axes[0].get_title()  # grpo-s0's last step is exactly 0 (1 of 24)
    for name, fig in figures.items():
        png = analysis.save(fig, tmp_path / name)
        assert png.stat().st_size > 5_000 and png.with_suffix(".pdf").stat().st_size > 1_000
    with pytest.raises(ValueError, match="'redit-laplace' is not a method of these runs; choose from: grpo, redit-gaussian"):
        analysis.pick_pair(main, treatment="redit-laplace")
    with pytest.raises(ValueError, match="no seed has both"):
        analysis.pick_pair(main, seed=7)


def test_schedule_figure_keeps_every_schedule_and_says_n(tmp_path):
    """linear decay (0.1 -> 0) and linear increase (0 -> 0.1) share method and schedule name: both drawn."""
    for seed in (0, 1):
        write_run(tmp_path, f"decay-s{seed}", "gaussian", seed, step_records((0.4,), (1,) * 8, sigma=lambda t: 0.1 * (8 - t) / 7),
                  sigma=0.1, schedule="linear", sigma_end=0.0)
        write_run(tmp_path, f"increase-s{seed}", "gaussian", seed, step_records((0.4,), (1,) * 8, sigma=lambda t: 0.1 * (t - 1) / 7),
                  sigma=0.0, schedule="linear", sigma_end=0.1)
    fig = analysis.sigma_vs_step(analysis.load_runs(tmp_path))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["redit-gaussian, linear σ 0.1→0 (n=2, seeds 0 1)", "redit-gaussian, linear σ 0→0.1 (n=2, seeds 0 1)"]


def test_cli_writes_every_table_figure_and_an_index(fixture_root, tmp_path):
    out = tmp_path / "res"
    (out).mkdir()
    (out / "findings.md").write_text("Hand-written interpretation.\n")
    with pytest.warns(UserWarning, match="redit-gaussian-s9: unfinished"):
        assert analysis.main(["--runs", str(fixture_root), "--out", str(out), "--scale", "fixture"]) == 0
    for stem in ("main_table", "variance_table", "schedule_table"):
        for suffix in (".md", ".csv", ".tex"):
            assert (out / f"{stem}{suffix}").is_file()
    for fig in ("figure1_grad_norm", "main_accuracy_vs_step", "main_grad_norm_distributions", "variance_variance",
                "schedule_sigma_vs_step"):
        assert (out / f"{fig}.png").is_file() and (out / f"{fig}.pdf").is_file()
    assert not (out / "schedule_variance.png").exists()  # one σ per distribution is no sweep: no variance figure
    readme = (out / "README.md").read_text()
    listed = [line.split("`")[1].split(" ")[0] for line in readme.splitlines() if line.startswith("| `")]
    assert len(listed) >= 12 and all((out / name).is_file() for name in listed)
    assert "Hand-written interpretation." in readme and "## The paper side by side" in readme
    assert "- `main`: Main results: GRPO vs GRPO + ReDit — 6 runs" in readme and "- `verl`:" in readme
    assert "+15.0 pts (p=0.10, n=3)" in (out / "paper_vs_repo.md").read_text()
    assert "0.75 (6 vs 8 steps)" in readme
    summary = pd.read_csv(out / "runs.csv")
    assert len(summary) == 12 and set(summary["backend"]) == {"trl", "verl"}
    csv = pd.read_csv(out / "main_table.csv")
    assert csv.loc[csv["method"] == "redit-gaussian", "p_value"].item() == pytest.approx(1 - 3 / math.sqrt(11), rel=1e-6)


def test_figures_drawn_in_worker_processes_are_the_figures_drawn_in_process(fixture_root, tmp_path):
    """--jobs 2 (figures drawn in forked workers) writes byte-identical files to --jobs 1, README included."""
    outs = {}
    for jobs in (1, 2):
        outs[jobs] = tmp_path / f"jobs{jobs}"
        with pytest.warns(UserWarning, match="unfinished"):
            assert analysis.main(["--runs", str(fixture_root), "--out", str(outs[jobs]), "--scale", "fixture",
                                  "--jobs", str(jobs)]) == 0
    files = {jobs: sorted(p.name for p in out.iterdir()) for jobs, out in outs.items()}
    assert files[1] == files[2] and sum(name.endswith(".png") for name in files[1]) >= 5
    for name in files[1]:
        one, two = (outs[1] / name).read_bytes(), (outs[2] / name).read_bytes()
        assert one == two.replace(b"jobs 2", b"jobs 1").replace(b"jobs2", b"jobs1"), name  # the README quotes its command


def test_cli_on_a_missing_folder_is_one_line(tmp_path, capsys):
    assert analysis.main(["--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run folder" in err[0] and "run_all.sh" in err[0]
    assert not (tmp_path / "o").exists()


def test_paper_reference_has_sources_and_leaves_unknowns_blank():
    ref = analysis.load_reference()
    assert ref["source"].notna().all() and ref["location"].notna().all()
    assert ref.loc["fig1_grpo_acc", "value"] == 85.70 and ref.loc["fig1_redit_acc", "value"] == 89.16
    assert ref.loc["fig1_grpo_reward", "value"] == 4.74 and ref.loc["fig1_redit_reward", "value"] == 4.84
    assert ref.loc["abstract_steps_fraction", "value"] == 0.10 and ref.loc["abstract_gain", "value"] == 4
    unknown = ref[ref["id"].str.startswith("main_")] if "id" in ref else ref[ref.index.str.startswith("main_")]
    assert len(unknown) == 8 and unknown["value"].isna().all()
    cells = analysis.report.paper_cells(ref)
    assert cells[("gsm8k", "redit-gaussian")].startswith("89.16 (step 1000, Qwen2.5-7B")


def test_each_algorithm_is_compared_with_itself_without_redit(tmp_path):
    for seed, (plain, dithered) in enumerate([(0.5, 0.6), (0.4, 0.6)]):
        write_run(tmp_path / "baselines", f"dapo-s{seed}", "none", seed, step_records((0.3, plain), (1,)), algorithm="dapo",
                  experiment="baselines", variant="dapo")
        write_run(tmp_path / "baselines", f"dapo+redit-s{seed}", "gaussian", seed, step_records((0.3, dithered), (1,)),
                  algorithm="dapo", experiment="baselines", variant="dapo+redit-gaussian")
        write_run(tmp_path, f"grpo-s{seed}", "none", seed, step_records((0.3, 0.9), (1,)), experiment="main",
                  variant="grpo")  # must not be the baseline
    table, by = analysis.experiment_table(analysis.load_runs(tmp_path), "baselines")
    row = table.set_index("method").loc["dapo+redit-gaussian"]
    assert by == ["task", "method", "sigma", "noise_std"] and row.baseline == "dapo"
    assert row.delta_vs_baseline == pytest.approx(0.15) and row.n_pairs == 2  # (0.1 + 0.2) / 2


# ---- statistics worked by hand -------------------------------------------------------------------

def test_holm_against_hand_worked_values():
    # sorted p: .01 (x4 = .04), .02 (x3 = .06), .03 (x2 = .06), .04 (x1 = .04 -> running max .06); nan ignored
    assert analysis.holm([0.03, 0.01, math.nan, 0.04, 0.02]) == pytest.approx([0.06, 0.04, math.nan, 0.06, 0.06], nan_ok=True)
    assert analysis.holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert analysis.holm([]) == []


def test_mde_and_paired_summary_by_hand():
    # t(0.975, 7) = 2.364624, t(0.8, 7) = 0.896030
    assert analysis.mde(0.02, 8) == pytest.approx((2.364624 + 0.896030) * 0.02 / math.sqrt(8), rel=1e-5)
    assert math.isnan(analysis.mde(0.02, 1))
    s = analysis.paired_summary({0: 0.5, 1: 0.7, 2: 0.6}, {0: 0.4, 1: 0.5, 2: 0.5, 3: 0.9})  # seed 3 unpaired
    assert s["n"] == 3 and s["delta"] == pytest.approx(0.4 / 3) and s["sd_diff"] == pytest.approx(math.sqrt(1 / 3) * 0.1)
    slope = analysis.slope_ci([0.2, 0.4, 0.6, 0.8], [0.0, 0.01, 0.03, 0.03])
    assert slope["slope"] == pytest.approx(0.055)  # Sxy .011 / Sxx .2


def test_zero_gradient_steps_and_scale_aware_explosions():
    g = pd.Series([0.0, 0.0, 1e-4, 1.0, 2.0, 1.0, 25.0, 1.5])
    zero, above = analysis.scale_aware_events(g)  # median 1.0 -> above 10
    assert list(zero.index) == [0, 1] and list(above.index) == [6]


@pytest.fixture(scope="module")
def regime_runs(tmp_path_factory):
    root = write_regime_runs(tmp_path_factory.mktemp("regime-runs")).parent
    return analysis.load_runs(root)


def test_regime_table_on_fixtures(regime_runs):
    table = analysis.regime.regime_table(regime_runs)
    assert list(dict.fromkeys(table["level"])) == ["max_number=9", "max_number=12", "max_number=15", "max_number=20"]
    assert len(table) == 4 * 2 + 2 * 2 and set(table["n"]) == {3}
    top = table[table["level"] == "max_number=20"].set_index("arm")
    grpo, redit, zero_var = top.loc["grpo"], top.loc["redit-gaussian, std 0.05"], top.loc["redit-gaussian, std 0.05, scope zero_var"]
    assert grpo.zero_var_frac == pytest.approx(0.8) and grpo.zero_var_frac_all_correct == pytest.approx(0.2)
    assert grpo.zero_var_frac_all_wrong == pytest.approx(0.6)
    assert grpo.primary_mean == pytest.approx(0.31)  # steps 5..8 only (steps 1..4 score 0)
    assert zero_var.primary_delta == pytest.approx(REGIME_DELTA["zero_var"][3]) and zero_var.primary_n_pairs == 3
    # differences (-.01, 0, .01) + Δ: sd 0.01 -> CI t(.975, 2) * .01 / sqrt(3), MDE (t(.975, 2) + t(.8, 2)) * .01 / sqrt(3)
    assert redit.primary_delta_ci95 == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    assert redit.primary_mde == pytest.approx((4.302653 + 1.060660) * 0.01 / math.sqrt(3), rel=1e-5)
    assert redit.secondary_delta == pytest.approx(0.02)
    assert grpo.zero_grad_frac == pytest.approx(3 / 8) and redit.zero_grad_frac == 0  # exact zeros, 3 of 8 steps
    assert grpo.exploding_scaled_steps == 1 and grpo.exploding_steps == 1
    treated = table[table["primary_n_pairs"] > 0]
    assert len(treated) == 8 and table["primary_p_holm"].tolist() == pytest.approx(analysis.holm(table["primary_p"]), nan_ok=True)
    md = analysis.regime.to_markdown(table)
    assert "| max_number=20 | grpo | 0.80 / 0.20 / 0.60 | 3 | 31.0 ± 2.5 | baseline |" in md and "MDE = (t(1-α/2, n-1)" in md
    slopes = analysis.regime.slopes(regime_runs, table).set_index("arm")
    assert list(slopes.index) == ["redit-gaussian, std 0.05"]  # the scope arms exist at 2 levels only
    assert slopes.iloc[0].levels_slope == pytest.approx(0.055) and slopes.iloc[0].pairs_n == 12
    assert REGIME_ZERO_VAR[-1] == pytest.approx(top["zero_var_frac"].max())


def test_regime_report_and_figures(regime_runs, tmp_path):
    root = regime_runs[0].path.parent.parent
    assert analysis.main(["--runs", str(root), "--out", str(tmp_path), "--scale", "fixture"]) == 0
    csv = pd.read_csv(tmp_path / "regime_table.csv")
    for column in ("zero_var_frac", "zero_var_frac_all_correct", "zero_var_frac_all_wrong", "n", "primary_mde",
                   "primary_p_holm", "primary_delta_ci95", "secondary_mean", "zero_grad_frac"):
        assert column in csv
    readme = (tmp_path / "README.md").read_text()
    assert readme.split("\n## ")[1].startswith(analysis.EXPERIMENTS.get("regime", "Experiment regime"))  # the regime first
    assert "Slope of Δ(primary)" in (tmp_path / "regime_table.md").read_text()
    for fig in ("regime_delta_vs_saturation", "figure1_regime"):
        assert (tmp_path / f"{fig}.png").stat().st_size > 5_000


def test_export_runs_is_compact_and_reads_back(tmp_path, monkeypatch):
    fixture_root = write_fixture_runs(tmp_path / "runs", monkeypatch)
    (fixture_root / "linked").mkdir()
    (fixture_root / "linked" / "grpo-s0").symlink_to("../grpo-s0")  # a run shared by two experiments
    with open(fixture_root / "grpo-s1" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 9, "data": {"trl/loss": 1.0, "timing_s/step": 2.0, "actor/grad_norm": 0.5}}) + "\n")
    counts = analysis.export_runs(fixture_root, tmp_path / "compact")
    assert counts["runs"] == 6 + 1 + 4 + 1 and counts["links"] == 1
    assert (tmp_path / "compact" / "linked" / "grpo-s0").is_symlink()
    assert not (tmp_path / "compact" / "redit-gaussian-s9").exists()  # unfinished: not exported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = {(r.experiment, r.name): r for r in analysis.load_runs(tmp_path / "compact")}
    m = again[("main", "grpo-s1")].metrics
    assert m.loc[9, "actor/grad_norm"] == 0.5 and "trl/loss" not in m and "timing_s/step" not in m
    assert again[("linked", "grpo-s0")].metrics.equals(again[("main", "grpo-s0")].metrics)
    assert again[("verl", "redit-gaussian-s2")].config["backend"] == "verl"
    first = (tmp_path / "compact" / "grpo-s0" / "metrics.jsonl.gz").read_bytes()
    analysis.export_runs(fixture_root, tmp_path / "compact")
    assert (tmp_path / "compact" / "grpo-s0" / "metrics.jsonl.gz").read_bytes() == first  # byte-stable


def test_analysis_and_registry_start_without_importing_torch():
    """They read dither's constants and matched σ only: torch's import (~1.6 s) is left to training code."""
    code = "import sys, analysis, redit.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- baselines: counted once, and said when missing (issue 23) -------------------------------------

def _acc_legends(fig):
    return [t.get_text() for ax in fig.axes if ax.get_visible() and ax.get_legend() for t in ax.get_legend().get_texts()]


def test_a_baseline_in_two_experiments_or_linked_counts_once(tmp_path):
    """After --quick every experiment has the same steps: main/grpo-s0, the regime-like copy of it in
    another experiment and a link to it are ONE baseline run of seed 0, so n = 1 everywhere."""
    flat = dict(val=(0.4, 0.5, 0.6, 0.6, 0.6), grad=(0.5,) * 8)
    write_run(tmp_path, "grpo-s0", "none", 0, step_records(**flat), experiment="main", variant="grpo")
    write_run(tmp_path / "regime", "default-grpo-s0", "none", 0, step_records(**flat), experiment="regime",
              variant="default-grpo")  # same setting and seed
    (tmp_path / "scope").mkdir()
    (tmp_path / "scope" / "grpo-s0").symlink_to("../grpo-s0")
    for sigma in (0.01, 0.1):
        write_run(tmp_path / "variance", f"gaussian-{sigma}-s0", "gaussian", 0, step_records(**flat), sigma=sigma,
                  experiment="variance", variant=f"gaussian-{sigma}")
    runs = analysis.load_runs(tmp_path)
    variance = [r for r in runs if r.experiment == "variance"]
    assert len(analysis.baseline_runs(variance, variance[0], runs)) == 1
    fig = analysis.accuracy_vs_step(variance, pool=runs)
    assert "grpo (n=1, seed 0)" in _acc_legends(fig) and not any("n=2" in t or "n=3" in t for t in _acc_legends(fig))
    # the variance figure, as the report calls it (members + every same-setting GRPO run of the pool) and with pool=
    report_style = analysis.unique_runs(variance + [r for r in runs if r.info["dist"] == "none"])
    for fig in (analysis.variance_ablation(report_style), analysis.variance_ablation(variance, pool=runs)):
        assert "no dithering (n=1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    table, _ = analysis.experiment_table(runs, "variance")
    assert set(table["n_pairs"]) == {1} and set(table["baseline"]) == {"grpo"}
    # of two copies: the experiment's own, else main's
    regime = [r for r in runs if r.experiment == "regime"]
    assert [r.experiment for r in analysis.baseline_runs([], variance[0], runs)] == ["main"]
    assert [r.experiment for r in analysis.baseline_runs([], regime[0], runs)] == ["regime"]


def test_variance_figure_refuses_runs_of_two_settings(runs):
    """main's runs are 100 steps and variance's 30 at the tiny default: one figure of both would be a mix."""
    other = analysis.load_run(write_run(runs[0].path.parent.parent / "steps-mix", "gaussian-0.3-s0", "gaussian", 0,
                                        step_records((0.4,), (0.5,) * 4), sigma=0.3, steps=4))
    with pytest.raises(ValueError, match="mix 2 settings .*steps.*pass one experiment's runs"):
        analysis.variance_ablation([r for r in runs if r.experiment == "variance"] + [other])


def test_an_ablation_without_its_baseline_says_so_in_one_line(tmp_path):
    """./run_all.sh --only distribution --seeds 0 --steps 10: distribution has no GRPO arm of its own."""
    for dist in ("gaussian", "uniform", "laplace"):
        write_run(tmp_path / "distribution", f"{dist}-s0", dist, 0, step_records((0.4, 0.5), (0.5,) * 8), sigma=0.1,
                  experiment="distribution", variant=dist)
    runs = analysis.load_runs(tmp_path)
    line = ("no GRPO baseline among these runs (undithered grpo, same setting, 8 steps): "
            "run ./run_all.sh --only main,distribution with the same --seeds/--steps")
    table, by = analysis.experiment_table(runs, "distribution")
    notes = analysis.tables.table_notes(table)
    assert notes.count(line) == 1 and sum("baseline among these runs" in n for n in notes) == 1
    md = analysis.to_markdown(table, by, notes=notes)
    assert md.count("| no baseline |") == 3 and md.count(line) == 1
    fig = analysis.accuracy_vs_step(runs, pool=runs)
    assert fig._suptitle.get_text().splitlines()[1:] == [line]
    out = tmp_path / "res"
    assert analysis.main(["--runs", str(tmp_path), "--out", str(out), "--scale", "fixture"]) == 0
    assert (out / "distribution_table.md").read_text().count(line) == 1
    # with the registry's own 30 steps, the experiment that has a 30-step GRPO arm is named
    write_run(tmp_path / "d30" / "distribution", "gaussian-s0", "gaussian", 0, step_records((0.4,), (0.5,)), sigma=0.1, steps=30,
              experiment="distribution", variant="gaussian")
    run = analysis.load_runs(tmp_path / "d30")[0]
    assert analysis.tables.missing_baseline_note(run).endswith("run ./run_all.sh --only variance,distribution")


def test_pairs_ranked_by_gradient_events_and_methods_checked(runs, regime_runs):
    ranked = analysis.event_pairs(runs + regime_runs)
    top = ranked.iloc[0]
    # the regime's most saturated level: GRPO 3 exact zeros + one norm of 30, ReDit none -> 4 events (main's grpo-s0: 3)
    assert (top.experiment, top.level, top.seed, top.events, top.exactly_zero) == ("regime", "max_number=20", 0, 4, 3)
    assert top.pair[0].name == "n20-grpo-s0" and top.pair[1].name == "n20-redit-gaussian-s0"  # the plain arm, not a scope arm
    main = ranked[ranked["experiment"] == "main"].set_index("seed")
    assert main.loc[0, "events"] == 3 and main.loc[1, "events"] == 0 and main.loc[2, "events"] == 2
    assert list(ranked["events"]) == sorted(ranked["events"], reverse=True)
    regime = [r for r in regime_runs if r.experiment == "regime"]
    pair = analysis.pick_pair(regime, seed=1, level="max_number=15")
    assert [r.name for r in pair] == ["n15-grpo-s1", "n15-redit-gaussian-s1"]  # one level, never grpo of another
    with pytest.raises(ValueError, match=r"'hardest-grpo' is not a method of these runs; choose from: grpo, redit-gaussian"):
        analysis.pick_pair(regime, "hardest-grpo")
    with pytest.raises(ValueError, match="no level 'hardest' in these runs; choose from: max_number=12; max_number=15"):
        analysis.pick_pair(regime, level="hardest")


def test_histograms_keep_scope_arms_and_levels_apart(tmp_path):
    """A mixed-scope arm's zero-gradient steps are its own panel, never the plain ReDit arm's."""
    for seed in (0, 1):
        write_run(tmp_path, f"redit-s{seed}", "gaussian", seed, step_records((0.4,), (0.5,) * 8))
        write_run(tmp_path, f"mixed-s{seed}", "gaussian", seed, step_records((0.4,), (0.0,) * 4 + (0.5,) * 4), scope="mixed")
        write_run(tmp_path, f"decay-s{seed}", "gaussian", seed, step_records((0.4,), (0.5,) * 8), schedule="linear", sigma_end=0.0)
    fig = analysis.grad_norm_distributions(analysis.load_runs(tmp_path))
    titles = sorted(ax.get_title() for ax in fig.axes)
    assert len(titles) == 3
    assert titles[0].startswith("redit-gaussian, linear σ 0.05→0 (n=2, seeds 0 1") and "= 0 0.0%" in titles[0]
    assert titles[1].startswith("redit-gaussian, std 0.05 (n=2") and "= 0 0.0%" in titles[1]
    assert titles[2].startswith("redit-gaussian, std 0.05, scope mixed (n=2") and "= 0 50.0%" in titles[2]


def test_noise_on_each_reward_part_counts_in_the_noise_std(tmp_path):
    """--noise-on parts draws one noise per reward part: the analysis plots such a run at std sigma * sqrt(parts)
    and keeps it apart from a run with the same sigma on the summed reward; a malformed count reads as 1."""
    records = step_records(val=[0.5] * 5, grad=[1.0] * STEPS)
    for name, parts in (("sum", None), ("parts", 5), ("broken", "five")):
        folder = write_run(tmp_path, name, "gaussian", 0, records, sigma=0.05, experiment="main", variant="redit-gaussian")
        if parts is not None:
            config = json.loads((folder / "config.json").read_text())
            config["dither"]["reward_parts"] = parts
            (folder / "config.json").write_text(json.dumps(config))
    info = {r.name: r.info for r in analysis.load_runs(tmp_path)}
    assert info["sum"]["noise_std"] == pytest.approx(0.05)
    assert info["parts"]["noise_std"] == pytest.approx(0.05 * math.sqrt(5))
    assert info["broken"]["noise_std"] == pytest.approx(0.05)
