"""Every experiment of the reproduction, defined once: name, title, question, variants, default seeds
and steps, and the backends that run it.

    python -m redit.registry                      # list every experiment with its title and grid
    python -m redit.registry verl-grid variance   # the verl recipe variables of each variant (one line each)

Everything else reads this module: the TRL sweep (`redit.sweep`), the verl ablation recipes
(`experiments/ablations/<name>.sh` through `python -m patches.verl_recipe grid`), `run_all.sh --help/--only` and the analysis
table titles. Adding an experiment is one entry in `EXPERIMENTS`.

A variant is written in the shared vocabulary of `redit.dither.DitherConfig` and `redit.algorithms`
(algorithm, dist, sigma = the distribution's own parameter, schedule, scope, adaptive), so both
backends can run it. Noise at a given *standard deviation* is written `noise(dist, std)`, which gets
the distribution's parameter from `dither.matched_sigma` (uniform a = std·√3, Laplace b = std/√2) — the
only place a matched σ is computed. Variants with `trl_options` (task difficulty, group size, ...)
exist only on the TRL backend; a variant's `level` names its task difficulty (the regime's `hard`, ...),
so tables label levels by name instead of by raw knobs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

from .dither import matched_sigma

# Noise std of the main comparison (the DitherConfig default) and of the ablations (large enough to
# reorder some 0/1 rewards within a group). The σ grid of the variance ablation is this project's choice: the
# paper's own grid is unknown here (../shared/notes/paper.md, results/paper/reference.csv).
MAIN_NOISE_STD = 0.05
ABLATION_NOISE_STD = 0.1
SIGMA_GRID = (0.01, 0.05, 0.1, 0.3, 0.5)


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment. `trl_options` holds extra `redit.train` options (TRL only); `level` is the
    name of the task difficulty those options set (a key of REGIME_LEVELS / REMEDIES_LEVELS), None when the
    variant runs at the task's default."""

    algorithm: str = "grpo"
    dist: str = "none"
    sigma: float = 0.0
    schedule: str = "constant"
    sigma_end: float = 0.0
    scope: str = "all"
    adaptive: str = "none"
    trl_options: tuple[tuple[str, str], ...] = ()
    backends: tuple[str, ...] = ("trl", "verl")
    verl: tuple[tuple[str, str], ...] = ()  # extra recipe variables of the verl variant (CLIP_GRAD, GROUP_SCALE, ...)

    level: str | None = None

    def with_trl_options(self, level: str | None = None, **options) -> Variant:
        return replace(self, trl_options=self.trl_options + tuple((k, str(v)) for k, v in options.items()),
                       backends=tuple(b for b in self.backends if b == "trl"), level=level or self.level)

    def train_args(self) -> list[str]:
        """`redit.train` arguments of this variant (only what differs from its defaults)."""
        args = []
        for name, default in (("algorithm", "grpo"), ("dist", "none"), ("sigma", 0.0), ("schedule", "constant"),
                              ("sigma_end", 0.0), ("scope", "all"), ("adaptive", "none")):
            value = getattr(self, name)
            if name == "dist" or value != default:  # --dist always: the method is visible in the command
                args += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else value]
        for name, value in self.trl_options:
            args += [f"--{name.replace('_', '-')}", value]
        return args

    def verl_env(self) -> dict[str, str]:
        """The recipe variables that reproduce this variant by hand (experiments/<task>/run.sh). A grid
        passes the variant itself instead (REDIT_EXPERIMENT + REDIT_VARIANT: patches/verl_recipe.py)."""
        if "verl" not in self.backends:
            raise ValueError(f"variant {self} has no verl recipe")
        env = {"ALGORITHM": self.algorithm, "METHOD": "grpo" if self.dist == "none" else f"redit-{self.dist}",
               "SIGMA": f"{self.sigma:g}"}
        if self.schedule != "constant":
            env.update(SCHEDULE=self.schedule, SIGMA_END=f"{self.sigma_end:g}")
        if self.scope != "all":
            env["SCOPE"] = self.scope
        if self.adaptive != "none":
            env["ADAPTIVE"] = self.adaptive
        env.update(self.verl)
        return env


