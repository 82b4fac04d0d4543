"""Label run folders written before runs carried their identity: add `experiment` and `variant` (names
in redit/registry.py) to each config.json, and rename the tiny task's legacy knobs (task_config
min_steps/max_steps -> min_ops/max_ops). Metrics and done.json are never touched.

    python scripts/label_runs.py --runs runs/tiny --dry-run      # what would change, nothing written
    python scripts/label_runs.py --runs runs/tiny                # label in place
    python scripts/label_runs.py --runs runs/tiny --move-main    # also move main's runs into runs/tiny/main/

A folder's identity is where the sweep put it: <runs>/<experiment>/<variant>-s<seed>; a run directly in
<runs> is the main experiment's (the sweep's layout before runs were labelled; it now writes
<runs>/main/); a verl ablation folder may carry its task first (<task>-<variant>-s<seed>). Every folder
is checked before anything is written: a folder whose name is a registry variant must agree with its
config.json (algorithm, noise, scope, schedule, adaptive σ, seed, task knobs, group size, ...), else one
error line names it and nothing is written; a folder whose name is no registry variant is listed and
left unlabelled (write experiment/variant into its config.json by hand). Links (the sweep's
"same run as another experiment's") are skipped: the analysis takes a link's identity from where it sits.
Labelled folders whose task knobs already have their current names are left alone, so a rerun changes nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redit import registry, tiny_task  # noqa: E402

METRICS_FILES = ("metrics.jsonl", "metrics.jsonl.gz")
# trl_options of a registry variant -> where the run's config.json holds that value
OPTION_KEYS = {"max_number": ("task_config", "max_number"), "min_ops": ("task_config", "min_ops"),
               "max_ops": ("task_config", "max_ops"), "temperature": ("temperature",), "val_every": ("val_every",),
               "max_grad_norm": ("max_grad_norm",), "num_generations": ("num_generations",),
               "prompts_per_step": ("prompts_per_step",), "policy_size": ("policy_size",)}


def run_folders(root: Path) -> list[Path]:
    """Real run folders under root (a folder holding a metrics file); links are not followed."""
    return sorted(Path(d) for d, _, files in os.walk(root) if set(METRICS_FILES) & set(files))


def identity(root: Path, run_dir: Path, config: dict) -> tuple[str, str, int] | None:
    """(experiment, variant, seed) from the sweep's folder layout; None when the folder names no registry variant."""
    parent = run_dir.parent.relative_to(root).as_posix()
    experiment = "main" if parent == "." else parent
    variant, sep, seed = run_dir.name.rpartition("-s")
    if not sep or not seed.isdigit() or experiment not in registry.EXPERIMENTS:
        return None
    variants = registry.get(experiment).variants
    task_prefix = f"{config.get('task')}-"
    if variant not in variants and variant.startswith(task_prefix) and variant[len(task_prefix):] in variants:
        variant = variant[len(task_prefix):]  # a verl ablation folder: <task>-<variant>-s<seed>
    return (experiment, variant, int(seed)) if variant in variants else None


