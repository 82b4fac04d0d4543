"""Run a grid of training runs in parallel, resumably, with a progress line and an ETA.

    python -m redit.sweep --runs runs/tiny --seeds 0 1 2 --steps 150 --jobs 2
    python -m redit.sweep --experiments variance schedule --seeds 0 --steps 20 --list

Each run is `redit.train.main([...])` in its own process (1 torch thread), its output in
<run>/train.log. The processes are forked from a server that imported torch/transformers/TRL once,
which saves ~8 s of imports per run. A run whose arguments equal an earlier run's in another
experiment (e.g. Gaussian std 0.1 is in variance, distribution, schedule and scope) is computed once:
the later folder is a symlink to the first. Finished runs (done.json) are skipped, so rerunning after
Ctrl-C or a crash continues where it stopped; an unfinished run restarts from step 0.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import multiprocessing.connection
import fcntl
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .runlog import RunFolder


@dataclass
class Job:
    name: str
    run_dir: Path
    args: list[str]
    steps: int
    same_as: Path | None = None  # an identical run computed in another folder; this one links to it
    proc: multiprocessing.Process | None = None
    started: float = 0.0

    def progress(self) -> int:
        step = RunFolder(self.run_dir).last_step()
        return step or 0


def grid(runs_root: Path, experiments, seeds=None, steps: int | None = None, extra: list[str] = (),
         ablation_seeds=None, ablation_steps: int | None = None) -> list[Job]:
    """The jobs of the chosen experiments (redit.registry), TRL variants only, each run in
    runs_root/<experiment>/<variant>-s<seed> and labelled with --experiment/--variant (its config.json
    says what it is; the analysis groups by that). Seeds and steps default to each experiment's own;
    `seeds`/`steps` override every experiment, `ablation_*` every experiment but main.
    A job whose resolved training config repeats an earlier job's gets same_as = that job's folder."""
    jobs, first_with_args = [], {}
    for name in experiments:
        for job_name, run_dir, args, n in _experiment_runs(runs_root, name, seeds, steps, extra, ablation_seeds, ablation_steps):
            key = _config_key(args)
            jobs.append(Job(job_name, run_dir, args, n, same_as=first_with_args.get(key)))
            first_with_args.setdefault(key, run_dir)
    _reuse_other_experiments(jobs, runs_root, experiments, seeds, steps, extra, ablation_seeds, ablation_steps)
    return jobs


def _experiment_runs(runs_root: Path, name: str, seeds=None, steps=None, extra=(), ablation_seeds=None, ablation_steps=None):
    """(job name, run folder, redit.train arguments, steps) of each TRL run of one experiment."""
    experiment = registry.get(name)
    headline = name == "main"  # --ablation-seeds/--ablation-steps apply to every experiment but the headline one
    run_seeds = (ablation_seeds if not headline and ablation_seeds else None) or seeds or experiment.seeds
    n = (ablation_steps if not headline and ablation_steps else None) or steps or experiment.steps
    for seed in run_seeds:
        for variant_name, variant in experiment.variants_for("trl").items():
            run_dir = runs_root / name / f"{variant_name}-s{seed}"
            args = ["--run-dir", str(run_dir), "--seed", str(seed), "--steps", str(n), *variant.train_args(), *extra,
                    "--experiment", name, "--variant", variant_name]
            yield f"{name}/{variant_name}-s{seed}", run_dir, args, n


def _reuse_other_experiments(jobs: list[Job], runs_root: Path, chosen, *grid_args) -> None:
    """A job identical to a FINISHED run of an experiment not in this sweep (e.g. `--only remedies` after
    the default grid ran the regime) links to it instead of training again. Only finished folders are
    parsed, so a fresh runs folder costs nothing here."""
    pending = {}
    for job in jobs:
        if job.same_as is None and not job.run_dir.exists():
            pending.setdefault(_config_key(job.args), job)
    if not pending:
        return
    for name in registry.EXPERIMENTS:
        if name in chosen:
            continue
        for _, run_dir, args, _ in _experiment_runs(runs_root, name, *grid_args):
            if run_dir.is_symlink() or not RunFolder(run_dir).is_complete():
                continue
            job = pending.pop(_config_key(args), None)
            if job is not None:
                job.same_as = run_dir


def _config_key(train_args: list[str]) -> str:
    """What a run computes: its resolved training config (so `--scope all` equals the default); the
    --experiment/--variant labels are not part of it, so one run shared by two experiments is computed once."""
    from . import train

    parsed = train.parse_args(train_args)
    return json.dumps({**train.resolve_config(parsed), "model": str(parsed.model)}, sort_keys=True)


def link_duplicates(jobs: list[Job]) -> list[Job]:
    """Point each repeated run's folder at the first copy; return the jobs left to compute. A real
    folder already at a repeated run's path (e.g. from an older sweep) is kept and run as its own job."""
    to_compute = []
    for job in jobs:
        if job.same_as is not None and (job.run_dir.is_symlink() or not job.run_dir.exists()):
            target = Path(os.path.relpath(job.same_as, job.run_dir.parent))
            if not (job.run_dir.is_symlink() and Path(os.readlink(job.run_dir)) == target):
                job.run_dir.parent.mkdir(parents=True, exist_ok=True)
                job.run_dir.unlink(missing_ok=True)
                job.run_dir.symlink_to(target, target_is_directory=True)
        else:
            to_compute.append(job)
    return to_compute