def noise(dist: str, std: float, **fields) -> Variant:
    """ReDit with `dist` noise of standard deviation `std` (σ from dither.matched_sigma)."""
    return Variant(dist=dist, sigma=round(matched_sigma(dist, std), 6), **fields)


GRPO = Variant()


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    question: str
    variants: dict[str, Variant]
    seeds: tuple[int, ...] = (0, 1, 2)  # tiny-scale defaults (run_all.sh --seeds/--steps override)
    steps: int = 30
    paper_tasks: tuple[str, ...] = ("gsm8k",)  # verl recipes at paper scale (GSM8K: the paper's Figure 1)
    paper_seeds: tuple[int, ...] = (0, 1, 2)
    in_default_grid: bool = True  # False: too long for ./run_all.sh's default; run it with --only <name>

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(b for b in ("trl", "verl") if any(b in v.backends for v in self.variants.values()))

    def variants_for(self, backend: str) -> dict[str, Variant]:
        return {name: v for name, v in self.variants.items() if backend in v.backends}


def _experiments(*experiments: Experiment) -> dict[str, Experiment]:
    return {e.name: e for e in experiments}


GAUSSIAN = noise("gaussian", ABLATION_NOISE_STD)
EXPERIMENTS = _experiments(
    Experiment(
        "main", "Main results: GRPO vs GRPO + ReDit",
        "Does ReDit (Gaussian or uniform noise, matched std 0.05) beat GRPO at equal steps, and reach "
        "GRPO's final accuracy in fewer steps?",
        {"grpo": GRPO, "redit-gaussian": noise("gaussian", MAIN_NOISE_STD), "redit-uniform": noise("uniform", MAIN_NOISE_STD)},
        seeds=(0, 1, 2, 3, 4), steps=100, paper_tasks=("gsm8k", "math", "geo3k", "mbpp"), paper_seeds=(0, 1, 2, 3, 4)),
    Experiment(
        "baselines", "Baselines: each algorithm with and without ReDit",
        "Does ReDit (Gaussian std 0.1) also help Dr.GRPO, DAPO, REINFORCE++ and REAL?",
        {name: variant for algorithm in ("dr_grpo", "dapo", "reinforce_plus_plus", "real")
         # REINFORCE++ exists in verl only (TRL 1.16 has no REINFORCE++ estimator)
         for backends in [("verl",) if algorithm == "reinforce_plus_plus" else ("trl", "verl")]
         for name, variant in ((algorithm, Variant(algorithm=algorithm, backends=backends)),
                               (f"{algorithm}+redit-gaussian", replace(GAUSSIAN, algorithm=algorithm, backends=backends)))}),
    Experiment(
        "variance", "Variance ablation: final accuracy per noise scale",
        "How does accuracy depend on the noise scale? σ is each distribution's own parameter, as in the "
        "paper (Gaussian std, uniform half-width a = std·√3); figures plot against the std.",
        {"grpo": GRPO, **{f"{d}-{s:g}": Variant(dist=d, sigma=s) for d in ("gaussian", "uniform") for s in SIGMA_GRID}}),
    Experiment(
        "distribution", "Distribution ablation: Gaussian / uniform / Laplace at matched noise std 0.1",
        "Does the shape of the noise matter when its standard deviation is the same?",
        {d: noise(d, ABLATION_NOISE_STD) for d in ("gaussian", "uniform", "laplace")}),
    Experiment(
        "schedule", "Schedule ablation: σ over training steps",
        "Is decaying σ (to 0) better than constant σ, and is increasing it worse?",
        {"constant": GAUSSIAN,
         **{name: replace(GAUSSIAN, schedule=name, sigma_end=0.0) for name in ("linear", "cosine", "exponential", "step")},
         "linear-increase": Variant(dist="gaussian", sigma=0.0, schedule="linear", sigma_end=ABLATION_NOISE_STD)}),
    Experiment(
        "scope", "Scope ablation: noise on all groups / only zero-variance groups / only mixed groups",
        "Does ReDit act by rescuing saturated groups (zero_var) or by perturbing informative ones (mixed)?",
        {"grpo": GRPO, **{scope: replace(GAUSSIAN, scope=scope) for scope in ("all", "zero_var", "mixed")}}),
    Experiment(
        "adaptive", "Adaptive σ: controlled each step toward a target flip rate / grad-norm band",
        "Can a controller that sets σ from the batch's statistics replace a hand-tuned σ?",
        {"grpo": GRPO, **{target: replace(noise("gaussian", MAIN_NOISE_STD), adaptive=target) for target in ("flip_rate", "grad_norm")}}),
)


