"""Launch paper-scale verl runs: locally one after another, as Slurm job arrays, or as Ray jobs.

    LAUNCH_LIST=/tmp/jobs.jsonl experiments/gsm8k/redit_gaussian.sh       # a recipe adds its job (runs nothing)
    python -m redit.launch submit --launcher slurm --list /tmp/jobs.jsonl --out runs/paper/launch --dry-run
    ./run_all.sh --scale paper --launcher slurm --dry-run                  # the whole grid, the same way

A job is one recipe run with every recipe variable resolved (patches/verl_recipe.py writes it), so it
reruns exactly that run wherever it is scheduled, and a rerun of an unfinished job resumes from its
latest checkpoint (trainer.resume_mode=auto; finished runs are skipped). Launchers:
  local  run each job's command here, in order (a failed job is reported, the others still run)
  slurm  one sbatch array per resource shape (nodes x GPUs per node, from the recipe): <shape>.jobs
         holds one command per line, <shape>.sbatch runs line $SLURM_ARRAY_TASK_ID (with --requeue, so
         a preempted task restarts and resumes); multi-node shapes start a Ray cluster on the
         allocation first. Submits with sbatch unless --dry-run.
  ray    `ray job submit --no-wait` per job to a running Ray cluster (--ray-address or $RAY_ADDRESS),
         with the job's GPUs as --entrypoint-num-gpus. The checkout and the run folders must sit on
         a filesystem every node sees at the same path (nothing is uploaded).
--dry-run prints the files and commands, writes and submits nothing. Every mode prints the estimated
GPU-hours (steps x the recipe's EST_STEP_SECONDS x GPUs: an estimate, never a measurement).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from . import REPO_ROOT

LAUNCHERS = ("local", "slurm", "ray")


def job_command(job: dict, root: Path = REPO_ROOT) -> str:
    """The shell command that runs the job's recipe with its variables and overrides."""
    env = " ".join(shlex.quote(f"{k}={v}") for k, v in job["vars"].items())
    overrides = "".join(f" {shlex.quote(o)}" for o in job["overrides"])
    return f"cd {shlex.quote(str(root))} && env {env} bash {shlex.quote(job['recipe'])}{overrides}"


def gpu_hours(job: dict) -> float:
    return job["steps"] * job["step_seconds"] * job["gpus_per_node"] * job["nnodes"] / 3600


def read_jobs(path: Path) -> list[dict]:
    if not Path(path).is_file():
        raise ValueError(f"no job list at {path}; recipes write it when LAUNCH_LIST is set.")
    jobs = []
    for lineno, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{lineno} is not a job line (JSON); recreate the list by rerunning the recipes with LAUNCH_LIST.") from None
        missing = [k for k in JOB_KEYS if not isinstance(job, dict) or k not in job]
        if missing:
            raise ValueError(f"{path}:{lineno} lacks {', '.join(missing)}; recreate the list by rerunning the recipes with LAUNCH_LIST.")
        jobs.append(job)
    if not jobs:
        raise ValueError(f"the job list {path} is empty.")
    for key, what in (("run_dir", "run folder"), ("name", "job name (run folder and its parent)")):
        values = [j[key] for j in jobs]
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"two jobs share the {what} {duplicates[0]}; give them distinct RUN_DIRs.")
    return jobs


JOB_KEYS = ("name", "run_dir", "recipe", "gpus_per_node", "nnodes", "steps", "step_seconds", "vars", "overrides")


def add(args) -> int:
    for name in ("gpus_per_node", "nnodes", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}.")
    if not math.isfinite(args.step_seconds) or args.step_seconds <= 0:
        raise ValueError(f"--step-seconds must be a finite number > 0; got {args.step_seconds}.")
    bad = [v for v in args.var if "=" not in v or not v.split("=", 1)[0]]
    if bad:
        raise ValueError(f"--var takes VAR=value; got {bad[0]!r}.")
    if not str(args.run_dir).strip():
        raise ValueError("--run-dir must name a run folder.")
    run_dir = Path(args.run_dir)
    job = {"name": f"{run_dir.parent.name}-{run_dir.name}", "run_dir": args.run_dir, "recipe": args.recipe,
           "gpus_per_node": args.gpus_per_node, "nnodes": args.nnodes, "steps": args.steps,
           "step_seconds": args.step_seconds, "vars": dict(v.split("=", 1) for v in args.var),
           "overrides": list(args.override)}
    with open(args.list, "a") as f:
        f.write(json.dumps(job, sort_keys=True) + "\n")
    print(f"[job] {job['name']}: {job['nnodes']} x {job['gpus_per_node']} GPUs, ~{gpu_hours(job):.0f} GPU-h (estimate)")
    return 0


