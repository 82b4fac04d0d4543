"""The convergence study and the model-size axis (issue 25), as pre-registered in
results/tiny/convergence.md: steps-to-target over 400 steps (the paper's "GRPO's accuracy in ~10 % of
the steps") and ReDit − GRPO at three policy sizes.

Level, arm and policy size come from each run's registry variant (config.json's experiment/variant):
convergence `<level>-<arm>`, size `<size>-<level>-<arm>` (arm: grpo | redit).

    from analysis import load_runs, convergence
    runs = load_runs("runs/tiny")
    table = convergence.convergence_table([r for r in runs if r.experiment == "convergence"])
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from redit.registry import CONVERGENCE_LEVELS, POLICY_SIZES, SIZE_LEVELS

from .reader import Run, primary_outcome, val_curve
from .stats import CI_METHOD, MDE_METHOD, TEST_METHOD, holm, paired_summary, slope_ci, steps_to_target

SMOOTH_EVALS = 3  # trailing mean over 3 evaluations (fixed before the runs)
BOOTSTRAP = 10_000
LAST_EVALS = 3
TARGETS = ("T50", "T90", "Tfinal")
PRIMARY_TARGET = "T90"
ARMS = ("grpo", "redit")


def parse(run: Run, with_size: bool = False) -> dict:
    """{level, arm, seed[, size]} of the run's registry variant; ValueError if it is not a convergence
    (with_size: size) variant."""
    experiment = "size" if with_size else "convergence"
    variant = run.registry_variant if run.experiment == experiment else None
    size = dict(variant.trl_options).get("policy_size", "small") if variant else None
    if variant is None or run.level not in (SIZE_LEVELS if with_size else CONVERGENCE_LEVELS) or run.arm not in ARMS \
            or (with_size and size not in POLICY_SIZES):
        raise ValueError(f"run {run.path} is labelled {run.experiment}/{run.variant}, not a {experiment} variant; "
                         "label it: python scripts/label_runs.py --runs <its runs folder>.")
    return {"level": run.level, "arm": run.arm, "seed": run.seed, **({"size": size} if with_size else {})}


def final_held_out(run: Run) -> float:
    curve = val_curve(run)
    return float(curve.iloc[-LAST_EVALS:].mean()) if len(curve) else math.nan


def targets(grpo_runs: list[Run]) -> dict:
    """start, final, gain and the three targets of a level, from its GRPO runs only."""
    start = float(np.mean([val_curve(r).iloc[0] for r in grpo_runs]))
    final = float(np.mean([final_held_out(r) for r in grpo_runs]))
    gain = final - start
    out = {"start": start, "final": final, "gain": gain}
    defined = gain >= 0.01
    out.update(T50=start + 0.5 * gain if defined else math.nan, T90=start + 0.9 * gain if defined else math.nan,
               Tfinal=final if defined else math.nan)
    return out


def _steps(run: Run, target: float) -> float:
    """Steps to target; +inf when never reached (censored)."""
    s = steps_to_target(val_curve(run), target, SMOOTH_EVALS)
    return math.inf if math.isnan(s) else s


def _median(x: np.ndarray) -> float:
    return float(np.median(x))  # +inf entries sort last: the median is +inf once half or more are censored


def _ratio(a: float, b: float) -> float:
    if math.isinf(a) and math.isinf(b):
        return math.nan
    if math.isinf(b):
        return 0.0
    return math.inf if math.isinf(a) else (a / b if b > 0 else (math.nan if a == 0 else math.inf))


def _percentile(values: np.ndarray, q: float) -> float:
    """Percentile where +inf (censored) is a value larger than every finite one, not a NaN maker."""
    big = 1e300
    value = float(np.percentile(np.where(np.isinf(values), big, values), q))
    return math.inf if value >= big / 2 else value


def bootstrap_medians(steps: dict[str, dict], seed: int = 0) -> dict:
    """Per arm: median and percentile 95 % CI over resampled runs; the ReDit/GRPO ratio of medians with
    a paired bootstrap (the same resampled seeds for both arms). `steps`: arm -> {seed: steps}."""
    rng = np.random.default_rng(seed)
    seeds = sorted(set(steps["grpo"]) & set(steps["redit"]))
    g = np.array([steps["grpo"][s] for s in seeds])
    r = np.array([steps["redit"][s] for s in seeds])
    idx = rng.integers(0, len(seeds), size=(BOOTSTRAP, len(seeds)))
    med_g = np.median(g[idx], axis=1)
    med_r = np.median(r[idx], axis=1)
    ratios = np.array([_ratio(a, b) for a, b in zip(med_r, med_g)])
    finite = ratios[~np.isnan(ratios)]
    out = {"n_pairs": len(seeds), "ratio": _ratio(_median(r), _median(g)),
           "ratio_lo": _percentile(finite, 2.5) if len(finite) else math.nan,
           "ratio_hi": _percentile(finite, 97.5) if len(finite) else math.nan,
           "ratio_undefined_resamples": float(np.isnan(ratios).mean())}
    for arm, values, meds in (("grpo", g, med_g), ("redit", r, med_r)):
        out.update({f"{arm}_median": _median(values), f"{arm}_lo": _percentile(meds, 2.5),
                    f"{arm}_hi": _percentile(meds, 97.5), f"{arm}_never": int(np.isinf(values).sum())})
    return out


def convergence_table(runs: list[Run]) -> pd.DataFrame:
    """One row per level x arm: n, the level's targets, per target the median steps-to-target with its
    bootstrap CI and never-reached count (and on ReDit's row the ratio ReDit/GRPO with its paired CI),
    and the equal-steps outcomes at the end (held-out: mean of the last 3 evaluations; on-policy:
    steps 201-400) with Δ vs GRPO, CI, p, Holm (2 levels per outcome) and MDE."""
    cells: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        p = parse(r)
        cells.setdefault((p["level"], p["arm"]), []).append(r)
    rows = []
    for level in CONVERGENCE_LEVELS:
        if (level, "grpo") not in cells or (level, "redit") not in cells:
            continue
        t = targets(cells[(level, "grpo")])
        boot = {}
        for name in TARGETS:
            if math.isnan(t[name]):
                continue
            boot[name] = bootstrap_medians({arm: {r.seed: _steps(r, t[name]) for r in cells[(level, arm)]} for arm in ARMS})
        outcomes = {arm: {"final": {r.seed: final_held_out(r) for r in cells[(level, arm)]},
                          "on_policy": {r.seed: primary_outcome(r) for r in cells[(level, arm)]}} for arm in ARMS}
        for arm in ARMS:
            row = {"level": level, "arm": arm, "n": len(cells[(level, arm)]), "steps": max(r.config["steps"] for r in cells[(level, arm)]),
                   **{f"target_{k}": v for k, v in t.items()}}
            for name, b in boot.items():
                row.update({f"{name}_median": b[f"{arm}_median"], f"{name}_lo": b[f"{arm}_lo"], f"{name}_hi": b[f"{arm}_hi"],
                            f"{name}_never": b[f"{arm}_never"]})
                if arm == "redit":
                    row.update({f"{name}_ratio": b["ratio"], f"{name}_ratio_lo": b["ratio_lo"], f"{name}_ratio_hi": b["ratio_hi"],
                                f"{name}_ratio_undefined": b["ratio_undefined_resamples"]})
            for outcome in ("final", "on_policy"):
                values = list(outcomes[arm][outcome].values())
                row[f"{outcome}_mean"] = float(np.mean(values))
                if arm == "redit":
                    s = paired_summary(outcomes["redit"][outcome], outcomes["grpo"][outcome])
                    row.update({f"{outcome}_delta": s["delta"], f"{outcome}_delta_ci95": s["delta_ci95"], f"{outcome}_p": s["p"],
                                f"{outcome}_mde": s["mde"], f"{outcome}_n_pairs": s["n"]})
            rows.append(row)
    table = pd.DataFrame(rows)
    for outcome in ("final", "on_policy"):
        if f"{outcome}_p" in table:
            table.insert(table.columns.get_loc(f"{outcome}_p") + 1, f"{outcome}_p_holm", holm(table[f"{outcome}_p"]))
    return table


def convergence_verdicts(table: pd.DataFrame) -> list[str]:
    lines = []
    for r in table[table["arm"] == "redit"].to_dict("records"):
        level = r["level"]
        if f"{PRIMARY_TARGET}_ratio" not in r or math.isnan(r.get(f"{PRIMARY_TARGET}_ratio", math.nan)):
            lines.append(f"{level}: GRPO gained {100 * r['target_gain']:+.1f} pts — no gain to reach: targets undefined.")
            continue
        ratio, lo, hi = r[f"{PRIMARY_TARGET}_ratio"], r[f"{PRIMARY_TARGET}_ratio_lo"], r[f"{PRIMARY_TARGET}_ratio_hi"]
        if ratio <= 0.2 and hi < 0.5:
            ten = "SUPPORTED"
        elif lo > 0.5:
            ten = "REFUTED (ReDit is not even twice as fast)"
        else:
            ten = "INCONCLUSIVE"
        faster = "faster (CI < 1)" if hi < 1 else ("slower (CI > 1)" if lo > 1 else "no difference shown (CI includes 1)")
        d, h, p = r["final_delta"], r["final_delta_ci95"], r["final_p_holm"]
        if d > 0 and p < 0.05:
            plus4 = "SUPPORTED"
        elif d + h < 0.02:
            plus4 = "REFUTED (CI upper bound below +2 pts)"
        else:
            plus4 = f"INCONCLUSIVE (MDE {100 * r['final_mde']:.1f} pts)"
        lines.append(f"{level}: '~10 % of the steps' {ten} — ReDit/GRPO steps to {PRIMARY_TARGET} = {ratio:.2f} "
                     f"[{lo:.2f}, {hi:.2f}]; speed: {faster}. '+4 % at equal steps' {plus4} — Δ final held-out "
                     f"{100 * d:+.2f} [{100 * (d - h):+.2f}, {100 * (d + h):+.2f}] pts, Holm p {p:.3g}.")
    return lines


def _steps_cell(r: dict, name: str) -> str:
    if f"{name}_median" not in r or (isinstance(r[f"{name}_median"], float) and math.isnan(r[f"{name}_median"])):
        return "—"

    def f(x):
        return "never" if math.isinf(x) else f"{x:.0f}"
    return f"{f(r[name + '_median'])} [{f(r[name + '_lo'])}, {f(r[name + '_hi'])}] ({r[name + '_never']:.0f} never)"


def _ratio_cell(r: dict, name: str) -> str:
    if r["arm"] != "redit" or math.isnan(r.get(f"{name}_ratio", math.nan)):
        return ""

    def f(x):
        return "∞" if math.isinf(x) else f"{x:.2f}"
    return f"{f(r[name + '_ratio'])} [{f(r[name + '_ratio_lo'])}, {f(r[name + '_ratio_hi'])}]"


def convergence_markdown(table: pd.DataFrame, title: str = "") -> str:
    header = ["level", "arm", "n", "start → GRPO final held-out %", *[f"steps to {t} [95% CI] (never)" for t in TARGETS],
              *[f"ratio ReDit/GRPO, {t}" for t in TARGETS], "final held-out % (last 3 evals)", "Δ final pts [95% CI]",
              "p (Holm)", "MDE pts", "on-policy % (steps 201-400)", "Δ on-policy pts [95% CI]", "p (Holm)"]
    lines = ([f"### {title}", ""] if title else []) + ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in table.to_dict("records"):
        delta = {}
        for o in ("final", "on_policy"):
            if r["arm"] == "redit":
                d, h = r[f"{o}_delta"], r[f"{o}_delta_ci95"]
                delta[o] = (f"{100 * d:+.2f} [{100 * (d - h):+.2f}, {100 * (d + h):+.2f}]", f"{r[f'{o}_p_holm']:.3f}",
                            f"{100 * r[f'{o}_mde']:.2f}")
            else:
                delta[o] = ("baseline", "", "")
        lines.append("| " + " | ".join([r["level"], r["arm"], str(r["n"]),
                                          f"{100 * r['target_start']:.1f} → {100 * r['target_final']:.1f}",
                                          *[_steps_cell(r, t) for t in TARGETS], *[_ratio_cell(r, t) for t in TARGETS],
                                          f"{100 * r['final_mean']:.1f}", *delta["final"],
                                          f"{100 * r['on_policy_mean']:.1f}", delta["on_policy"][0], delta["on_policy"][1]]) + " |")
    lines += ["", "**Verdicts (criteria of results/tiny/convergence.md):**", ""]
    lines += [f"- {v}" for v in convergence_verdicts(table)]
    lines += ["", f"Targets from the GRPO arm: T50 / T90 = start + 0.5 / 0.9 × (GRPO's final − start), Tfinal = GRPO's final "
              f"(mean over seeds of its last {LAST_EVALS} evaluations); start = mean step-0 accuracy. Steps to target: the first "
              f"evaluation whose trailing mean over {SMOOTH_EVALS} evaluations reaches it; never = censored (+∞). Medians with "
              f"percentile 95 % CIs over {BOOTSTRAP} bootstrap resamples of the runs; the ratio's CI resamples seeds paired "
              f"(resamples where both medians are censored are dropped). Δ: paired by seed; p: {TEST_METHOD}; Holm over the "
              f"levels per outcome. MDE: {MDE_METHOD}."]
    return "\n".join(lines) + "\n"


def convergence_figure(runs: list[Run], table: pd.DataFrame) -> Figure:
    """Held-out accuracy vs step per level: mean over seeds and 95 % t-band per arm, the targets as
    horizontal lines, 10 % of the horizon as a vertical line."""
    import matplotlib.pyplot as plt

    from .stats import mean_curve

    levels = [lv for lv in CONVERGENCE_LEVELS if lv in set(table["level"])]
    fig, axes = plt.subplots(1, len(levels), figsize=(6.2 * len(levels), 4.4), squeeze=False)
    for ax, level in zip(axes[0], levels):
        for arm, color in (("grpo", "C0"), ("redit", "C3")):
            members = [r for r in runs if parse(r)["level"] == level and parse(r)["arm"] == arm]
            curve = mean_curve([val_curve(r) for r in members])
            label = "GRPO" if arm == "grpo" else "ReDit (Gaussian σ 0.05)"
            ax.plot(curve.index, 100 * curve["mean"], color=color, lw=1.6, label=f"{label} (n={len(members)})")
            ax.fill_between(curve.index, 100 * (curve["mean"] - curve["ci95"]), 100 * (curve["mean"] + curve["ci95"]),
                            color=color, alpha=0.18)
        row = table[(table["level"] == level) & (table["arm"] == "grpo")].iloc[0]
        for name, style in (("T50", ":"), ("T90", "--"), ("Tfinal", "-.")):
            value = row[f"target_{name}"]
            if not math.isnan(value):
                ax.axhline(100 * value, color="grey", ls=style, lw=1, label=f"{name} = {100 * value:.1f} %")
        horizon = row["steps"]
        ax.axvline(0.1 * horizon, color="k", ls=":", lw=1, label=f"10 % of {horizon:.0f} steps")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out greedy accuracy (%), 1000 problems")
        ax.set_title(f"{level} level: mean over seeds, 95% t-band", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Convergence over 400 steps: does ReDit reach GRPO's accuracy in ~10 % of the steps?", fontsize=11)
    fig.tight_layout()
    return fig


# ---- size ----------------------------------------------------------------------------------------

def n_params(run: Run) -> float:
    """Parameters of the run's tiny policy (its warm-up report in config.json)."""
    report = (run.config.get("model") or {}).get("tiny_policy") or {}
    return float(report.get("n_params", math.nan))


def size_table(runs: list[Run]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per size x level: parameters, start accuracy of the warm-up, GRPO and ReDit means, Δ primary and
    secondary with CI / p / Holm over the 6 contrasts / MDE; per level: the slope of the per-seed Δ on
    log10(parameters) with its CI, Holm over the levels)."""
    cells: dict[tuple, dict] = {}
    for r in runs:
        p = parse(r, with_size=True)
        cells.setdefault((p["size"], p["level"]), {}).setdefault(p["arm"], []).append(r)
    rows = []
    for size in POLICY_SIZES:
        for level in SIZE_LEVELS:
            arms = cells.get((size, level), {})
            if set(arms) != set(ARMS):
                continue
            report = (arms["grpo"][0].config.get("model") or {}).get("tiny_policy") or {}
            row = {"size": size, "level": level, "params": n_params(arms["grpo"][0]),
                   "warmup_sampled_acc": report.get("sampled_acc", math.nan), "warmup_greedy_acc": report.get("greedy_acc", math.nan),
                   "n": min(len(arms["grpo"]), len(arms["redit"]))}
            for outcome, fn in (("primary", primary_outcome), ("secondary", final_held_out)):
                values = {arm: {r.seed: fn(r) for r in arms[arm]} for arm in ARMS}
                s = paired_summary(values["redit"], values["grpo"])
                row.update({f"{outcome}_grpo": float(np.mean(list(values["grpo"].values()))),
                            f"{outcome}_redit": float(np.mean(list(values["redit"].values()))),
                            f"{outcome}_delta": s["delta"], f"{outcome}_delta_ci95": s["delta_ci95"], f"{outcome}_p": s["p"],
                            f"{outcome}_mde": s["mde"], f"{outcome}_n_pairs": s["n"],
                            f"{outcome}_per_seed": {k: values["redit"][k] - values["grpo"][k] for k in set(values["redit"]) & set(values["grpo"])}})
            rows.append(row)
    table = pd.DataFrame(rows)
    slopes = []
    for level in SIZE_LEVELS:
        at = table[table["level"] == level] if len(table) else table
        if len(at) < 2:
            continue
        for outcome in ("primary", "secondary"):
            xs = [math.log10(p) for p, d in zip(at["params"], at[f"{outcome}_per_seed"]) for _ in d]
            ys = [v for d in at[f"{outcome}_per_seed"] for v in d.values()]
            slopes.append({"level": level, "outcome": outcome, "sizes": len(at), **slope_ci(xs, ys)})
    slope_frame = pd.DataFrame(slopes, columns=["level", "outcome", "sizes", "slope", "ci95", "intercept", "p", "n"])
    if len(slope_frame):
        slope_frame["p_holm"] = np.nan
        for outcome in ("primary", "secondary"):
            mask = slope_frame["outcome"] == outcome
            slope_frame.loc[mask, "p_holm"] = holm(slope_frame.loc[mask, "p"])
    for outcome in ("primary", "secondary"):
        if len(table):
            table.insert(table.columns.get_loc(f"{outcome}_p") + 1, f"{outcome}_p_holm", holm(table[f"{outcome}_p"]))
    return table, slope_frame


def size_verdicts(table: pd.DataFrame, slopes: pd.DataFrame) -> list[str]:
    primary = slopes[slopes["outcome"] == "primary"] if len(slopes) else slopes
    if primary.empty:
        return ["Fewer than two sizes: no slope."]
    grows = primary[(primary["slope"] > 0) & (primary["p_holm"] < 0.05)]
    largest = table[table["params"] == table["params"].max()]
    flat = (primary["slope"] + primary["ci95"] < 0.01).all() and \
        ((largest["primary_delta"] + largest["primary_delta_ci95"]) < 0.02).all()
    verdict = ("SUPPORTED: ReDit's Δ grows with size" if len(grows) else
               "REFUTED over this range (no trend toward a benefit)" if flat else "INCONCLUSIVE")
    lines = [f"'Noise swamps the signal only at small size': {verdict}."]
    for r in primary.to_dict("records"):
        lines.append(f"{r['level']}: slope of Δ(primary) on log10(parameters) {100 * r['slope']:+.2f} pts per decade "
                     f"[{100 * (r['slope'] - r['ci95']):+.2f}, {100 * (r['slope'] + r['ci95']):+.2f}], Holm p {r['p_holm']:.3g}, "
                     f"{r['n']} per-seed pairs over {r['sizes']} sizes.")
    return lines


def size_markdown(table: pd.DataFrame, slopes: pd.DataFrame, title: str = "") -> str:
    header = ["size", "parameters", "warm-up sampled / greedy %", "level", "n", "GRPO primary %", "ReDit primary %",
              "Δ primary pts [95% CI]", "p (Holm)", "MDE pts", "GRPO held-out %", "ReDit held-out %", "Δ held-out pts [95% CI]",
              "p (Holm)", "MDE pts"]
    lines = ([f"### {title}", ""] if title else []) + ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in table.to_dict("records"):
        cells = [r["size"], f"{r['params'] / 1e6:.3f} M", f"{100 * r['warmup_sampled_acc']:.1f} / {100 * r['warmup_greedy_acc']:.1f}",
                 r["level"], str(r["n"])]
        for o in ("primary", "secondary"):
            d, h = r[f"{o}_delta"], r[f"{o}_delta_ci95"]
            cells += [f"{100 * r[f'{o}_grpo']:.1f}", f"{100 * r[f'{o}_redit']:.1f}",
                      f"{100 * d:+.2f} [{100 * (d - h):+.2f}, {100 * (d + h):+.2f}]", f"{r[f'{o}_p_holm']:.3f}", f"{100 * r[f'{o}_mde']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "**Slope of Δ on log10(parameters)** (OLS over per-seed Δs, 95 % t-CI; Holm over the 2 levels per outcome):", "",
              "| level | outcome | slope pts / decade [95% CI] | p | p (Holm) | points |", "|---|---|---|---|---|---|"]
    for r in slopes.to_dict("records"):
        lines.append(f"| {r['level']} | {r['outcome']} | {100 * r['slope']:+.2f} [{100 * (r['slope'] - r['ci95']):+.2f}, "
                     f"{100 * (r['slope'] + r['ci95']):+.2f}] | {r['p']:.3f} | {r['p_holm']:.3f} | {r['n']} |")
    lines += ["", "**Verdict (criteria of results/tiny/convergence.md):**", ""] + [f"- {v}" for v in size_verdicts(table, slopes)]
    lines += ["", f"Primary: on-policy accuracy, steps 31-60; held-out: mean of the evaluations at 20/40/60 (1000 problems). "
              f"Mean over seeds; Δ = ReDit − GRPO paired by seed; p: {TEST_METHOD}; Holm over the 6 size × level contrasts per "
              f"outcome; MDE: {MDE_METHOD}. Every size is warmed up by the same SFT recipe (redit.tiny_policy). {CI_METHOD}."]
    return "\n".join(lines) + "\n"


def size_figure(table: pd.DataFrame, slopes: pd.DataFrame) -> Figure:
    """Δ (primary and held-out) against parameters (log x), one line per level, 95 % CI bars and the
    fitted slope."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.0))
    for ax, outcome, label in ((axes[0], "primary", "on-policy accuracy, steps 31-60"), (axes[1], "secondary", "held-out accuracy")):
        for i, level in enumerate(SIZE_LEVELS):
            rows = table[table["level"] == level].sort_values("params")
            if rows.empty:
                continue
            dodge = 1.0 + 0.04 * (i - 0.5)
            n = int(rows[f"{outcome}_n_pairs"].min())
            ax.errorbar(rows["params"] * dodge, 100 * rows[f"{outcome}_delta"], yerr=100 * rows[f"{outcome}_delta_ci95"],
                        color=f"C{i}", marker="os"[i % 2], capsize=3, lw=1.2, label=f"{level} (n={n} pairs per size)")
            fit = slopes[(slopes["level"] == level) & (slopes["outcome"] == outcome)]
            if len(fit) and not math.isnan(fit["slope"].iloc[0]):
                xs = np.geomspace(rows["params"].min(), rows["params"].max(), 20)
                ax.plot(xs, 100 * (fit["intercept"].iloc[0] + fit["slope"].iloc[0] * np.log10(xs)), color=f"C{i}", ls=":", lw=1,
                        label=f"{level} slope {100 * fit['slope'].iloc[0]:+.2f} ± {100 * fit['ci95'].iloc[0]:.2f} pts/decade")
        ax.axhline(0, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("policy parameters (log scale)")
        ax.set_ylabel(f"Δ ReDit − GRPO, {label} (pts)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.suptitle("ReDit − GRPO against policy size (95% t-CI, paired by seed)", fontsize=11)
    fig.tight_layout()
    return fig