# The regime experiment (results/tiny/regime.md holds its pre-registered design): saturation levels
# set by task difficulty and sampling temperature, calibrated at step 0 by scripts/regime_pilot.py.
# level -> (max_number, min_ops, max_ops, temperature)
REGIME_LEVELS = {"easy": (5, 1, 1, 0.3), "default": (9, 1, 2, 1.0), "hard": (15, 1, 2, 1.0), "hardest": (20, 2, 3, 1.0)}
REGIME_SCOPE_LEVELS = ("hard", "hardest")  # the two most saturated: scope arms separate the two mechanisms
REGIME_NOISE_STD = 0.05


def _regime_variants() -> dict[str, Variant]:
    variants = {}
    for level, (max_number, min_ops, max_ops, temperature) in REGIME_LEVELS.items():
        knobs = dict(max_number=max_number, min_ops=min_ops, max_ops=max_ops, temperature=temperature, val_every=20)
        variants[f"{level}-grpo"] = GRPO.with_trl_options(level, **knobs)
        variants[f"{level}-redit"] = noise("gaussian", REGIME_NOISE_STD).with_trl_options(level, **knobs)
        if level in REGIME_SCOPE_LEVELS:
            for scope in ("zero_var", "mixed"):
                variants[f"{level}-{scope}"] = noise("gaussian", REGIME_NOISE_STD, scope=scope).with_trl_options(level, **knobs)
    return variants


EXPERIMENTS["regime"] = Experiment(
    "regime", "Regime: ReDit − GRPO against the measured fraction of saturated groups",
    "Does ReDit help where GRPO's groups saturate (all-correct or all-wrong), and does noise on the "
    "saturated groups alone reproduce it? (pre-registered: results/tiny/regime.md)",
    _regime_variants(), seeds=tuple(range(8)), steps=60)


# The remedies experiment (results/tiny/remedies.md holds its pre-registered design): what works where
# ReDit does not, with a positive control. Levels: the regime's easy and hard, and "medium", between
# the regime's default (GRPO saturated fraction 0.21) and hard (0.71), calibrated at step 0 by
# scripts/regime_pilot.py before any remedies run.
REMEDIES_LEVELS = {"easy": REGIME_LEVELS["easy"], "medium": (12, 1, 2, 1.0), "hard": REGIME_LEVELS["hard"]}
NO_CLIP = 1e6  # max_grad_norm that no step reaches (the largest pre-clip norm of all committed runs is 8.6)