def slurm_time(hours: float) -> str:
    """A time limit with headroom: 1.5 x the estimate + 1 h, whole hours (a task past it requeues and resumes)."""
    total = int(hours * 1.5 + 1.999)
    return f"{total // 24}-{total % 24:02d}:00:00"


RAY_ON_SLURM = """\
# a Ray cluster across the allocation: head on the first node, one worker per other node
nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
head_ip=$(srun --nodes=1 --ntasks=1 -w "${nodes[0]}" hostname --ip-address | awk '{print $1}')
srun --nodes=1 --ntasks=1 -w "${nodes[0]}" ray start --head --port=6379 --num-gpus=%(gpus)d --block &
sleep 15
for node in "${nodes[@]:1}"; do
  srun --nodes=1 --ntasks=1 -w "$node" ray start --address="$head_ip:6379" --num-gpus=%(gpus)d --block &
done
sleep 15
export RAY_ADDRESS="$head_ip:6379"
"""


def slurm_files(jobs: list[dict], out: Path, args) -> dict[Path, str]:
    """{path: text} of the .jobs and .sbatch files, one pair per resource shape."""
    shapes = defaultdict(list)
    for job in jobs:
        shapes[(job["nnodes"], job["gpus_per_node"])].append(job)
    files = {}
    for (nnodes, gpus), group in sorted(shapes.items()):
        shape = f"redit-{nnodes}x{gpus}gpu"
        listing = out / f"{shape}.jobs"
        hours = max(j["steps"] * j["step_seconds"] for j in group) / 3600
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={shape}",
            f"#SBATCH --array=0-{len(group) - 1}" + (f"%{args.max_parallel}" if args.max_parallel else ""),
            f"#SBATCH --nodes={nnodes}",
            "#SBATCH --ntasks-per-node=1",
            f"#SBATCH --gpus-per-node={gpus}",
            f"#SBATCH --cpus-per-task={args.cpus_per_gpu * gpus}",
            f"#SBATCH --time={args.time or slurm_time(hours)}",
            f"#SBATCH --output={out}/logs/%x-%A_%a.out",
            "#SBATCH --requeue",
        ]
        lines += [f"#SBATCH --partition={args.partition}"] if args.partition else []
        lines += [f"#SBATCH --account={args.account}"] if args.account else []
        lines += [f"# {len(group)} runs; each ~{hours:.1f} h at most (estimate); a requeued task resumes from its checkpoint",
                  "set -euo pipefail"]
        if nnodes > 1:
            lines.append(RAY_ON_SLURM % {"gpus": gpus})
        lines += [f'command=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(str(listing))})',
                  'echo "[redit] task $SLURM_ARRAY_TASK_ID: $command"', 'eval "$command"']
        files[listing] = "".join(job_command(j) + "\n" for j in group)
        files[out / f"{shape}.sbatch"] = "\n".join(lines) + "\n"
    return files


def ray_commands(jobs: list[dict], address: str | None) -> list[list[str]]:
    commands = []
    for job in jobs:
        command = ["ray", "job", "submit", "--no-wait", "--submission-id", f"redit-{job['name']}",
                   "--entrypoint-num-gpus", str(job["gpus_per_node"] * job["nnodes"])]
        commands.append(command + (["--address", address] if address else []) + ["--", "bash", "-c", job_command(job)])
    return commands


