"""The remedies, convergence and size analyses (analysis/remedies.py, analysis/convergence.py) on
small run folders whose numbers can be checked by hand."""

import json
import math
from pathlib import Path

import pytest

from analysis import convergence, load_runs, remedies


def write(root: Path, experiment: str, name: str, seed: int, scores, val: dict, steps: int, grad=None, clip=1.0,
          completions=None, n_params=None):
    """A TRL-shaped run folder: on-policy score per step 1..steps, held-out accuracy at the steps of `val`."""
    path = root / experiment / name
    path.mkdir(parents=True)
    model = {"path": "checkpoints/fixture", **({"tiny_policy": {"n_params": n_params, "sampled_acc": 0.3, "greedy_acc": 0.5}}
                                                if n_params else {})}
    config = {"backend": "trl", "task": "tiny", "algorithm": "grpo", "seed": seed, "steps": steps, "prompts_per_step": 8,
              "num_generations": 8, "max_grad_norm": clip, "dither": {"dist": "none", "sigma": 0.0}, "model": model,
              "experiment": experiment, "variant": name.rsplit("-s", 1)[0]}  # labelled as redit.train writes them
    (path / "config.json").write_text(json.dumps(config))
    records = {s: {"val-core/tiny/acc/mean@1": v} for s, v in val.items()}
    for step in range(1, steps + 1):
        data = {"critic/score/mean": scores[step - 1], "actor/grad_norm": (grad or [0.5] * steps)[step - 1],
                "redit/zero_std_group_frac/raw": 0.5, "redit/zero_std_group_frac/raw_all_correct": 0.0,
                "redit/zero_std_group_frac/raw_all_wrong": 0.5}
        if completions:
            data["compute/completions"] = completions[step - 1]
        records.setdefault(step, {}).update(data)
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in sorted(records.items())))
    (path / "done.json").write_text("{}")


# remedies: 4 steps, primary = mean score over steps 3-4, held-out = mean of the evaluations at 2 and 4
GRPO = [0.1, 0.1, 0.2, 0.2]


def remedies_runs(tmp_path):
    for seed in range(3):
        shift = 0.01 * seed  # seeds differ; arms differ from GRPO by a constant per arm and seed
        val = {0: 0.2, 2: 0.3 + shift, 4: 0.4 + shift}
        arms = {"grpo": 0.0, "redit": -0.02 - 0.01 * seed, "grpo-noclip": 0.0, "redit-noclip": 0.0, "filter": 0.05}
        for arm, delta in arms.items():
            clip = 1e6 if arm.endswith("noclip") else 1.0
            grad = [2.0, 0.5, 0.0, 0.5] if arm == "grpo" else [0.5] * 4  # GRPO: one clipped, one exactly-zero step
            write(tmp_path, "remedies", f"hard-{arm}-s{seed}", seed, [s + shift + delta for s in GRPO], val, 4, grad, clip)
        # refill: 128 completions a step, so C* = 4 x 64 = 256 is reached after step 2
        write(tmp_path, "remedies", f"hard-refill-s{seed}", seed, [0.5, 0.6, 0.7, 0.8], {0: 0.2, 2: 0.6, 4: 0.6}, 4,
              completions=[128] * 4)
    return [r for r in load_runs(tmp_path) if r.experiment == "remedies"]


def test_remedies_table_pairs_each_arm_with_its_levels_grpo_by_seed(tmp_path):
    table = remedies.remedies_table(remedies_runs(tmp_path)).set_index("arm")
    assert table.loc["grpo", "primary_mean"] == pytest.approx(0.21)  # 0.2 + mean shift 0.01
    assert table.loc["filter", "primary_delta"] == pytest.approx(0.05) and table.loc["filter", "primary_n_pairs"] == 3
    assert table.loc["redit", "primary_delta"] == pytest.approx(-0.03)  # -0.02, -0.03, -0.04
    assert table.loc["grpo", "clipped_frac"] == 0.25 and table.loc["grpo", "zero_grad_frac"] == 0.25
    assert table.loc["grpo-noclip", "clipped_frac"] == 0.0
    # Holm over the table's contrasts: never smaller than the raw p
    assert (table["primary_p_holm"].dropna() >= table["primary_p"].dropna() - 1e-12).all()


def test_refill_is_also_measured_at_equal_generated_completions(tmp_path):
    table = remedies.remedies_table(remedies_runs(tmp_path)).set_index("arm")
    refill = table.loc["refill"]
    assert refill["completions_per_step"] == 128 and refill["completions_total"] == 512
    # C* = 256: on-policy over steps whose completions before them lie in [128, 256) = step 2 only
    assert refill["primary_eq_completions_mean"] == pytest.approx(0.6)
    # held-out interpolated at 256 completions = step 2's evaluation (0.6), not the end of the run
    assert refill["secondary_eq_completions_mean"] == pytest.approx(0.6)
    # an arm at 64 a step: equal completions is equal steps
    grpo = table.loc["grpo"]
    assert grpo["primary_eq_completions_mean"] == pytest.approx(grpo["primary_mean"])