def _die_with_sweep(sweep_pid: int) -> None:
    """End this run when the sweep process is gone (even after `kill -9`), so no orphan run keeps
    writing into a folder that a rerun will reuse. Runs are forked from the forkserver, not from the
    sweep, so the kernel's parent-death signal cannot see the sweep: a daemon thread polls it."""
    import threading

    def watch():
        while _alive(sweep_pid):
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5.0)
        os._exit(143)

    threading.Thread(target=watch, name="die-with-sweep", daemon=True).start()


def _train_child(args: list[str], log_path: str, sweep_pid: int) -> None:
    """Body of one run's process: output to its train.log, exit status from redit.train."""
    import gc

    gc.freeze()  # the forkserver's imported modules: never scanned by this run's collections (0.3 s per run)
    _die_with_sweep(sweep_pid)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from . import train

    try:
        code = train.main(args)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def _die_with_parent() -> None:
    """SIGTERM this sweep when the process that started it dies, even by kill -9 (Linux prctl; its runs
    then end with it, see _die_with_sweep). Opt-in: a sweep started by hand under nohup keeps running."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_context():
    """Fork each run from a server that already imported the training stack (Linux/macOS); plain
    spawn elsewhere. Thread counts are fixed before torch is imported there."""
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["redit._sweep_forkserver", "redit.train", "redit.trl_backend", "redit.tiny_task", "trl.trainer.grpo_trainer"])
    return ctx


def _start_run_server() -> None:
    """Start the forkserver at once: its imports (~5 s) then overlap the sweep's own set-up (the grid's
    configs import the training stack here too) instead of following it."""
    if _process_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def run_jobs(jobs: list[Job], n_parallel: int, poll: float = 10.0) -> int:
    """Run the unfinished jobs, n_parallel at a time; return the number that failed."""
    computed = link_duplicates(jobs)
    todo = [j for j in computed if not RunFolder(j.run_dir).is_complete()]
    print(f"[sweep] {len(jobs)} runs: {len(jobs) - len(computed)} repeat another experiment's run (linked), "
          f"{len(computed) - len(todo)} already finished (skipped), {len(todo)} to run, {n_parallel} at a time", flush=True)
    ctx = _process_context() if todo else None
    running, failed, done_steps, start, last_print = [], [], 0, time.time(), 0.0
    total_steps = sum(j.steps for j in todo)
    while todo or running:
        while todo and len(running) < n_parallel:
            job = todo.pop(0)
            job.run_dir.mkdir(parents=True, exist_ok=True)
            job.proc = ctx.Process(target=_train_child, args=([*job.args, "--threads", "1"], str(job.run_dir / "train.log"), os.getpid()))
            job.proc.start()
            job.started = time.time()
            running.append(job)
        # wake as soon as a run ends (its sentinel), so the next starts at once; else every 0.5 s for the progress line
        multiprocessing.connection.wait([j.proc.sentinel for j in running], timeout=0.5)
        for job in [j for j in running if j.proc.exitcode is not None]:
            running.remove(job)
            done_steps += job.steps
            if job.proc.exitcode != 0:
                failed.append(job)
                tail = (job.run_dir / "train.log").read_text().strip().splitlines()[-3:]
                print(f"[sweep] FAILED {job.name} (exit {job.proc.exitcode}); see {job.run_dir / 'train.log'}:", *tail, sep="\n  ", flush=True)
            else:
                print(f"[sweep] finished {job.name} in {_fmt(time.time() - job.started)}", flush=True)
        if time.time() - last_print >= poll or (not todo and not running):
            last_print = time.time()
            steps_now = done_steps + sum(j.progress() for j in running)
            elapsed = time.time() - start
            eta = elapsed / steps_now * (total_steps - steps_now) if steps_now else math.nan
            status = ", ".join(f"{j.name} {j.progress()}/{j.steps}" for j in running) or "-"
            print(f"[sweep] {steps_now}/{total_steps} steps ({100 * steps_now / max(total_steps, 1):.0f}%) "
                  f"elapsed {_fmt(elapsed)} ETA {_fmt(eta)} | running: {status}", flush=True)
    print(f"[sweep] done in {_fmt(time.time() - start)}; {len(failed)} failed", flush=True)
    return len(failed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("runs/tiny"))
    p.add_argument("--experiments", nargs="+", default=["main"], help=f"any of: {', '.join(registry.EXPERIMENTS)} (default main)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds of every experiment (default: each experiment's own, redit/registry.py)")
    p.add_argument("--steps", type=int, help="steps of every run (default: each experiment's own)")
    p.add_argument("--ablation-seeds", type=int, nargs="+", help="seeds of every experiment but main (default: --seeds)")
    p.add_argument("--ablation-steps", type=int, help="steps of every experiment but main (default: --steps)")
    p.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1), help="runs in parallel (default: CPU count)")
    p.add_argument("--train-args", default="", help="extra arguments passed to every `redit.train` (quoted string)")
    p.add_argument("--list", action="store_true", help="print the runs of the grid and exit")
    def one_line_error(message):
        print(f"error: {message}; see python -m redit.sweep --help", file=sys.stderr)
        raise SystemExit(2)

    p.error = one_line_error
    try:
        args = p.parse_args(argv)
    except SystemExit as stop:
        return stop.code
    for name in ("jobs", "steps", "ablation_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}.", file=sys.stderr)
            return 2
    extra = args.train_args.split()
    owned = sorted({a.split("=")[0] for a in extra} & {"--run-dir", "--run_dir", "--seed", "--steps", "--max_steps",
                                                          "--experiment", "--variant"})
    if owned:
        print(f"error: --train-args may not set {owned[0]}: the sweep sets every run's folder, seed, steps and registry "
              "labels (use --runs, --seeds, --steps, --experiments).", file=sys.stderr)
        return 2
    for name in ("seeds", "ablation_seeds"):
        values = getattr(args, name) or []
        twice = sorted({s for s in values if values.count(s) > 1})
        if twice:
            print(f"error: --{name.replace('_', '-')} lists seed {twice[0]} twice (one run folder per seed); list each seed once.",
                  file=sys.stderr)
            return 2
    if os.environ.get("REDIT_DIE_WITH_PARENT") == "1":
        _die_with_parent()  # run_all.sh sets it: kill -9 of run_all.sh must not orphan the training
    if not args.list:
        _start_run_server()
    try:
        jobs = grid(args.runs, args.experiments, args.seeds, args.steps, extra,
                    args.ablation_seeds, args.ablation_steps)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(f"{j.name}: " + (f"same run as {j.same_as}" if j.same_as else f"python -m redit.train {' '.join(j.args)}")
                         for j in jobs))
        return 0
    args.runs.mkdir(parents=True, exist_ok=True)
    lock = open(args.runs / ".sweep.lock", "w")
    try:  # one sweep per runs folder: a second one would train the same runs into the same files
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: another sweep is running on {args.runs}; wait for it, or use another --runs folder.", file=sys.stderr)
        return 2
    (args.runs / "sweep.json").write_text(json.dumps({"jobs": [j.name for j in jobs], "args": vars(args)}, default=str, indent=2) + "\n")
    try:
        return 1 if run_jobs(jobs, args.jobs) else 0
    except KeyboardInterrupt:
        print("\n[sweep] interrupted; finished runs are kept, unfinished ones restart: rerun the same command to continue.",
              file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
