"""Small run folders in the shared schema for the analysis tests and notebooks, with numbers simple
enough to check tables by hand. One run is written by verl's own `file` logger."""

from __future__ import annotations

import json
from pathlib import Path

STEPS = 8  # training steps 1..8; validation at steps 0, 2, 4, 6, 8
VAL_STEPS = (0, 2, 4, 6, 8)

# experiment "main" (labelled in config.json; the folders sit directly under the root): final accuracies grpo 0.5 / 0.6 / 0.7 and
# redit-gaussian 0.7 / 0.8 / 0.75; verl/ holds one run written by verl's logger (no baseline there:
# a verl run is never paired with a TRL one)
MAIN = {
    ("none", 0): dict(val=(0.4, 0.45, 0.5, 0.5, 0.5), grad=(1, 0.005, 6, 1, 1, 1, 1, 0.0)),
    ("none", 1): dict(val=(0.4, 0.5, 0.55, 0.6, 0.6), grad=(1,) * 8),
    ("none", 2): dict(val=(0.4, 0.5, 0.6, 0.7, 0.7), grad=(7, 8, 1, 1, 1, 1, 1, 1)),
    ("gaussian", 0): dict(val=(0.4, 0.6, 0.7, 0.7, 0.7), grad=(0.5,) * 8),
    ("gaussian", 1): dict(val=(0.4, 0.6, 0.7, 0.8, 0.8), grad=(0.5,) * 8),
    ("gaussian", 2): dict(val=(0.4, 0.6, 0.7, 0.75, 0.75), grad=(0.5,) * 8),
}
VERL_RUN = dict(val=(0.4, 0.6, 0.7, 0.75, 0.75), grad=(0.5,) * 8)


def step_records(val, grad, sigma=0.0, val_key="val-core/tiny/acc/mean@1", drop=()):
    """{step: data} for one run: validation at VAL_STEPS, training keys at steps 1..8."""
    records = {step: {val_key: acc} for step, acc in zip(VAL_STEPS, val)}
    for step, g in enumerate(grad, 1):
        score = 0.3 + 0.05 * step
        sigma_t = sigma(step) if callable(sigma) else sigma
        data = {"actor/grad_norm": g, "critic/score/mean": score, "redit/dithered_score/mean": score + 0.01,
                "redit/sigma": sigma_t, "redit/zero_std_group_frac/raw": 0.25,
                "redit/zero_std_group_frac/dithered": 0.0 if sigma_t > 0 else 0.25, "response_length/mean": 16.0}
        records.setdefault(step, {}).update({k: v for k, v in data.items() if k not in drop})
    return records


def write_run(root: Path, name: str, dist: str, seed: int, records: dict, sigma: float = 0.05, schedule="constant",
              sigma_end=None, done: bool = True, algorithm: str = "grpo", scope: str = "all", experiment: str | None = None,
              variant: str | None = None, **knobs) -> Path:
    """A TRL-backend-shaped run folder (config.json, metrics.jsonl, done.json); `experiment` and `variant`
    label it as redit.runlog.run_config does (None: an unlabelled run, as written before runs carried them)."""
    path = Path(root) / name
    path.mkdir(parents=True)
    config = {"backend": "trl", "task": "tiny", "algorithm": algorithm, "seed": seed, "steps": STEPS,
              "dither": {"dist": dist, "sigma": 0.0 if dist == "none" else sigma, "schedule": schedule,
                         "sigma_end": sigma_end, "seed": seed, "total_steps": STEPS, "scope": scope},
              "model": {"path": "checkpoints/fixture"}, "git": {"sha": "0" * 40, "dirty": False}, **knobs}
    config.update({k: v for k, v in (("experiment", experiment), ("variant", variant)) if v is not None})
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in sorted(records.items())))
    if done:
        (path / "done.json").write_text("{}")
    return path


def write_verl_run(root: Path, name: str, seed: int, monkeypatch) -> Path:
    """A run folder as a verl run leaves it: metrics written by verl's FileLogger, config.json by the
    ReDit plugin from a composed verl config."""
    from patches.redit_verl import run_config
    from patches.verl_compose import compose
    from verl.utils.tracking import FileLogger

    path = Path(root) / name
    path.mkdir(parents=True)
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path / "metrics.jsonl"))
    monkeypatch.setenv("REDIT_EXPERIMENT", "verl")  # what a recipe sets; the plugin writes both into config.json
    monkeypatch.setenv("REDIT_VARIANT", "redit-gaussian")
    logger = FileLogger(project_name="redit", experiment_name=name)
    for step, data in sorted(step_records(**VERL_RUN, sigma=0.05).items()):
        logger.log(data=data, step=step)
    logger.finish()
    config = compose(["algorithm.adv_estimator=redit_grpo", "+algorithm.redit.dist=gaussian", "+algorithm.redit.sigma=0.05",
                      f"trainer.total_training_steps={STEPS}", f"+data.seed={seed}"])
    (path / "config.json").write_text(json.dumps(run_config(config), default=str))
    (path / "done.json").write_text("{}")
    return path