def submit(args) -> int:
    jobs = read_jobs(args.list)
    total = sum(gpu_hours(j) for j in jobs)
    print(f"# {len(jobs)} runs, ~{total:,.0f} GPU-hours in all (estimate: steps x EST_STEP_SECONDS x GPUs)")
    out = Path(args.out).resolve()
    if args.launcher == "local":
        failed = []
        for job in jobs:
            command = job_command(job)
            if args.dry_run:
                print(command)
            elif subprocess.run(command, shell=True).returncode != 0:
                failed.append(job["name"])
        if failed:
            print(f"error: {len(failed)} of {len(jobs)} runs failed: {', '.join(failed)}; rerun to resume them", file=sys.stderr)
            return 1
        return 0
    if args.launcher == "slurm":
        if not args.dry_run and shutil.which("sbatch") is None:
            print("error: sbatch not found; run this on a Slurm login node (or use --dry-run to see the files)", file=sys.stderr)
            return 2
        files = slurm_files(jobs, out, args)
        for path, text in files.items():
            if args.dry_run:
                print(f"# ---- {path}\n{text}", end="")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        for path in files:
            if path.suffix == ".sbatch":
                print(f"sbatch {shlex.quote(str(path))}")
                if not args.dry_run:
                    (out / "logs").mkdir(parents=True, exist_ok=True)
                    subprocess.run(["sbatch", str(path)], check=True)
        return 0
    address = args.ray_address or os.environ.get("RAY_ADDRESS")
    if not args.dry_run and shutil.which("ray") is None:
        print("error: the ray CLI is not installed here; pip install 'ray[default]' (or use --dry-run)", file=sys.stderr)
        return 2
    for command in ray_commands(jobs, address):
        print(shlex.join(command))
        if not args.dry_run:
            subprocess.run(command, check=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m redit.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add", help="append one job to a list (the recipe layer, patches/verl_recipe.py, calls this)")
    a.add_argument("--list", required=True, type=Path)
    a.add_argument("--recipe", required=True, help="recipe path relative to the repository root")
    a.add_argument("--run-dir", required=True)
    a.add_argument("--gpus-per-node", type=int, required=True)
    a.add_argument("--nnodes", type=int, required=True)
    a.add_argument("--steps", type=int, required=True)
    a.add_argument("--step-seconds", type=float, required=True, help="the recipe's estimate of seconds per step")
    a.add_argument("--var", action="append", default=[], help="VAR=value of the recipe (repeat)")
    a.add_argument("--override", action="append", default=[], help="a trailing Hydra override (repeat)")
    s = sub.add_parser("submit", help="launch every job of a list")
    s.add_argument("--launcher", choices=LAUNCHERS, default="local")
    s.add_argument("--list", required=True, type=Path)
    s.add_argument("--out", default=str(REPO_ROOT / "runs" / "paper" / "launch"), help="folder for the slurm files and logs")
    s.add_argument("--dry-run", action="store_true", help="print the job files and commands; write and submit nothing")
    s.add_argument("--partition", default=None)
    s.add_argument("--account", default=None)
    s.add_argument("--time", default=None, help="slurm time limit (default: 1.5 x the estimate + 1 h)")
    s.add_argument("--max-parallel", "--max-concurrent", dest="max_parallel", type=int, default=None,
                   help="slurm: at most this many array tasks at once (the array throttle --array=0-K%%N)")
    s.add_argument("--cpus-per-gpu", type=int, default=8)
    s.add_argument("--ray-address", default=None, help="ray: the cluster (default $RAY_ADDRESS)")
    def one_line_error(message):  # argparse would print the usage first
        print(f"error: {message}; see python -m redit.launch --help", file=sys.stderr)
        raise SystemExit(2)

    for parser in (p, a, s):
        parser.error = one_line_error
    args = p.parse_args(argv)
    if args.command == "submit" and args.max_parallel is not None and args.max_parallel < 1:
        p.error("--max-concurrent takes a whole number >= 1")
    if args.command == "submit" and args.cpus_per_gpu < 1:
        p.error("--cpus-per-gpu takes a whole number >= 1")
    if args.command == "submit" and Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"--out {args.out} is a file, not a folder")
    try:
        return add(args) if args.command == "add" else submit(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