def test_clip_budget_difference_in_differences_by_hand(tmp_path):
    budget = remedies.clip_budget(remedies_runs(tmp_path)).iloc[0]
    assert budget["clip_delta"] == pytest.approx(-0.03) and budget["noclip_delta"] == pytest.approx(0.0)
    assert budget["D_delta"] == pytest.approx(0.03) and budget["noclip_clipped_steps"] == 0
    lines = remedies.verdicts(remedies.remedies_table(remedies_runs(tmp_path / "again")), remedies.clip_budget(
        remedies_runs(tmp_path / "again2")))
    assert any(line.startswith("Clip-budget mechanism at hard: SUPPORTED") for line in lines)


def test_a_run_outside_the_registry_names_is_refused_with_its_path(tmp_path):
    write(tmp_path, "remedies", "hard-mystery-s0", 0, GRPO, {0: 0.2}, 4)
    with pytest.raises(ValueError, match="is labelled remedies/hard-mystery, not a remedies variant"):
        remedies.remedies_table([r for r in load_runs(tmp_path)])


# convergence: evaluations every 20 steps over 80 steps
GRPO_CURVE = {0: 0.2, 20: 0.3, 40: 0.4, 60: 0.5, 80: 0.6}  # final (last 3) 0.5, gain 0.3, T90 0.47
REDIT_CURVE = {0: 0.2, 20: 0.5, 40: 0.5, 60: 0.5, 80: 0.5}


def test_steps_to_target_and_the_paired_ratio_by_hand(tmp_path):
    for seed in range(4):
        for level in ("default", "hard"):
            write(tmp_path, "convergence", f"{level}-grpo-s{seed}", seed, [0.3] * 80, GRPO_CURVE, 80)
            write(tmp_path, "convergence", f"{level}-redit-s{seed}", seed, [0.3] * 80, REDIT_CURVE, 80)
    table = convergence.convergence_table([r for r in load_runs(tmp_path) if r.experiment == "convergence"])
    redit = table[(table["level"] == "hard") & (table["arm"] == "redit")].iloc[0]
    grpo = table[(table["level"] == "hard") & (table["arm"] == "grpo")].iloc[0]
    assert grpo["target_T90"] == pytest.approx(0.47) and grpo["target_Tfinal"] == pytest.approx(0.5)
    # trailing mean of 3 evaluations: GRPO .2 .25 .3 .4 .5 reaches .47 at 80; ReDit .2 .35 .4 .5 .5 at 60
    assert grpo["T90_median"] == 80 and redit["T90_median"] == 60 and redit["T90_ratio"] == pytest.approx(0.75)
    assert redit["T90_ratio_lo"] == pytest.approx(0.75) and redit["T90_ratio_hi"] == pytest.approx(0.75)
    # Tfinal = 0.5: GRPO's smoothed curve reaches it at 80, ReDit's at 60
    assert redit["Tfinal_ratio"] == pytest.approx(0.75) and redit["final_delta"] == pytest.approx(0.0)
    lines = convergence.convergence_verdicts(table)
    assert any("'~10 % of the steps' REFUTED" in line for line in lines)
    from analysis.report import _convergence_cells  # the paper-vs-repo table's long-horizon rows

    ratios, deltas = _convergence_cells(load_runs(tmp_path))
    assert "hard (80 steps, 4 seeds): 0.75 [0.75, 0.75]" in ratios and "+0.0 pts" in deltas


def test_a_target_never_reached_is_censored_not_dropped(tmp_path):
    flat = {0: 0.2, 20: 0.2, 40: 0.2, 60: 0.2, 80: 0.2}
    for seed in range(4):
        write(tmp_path, "convergence", f"hard-grpo-s{seed}", seed, [0.3] * 80, GRPO_CURVE, 80)
        write(tmp_path, "convergence", f"hard-redit-s{seed}", seed, [0.3] * 80, flat if seed < 3 else REDIT_CURVE, 80)
    table = convergence.convergence_table([r for r in load_runs(tmp_path) if r.experiment == "convergence"])
    redit = table[table["arm"] == "redit"].iloc[0]
    assert redit["T90_never"] == 3 and math.isinf(redit["T90_median"]) and math.isinf(redit["T90_ratio"])


def test_size_slope_is_points_per_decade_of_parameters(tmp_path):
    for size, params, delta in (("small", 1e5, -0.01), ("wide", 1e6, 0.0), ("large", 1e7, 0.01)):
        for seed in range(3):
            for level in ("default", "hard"):
                base = [0.3 + 0.01 * seed] * 4
                val = {0: 0.2, 2: 0.3, 4: 0.3}
                write(tmp_path, "size", f"{size}-{level}-grpo-s{seed}", seed, base, val, 4, n_params=params)
                write(tmp_path, "size", f"{size}-{level}-redit-s{seed}", seed, [b + delta for b in base], val, 4, n_params=params)
    table, slopes = convergence.size_table([r for r in load_runs(tmp_path) if r.experiment == "size"])
    assert list(table["params"].unique()) == [1e5, 1e6, 1e7]
    assert table.set_index(["size", "level"]).loc[("large", "hard"), "primary_delta"] == pytest.approx(0.01)
    primary = slopes[(slopes["outcome"] == "primary") & (slopes["level"] == "hard")].iloc[0]
    assert primary["slope"] == pytest.approx(0.01) and primary["n"] == 9  # +1 point per decade, 3 sizes x 3 seeds
    assert "SUPPORTED" in convergence.size_verdicts(table, slopes)[0]