def write_fixture_runs(root: Path, monkeypatch) -> Path:
    """main: 3 GRPO + 3 ReDit seeds; verl/: one ReDit run from verl's logger; variance/: a sigma sweep (one run lacks the
    grad-norm key); schedule/: a linear sigma decay; plus one unfinished run that must be left out."""
    root = Path(root)
    for (dist, seed), spec in MAIN.items():
        method = "grpo" if dist == "none" else "redit-gaussian"
        write_run(root, f"{method}-s{seed}", dist, seed, step_records(**spec, sigma=0.0 if dist == "none" else 0.05),
                  experiment="main", variant=method)
    write_verl_run(root / "verl", "redit-gaussian-s2", 2, monkeypatch)
    write_run(root, "redit-gaussian-s9", "gaussian", 9, step_records((0.4, 0.1), (1, 1)), done=False, experiment="main",
              variant="redit-gaussian")
    flat = dict(val=(0.4, 0.5, 0.6, 0.6, 0.6), grad=(0.5,) * 8)
    for dist, sigma, seed in (("gaussian", 0.01, 0), ("gaussian", 0.01, 1), ("gaussian", 0.1, 0), ("uniform", 0.1, 0)):
        drop = ("actor/grad_norm",) if dist == "uniform" else ()
        write_run(root / "variance", f"{dist}-{sigma}-s{seed}", dist, seed, step_records(**flat, sigma=sigma, drop=drop), sigma=sigma,
                  experiment="variance", variant=f"{dist}-{sigma}")
    write_run(root / "schedule", "linear-s0", "gaussian", 0,
              step_records(**flat, sigma=lambda step: 0.1 * (1 - (step - 1) / (STEPS - 1))),
              sigma=0.1, schedule="linear", sigma_end=0.0, experiment="schedule", variant="linear")
    return root


# experiment "regime": 4 levels (task_config.max_number 9 / 12 / 15 / 20, temperature 1.0; not the registry's
# levels, so they are named by their knobs, "max_number=20") whose GRPO
# arm saturates REGIME_ZERO_VAR of its groups (a quarter all-correct, three quarters all-wrong); arms
# grpo and redit-gaussian everywhere, scope zero_var and mixed at the two most saturated levels; 3 seeds.
# Primary outcome (critic/score/mean over steps 5..8; steps 1..4 score 0, so a wrong window shows):
# grpo 0.3 + 0.01 * seed, an arm REGIME_DELTA[arm][level] + SEED_JITTER[seed] above it -> paired Δ =
# REGIME_DELTA exactly, sd of the differences 0.01. Secondary (mean of the evaluations at steps 4, 6, 8):
# grpo 0.5 + 0.01 * seed; every ReDit arm 0.02 above. GRPO's gradient norm is exactly 0 on REGIME_ZEROS
# steps (ReDit: never) and 30 (> 10 x its median 1.0 and > 5) on its last step at the top level.
REGIME_LEVELS = (9, 12, 15, 20)
REGIME_ZERO_VAR = (0.2, 0.4, 0.6, 0.8)
REGIME_ZEROS = (0, 1, 2, 3)
REGIME_DELTA = {"redit-gaussian": (0.0, 0.01, 0.03, 0.03), "zero_var": (None, None, 0.02, 0.04), "mixed": (None, None, 0.0, -0.01)}
SEED_JITTER = (-0.01, 0.0, 0.01)


def regime_records(level: int, seed: int, arm: str) -> dict:
    zero_var = REGIME_ZERO_VAR[level]
    delta = 0.0 if arm == "grpo" else REGIME_DELTA[arm][level] + SEED_JITTER[seed]
    late = 0.3 + 0.01 * seed + delta
    grad = [0.0] * REGIME_ZEROS[level] + [1.0] * (STEPS - REGIME_ZEROS[level]) if arm == "grpo" else [0.5] * STEPS
    if arm == "grpo" and level == len(REGIME_LEVELS) - 1:
        grad[-1] = 30.0
    val = 0.5 + 0.01 * seed + (0.0 if arm == "grpo" else 0.02)
    records = {step: {"val-core/tiny/acc/mean@1": acc} for step, acc in zip(VAL_STEPS, (0.3, 0.4, val, val, val))}
    for step in range(1, STEPS + 1):
        records.setdefault(step, {}).update({
            "actor/grad_norm": grad[step - 1], "critic/score/mean": late if step > STEPS / 2 else 0.0,
            "redit/zero_std_group_frac/raw": zero_var, "redit/zero_std_group_frac/raw_all_correct": zero_var / 4,
            "redit/zero_std_group_frac/raw_all_wrong": 3 * zero_var / 4})
    return records


def write_regime_runs(root: Path) -> Path:
    root = Path(root) / "regime"
    for level, max_number in enumerate(REGIME_LEVELS):
        knobs = dict(task_config={"max_number": max_number, "min_ops": 1}, temperature=1.0, num_generations=8)
        for seed in range(len(SEED_JITTER)):
            for arm, deltas in (("grpo", None), *REGIME_DELTA.items()):
                if arm != "grpo" and deltas[level] is None:
                    continue
                dist, scope = ("none", "all") if arm == "grpo" else ("gaussian", "all" if arm == "redit-gaussian" else arm)
                write_run(root, f"n{max_number}-{arm}-s{seed}", dist, seed, regime_records(level, seed, arm), scope=scope,
                          experiment="regime", variant=f"n{max_number}-{arm}", **knobs)
    return root