def _remedies_variants() -> dict[str, Variant]:
    """Each arm named after what it does; its paper is cited in redit/algorithms.py and the README."""
    redit = noise("gaussian", REGIME_NOISE_STD)
    arms = {
        "grpo": GRPO,                                            # the baseline (identical to the regime's)
        "redit": redit,                                          # ReDit, the paper's method (arXiv 2506.18631)
        "redit-zero_var": replace(redit, scope="zero_var"),      # noise on saturated groups only
        "grpo-noclip": GRPO,                                     # the clip-budget test: no step is clipped
        "redit-noclip": redit,
        "dr_grpo": Variant(algorithm="dr_grpo"),                 # Dr.GRPO (arXiv 2503.20783): no std normalisation
        "dr_grpo+redit": replace(redit, algorithm="dr_grpo"),    # noise then gives saturated groups scale sigma
        "filter": Variant(algorithm="filter"),                   # DAPO's filter alone (arXiv 2503.14476)
        "refill": Variant(algorithm="refill"),                   # DAPO's dynamic sampling with refill
        "directional_fill": Variant(algorithm="directional_fill"),  # all-wrong -eps, all-correct +eps
        "group16": GRPO,                                         # G = 16 with half the prompts: equal samples
    }
    variants = {}
    for level, (max_number, min_ops, max_ops, temperature) in REMEDIES_LEVELS.items():
        knobs = dict(max_number=max_number, min_ops=min_ops, max_ops=max_ops, temperature=temperature, val_every=20)
        for arm, variant in arms.items():
            extra = {"max_grad_norm": NO_CLIP} if arm.endswith("-noclip") else {}
            if arm == "group16":
                extra = {"num_generations": 16, "prompts_per_step": 4}
            variants[f"{level}-{arm}"] = variant.with_trl_options(level, **knobs, **extra)
    # paper scale (verl recipes, the task's own difficulty): every arm, the TRL options as recipe variables
    for arm, variant in arms.items():
        extra = (("CLIP_GRAD", f"{NO_CLIP:g}"),) if arm.endswith("-noclip") else (("GROUP_SCALE", "2"),) if arm == "group16" else ()
        variants[arm] = replace(variant, backends=("verl",), verl=extra)
    return variants


EXPERIMENTS["remedies"] = Experiment(
    "remedies", "Remedies for saturated groups: what beats GRPO where ReDit does not (positive control)",
    "Which remedy for all-equal groups (no clipping, Dr.GRPO ± ReDit, filter, refill, directional fill, a larger "
    "group) beats GRPO in the saturated regime, and does ReDit's harm come from spending the gradient-clip budget? "
    "(pre-registered: results/tiny/remedies.md)",
    _remedies_variants(), seeds=tuple(range(8)), steps=60, in_default_grid=False)


# The convergence study (results/tiny/convergence.md holds its pre-registered design): the paper's
# "GRPO's accuracy in ~10 % of the steps" over a long horizon, and Δ against policy size.
CONVERGENCE_LEVELS = ("default", "hard")  # the embedded default and the regime's saturated all-wrong level
CONVERGENCE_STEPS = 400
CONVERGENCE_VAL_EVERY = 20  # 21 held-out evaluations: step 40 (10 % of 400) is the second
SIZE_LEVELS = ("default", "hard")
POLICY_SIZES = ("small", "wide", "large")  # redit.tiny_policy.POLICY_SIZES: 0.11 M, 0.38 M, 1.2 M parameters


def _level_knobs(level: str, val_every: int = 20) -> dict:
    max_number, min_ops, max_ops, temperature = REGIME_LEVELS[level]
    return dict(max_number=max_number, min_ops=min_ops, max_ops=max_ops, temperature=temperature, val_every=val_every)


EXPERIMENTS["convergence"] = Experiment(
    "convergence", "Convergence: steps to GRPO's accuracy over 400 steps (the paper's ~10 % claim)",
    "Does ReDit reach GRPO's final held-out accuracy in ~10 % of the steps, and is it ahead at equal steps? "
    "(pre-registered: results/tiny/convergence.md)",
    {f"{level}-{arm}": variant.with_trl_options(level, **_level_knobs(level, CONVERGENCE_VAL_EVERY))
     for level in CONVERGENCE_LEVELS
     for arm, variant in (("grpo", GRPO), ("redit", noise("gaussian", REGIME_NOISE_STD)))},
    seeds=tuple(range(8)), steps=CONVERGENCE_STEPS, in_default_grid=False)