def _same(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    except (TypeError, ValueError):
        return str(a) == str(b)


def disagreements(config: dict, variant: registry.Variant, seed: int) -> list[str]:
    """The settings in which a run's config.json differs from the registry variant its folder names."""
    dither = config.get("dither") or {}  # keys a run predates are at redit.dither.DitherConfig's defaults
    schedule = dither.get("schedule", "constant")
    task_config = tiny_task.with_current_names(config.get("task_config") or {})
    found = {"algorithm": config.get("algorithm", "grpo"), "dist": dither.get("dist", "none"), "sigma": dither.get("sigma") or 0.0,
             "schedule": schedule, "sigma_end": (dither.get("sigma_end") or 0.0) if schedule != "constant" else 0.0,
             "scope": dither.get("scope", "all"), "adaptive": (config.get("adaptive_sigma") or {}).get("target", "none"),
             "seed": config.get("seed")}
    wanted = {"algorithm": variant.algorithm, "dist": variant.dist, "sigma": variant.sigma, "schedule": variant.schedule,
              "sigma_end": variant.sigma_end, "scope": variant.scope, "adaptive": variant.adaptive, "seed": seed}
    for option, value in variant.trl_options:
        *where, key = OPTION_KEYS[option]
        holder = {**config, "task_config": task_config}
        for part in where:
            holder = holder.get(part) or {}
        found[option] = holder.get(key, "small" if option == "policy_size" else None)
        wanted[option] = value
    return [f"{k} {found[k]!r} (registry: {wanted[k]!r})" for k in wanted if not _same(found[k], wanted[k])]


def labelled(config: dict, experiment: str, variant: str) -> dict:
    """config with experiment/variant set and the task knobs under their current names."""
    out = {**config, "experiment": experiment, "variant": variant}
    if isinstance(config.get("task_config"), dict):
        out["task_config"] = tiny_task.with_current_names(config["task_config"])
    return out


def plan(root: Path) -> tuple[list[tuple[Path, dict, dict]], list[Path]]:
    """((folder, config, labelled config) of every folder to change, folders whose name is no registry variant);
    ValueError for the first folder whose config.json is not the variant its name says."""
    changes, unknown = [], []
    for run_dir in run_folders(root):
        config_path = run_dir / "config.json"
        try:
            config = json.loads(config_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{config_path} is not readable JSON ({type(err).__name__}); repair it or move the folder out of --runs.") from None
        if config.get("experiment") and config.get("variant"):
            registry.variant(config["experiment"], config["variant"])  # a label the registry does not know is an error too
            new = labelled(config, config["experiment"], config["variant"])
        else:
            found = identity(root, run_dir, config)
            if found is None:
                unknown.append(run_dir)
                continue
            experiment, variant, seed = found
            differ = disagreements(config, registry.variant(experiment, variant), seed)
            if differ:
                raise ValueError(f"{run_dir}: its folder names {experiment}/{variant} but its config.json differs in "
                                 f"{'; '.join(differ)}; write experiment/variant into it by hand.")
            new = labelled(config, experiment, variant)
        if new != config:
            changes.append((run_dir, config, new))
    return changes, unknown


def main_runs_to_move(root: Path) -> list[Path]:
    """Run folders directly in root, which the sweep now writes to root/main/; refuses those a link points to."""
    direct = [d for d in run_folders(root) if d.parent == root]
    links = [Path(d) / s for d, subdirs, _ in os.walk(root) for s in subdirs if (Path(d) / s).is_symlink()]
    targets = {Path(os.path.realpath(link)) for link in links}
    linked = [d for d in direct if Path(os.path.realpath(d)) in targets]
    if linked:
        raise ValueError(f"{linked[0]} is the target of a link under {root}; move it by hand and repoint the link, or drop --move-main.")
    if any((root / "main" / d.name).exists() for d in direct):
        raise ValueError(f"{root / 'main'} already holds a folder of the same name as one in {root}; drop --move-main.")
    return direct


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, required=True, help="folder of run folders (e.g. runs/tiny)")
    p.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    p.add_argument("--move-main", action="store_true", help="move the runs directly in --runs into --runs/main/")
    args = p.parse_args(argv)
    if not args.runs.is_dir():
        print(f"error: --runs {args.runs} is not a folder; pass the folder that holds the run folders (e.g. runs/tiny).", file=sys.stderr)
        return 2
    try:  # every folder is checked before any is written
        changes, unknown = plan(args.runs)
        moves = main_runs_to_move(args.runs) if args.move_main else []
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for run_dir, old, new in changes:
        added = ", ".join(f"{k}={new[k]}" for k in ("experiment", "variant") if old.get(k) != new[k])
        renamed = " task_config min_steps/max_steps -> min_ops/max_ops" if old.get("task_config") != new.get("task_config") else ""
        print(f"{'would label' if args.dry_run else 'labelled'} {run_dir}: {added}{';' if added and renamed else ''}{renamed}")
        if not args.dry_run:  # the format RunFolder.write_config writes
            (run_dir / "config.json").write_text(json.dumps(new, indent=2, sort_keys=True, default=str) + "\n")
    for run_dir in unknown:
        print(f"left unlabelled {run_dir}: its name is no <variant>-s<seed> of a registry experiment "
              "(redit/registry.py); write experiment/variant into its config.json by hand")
    for run_dir in moves:
        print(f"{'would move' if args.dry_run else 'moved'} {run_dir} -> {args.runs / 'main' / run_dir.name}")
        if not args.dry_run:
            (args.runs / "main").mkdir(exist_ok=True)
            run_dir.rename(args.runs / "main" / run_dir.name)
    print(f"{len(changes)} of {len(run_folders(args.runs))} run folders {'to label' if args.dry_run else 'labelled'}"
          + (f", {len(moves)} {'to move' if args.dry_run else 'moved'} into main/" if args.move_main else "") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