EXPERIMENTS["size"] = Experiment(
    "size", "Model size: ReDit − GRPO at three policy sizes (0.11 M to 1.2 M parameters)",
    "Does ReDit's effect change with the policy's size? (pre-registered: results/tiny/convergence.md)",
    {f"{size}-{level}-{arm}": (variant.with_trl_options(level, **_level_knobs(level)) if size == "small"
                               else variant.with_trl_options(level, **_level_knobs(level), policy_size=size))
     for size in POLICY_SIZES for level in SIZE_LEVELS
     for arm, variant in (("grpo", GRPO), ("redit", noise("gaussian", REGIME_NOISE_STD)))},
    seeds=tuple(range(8)), steps=60, in_default_grid=False)
# the headline experiments are listed (and run) first
EXPERIMENTS = {name: EXPERIMENTS.pop(name) for name in ("regime", "remedies", "convergence", "size")} | EXPERIMENTS


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


def variant(experiment: str, name: str) -> Variant:
    """The registry variant `name` of `experiment`; ValueError naming the valid choices otherwise."""
    found = get(experiment).variants.get(name)
    if found is None:
        raise ValueError(f"experiment {experiment!r} has no variant {name!r}; choose from {', '.join(get(experiment).variants)}.")
    return found


def arm(name: str, variant: Variant) -> str:
    """The arm of a variant name: what follows its level (`hard-redit-zero_var` -> `redit-zero_var`,
    `small-hard-grpo` -> `grpo`); the whole name for a variant without a level."""
    return name.split(f"{variant.level}-", 1)[1] if variant.level and f"{variant.level}-" in name else name


def titles() -> dict[str, str]:
    return {name: e.title for name, e in EXPERIMENTS.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m redit.registry", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("list", help="every experiment, its title, backends and variants (default)")
    names = sub.add_parser("names", help="experiment names, one line")
    names.add_argument("--default-grid", action="store_true", help="only those ./run_all.sh runs by default")
    info = sub.add_parser("paper", help="paper-scale tasks and seeds of an experiment: PAPER_TASKS=... PAPER_SEEDS=...")
    info.add_argument("experiment")
    matched = sub.add_parser("matched-sigma", help="the sigma of DIST that gives noise std STD (dither.matched_sigma)")
    matched.add_argument("dist")
    matched.add_argument("std", type=float, nargs="?", default=MAIN_NOISE_STD)
    grid = sub.add_parser("verl-grid", help="one line per verl variant: <variant> VAR=value ... (the recipe variables "
                          "that reproduce it by hand; python -m patches.verl_recipe grid runs them)")
    grid.add_argument("experiment")
    args = p.parse_args(argv)
    try:
        if args.command == "matched-sigma":
            print(f"{noise(args.dist, args.std).sigma:g}")
        elif args.command == "paper":
            e = get(args.experiment)
            print(f'PAPER_TASKS="{" ".join(e.paper_tasks)}" PAPER_SEEDS="{" ".join(map(str, e.paper_seeds))}"')
        elif args.command == "names":
            print(" ".join(n for n, e in EXPERIMENTS.items() if e.in_default_grid or not args.default_grid))
        elif args.command == "verl-grid":
            experiment = get(args.experiment)
            variants = experiment.variants_for("verl")
            if not variants:
                raise ValueError(f"experiment {experiment.name!r} has no verl variants (TRL backend only: ./run_all.sh --only {experiment.name}).")
            for name, variant in variants.items():
                print(name, *(f"{k}={v}" for k, v in variant.verl_env().items()))
        else:
            for e in EXPERIMENTS.values():
                where = "" if e.in_default_grid else " (not in the default grid: --only " + e.name + ")"
                print(f"{e.name:13s} {e.title}\n{'':13s} backends {', '.join(e.backends)}; tiny default "
                      f"{len(e.seeds)} seeds x {e.steps} steps{where}; variants: {', '.join(e.variants)}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
