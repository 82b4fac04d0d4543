"""Compose verl's trainer config with a list of Hydra overrides, exactly as `main_ppo` would, and
print it -- without starting anything. Recipes call this for `--dry-run`; tests call `compose`.

    python -m patches.verl_compose algorithm.adv_estimator=redit_grpo +algorithm.redit.sigma=0.05 ...

A misspelt key (`algorithm.adv_estimater=...`), a bad value type or a bad `algorithm.redit` section
fails here with one line, so a typo in a recipe is caught before a cluster job is queued.
"""

from __future__ import annotations

import sys
from pathlib import Path

from redit import algorithms
from redit.adaptive_sigma import controller_from_section
from redit.algorithms import REAL_LABEL_SOURCES
from redit.dither import DitherConfig

CONFIG_NAME = "ppo_trainer"


def redit_estimators() -> dict[str, str]:
    """ReDit's verl estimators -> the stock estimator each wraps, from the algorithm table
    (redit.algorithms.ALGORITHMS; patches/redit_verl.py registers them; no verl import here)."""
    table = algorithms.ALGORITHMS.values()
    return {a.verl_estimator: a.verl_base_estimator for a in table if "verl" in a.backends}


REDIT_ESTIMATORS = redit_estimators()  # at import: what patches/redit_verl.py registers


def real_label_source(algorithm_config) -> str:
    """`algorithm.real.labels` (default dithered; redit.algorithms.real_labels). ValueError if unknown."""
    section = dict(((algorithm_config or {}).get("real") or {}).items())
    unknown = sorted(set(section) - {"labels"})
    if unknown:
        raise ValueError(f"unknown key algorithm.real.{unknown[0]}; the key is labels ({' | '.join(REAL_LABEL_SOURCES)}).")
    source = section.get("labels", REAL_LABEL_SOURCES[0])
    if source not in REAL_LABEL_SOURCES:
        raise ValueError(f"algorithm.real.labels must be one of {', '.join(REAL_LABEL_SOURCES)}; got {source!r}.")
    return source


def remedy_options(algorithm_config) -> dict:
    """`algorithm.redit_remedy` (redit.algorithms, the remedies experiment): {"filter": bool,
    "fill_strength": float | None}. ValueError names a bad key or value."""
    import math

    section = dict(((algorithm_config or {}).get("redit_remedy") or {}).items())
    unknown = sorted(set(section) - {"filter", "fill_strength"})
    if unknown:
        raise ValueError(f"unknown key algorithm.redit_remedy.{unknown[0]}; the keys are filter (true/false) and fill_strength (>= 0).")
    flag = section.get("filter", False)
    if not isinstance(flag, bool):
        raise ValueError(f"algorithm.redit_remedy.filter must be true or false; got {flag!r}.")
    strength = section.get("fill_strength")
    if strength is not None and (isinstance(strength, bool) or not isinstance(strength, (int, float))
                                 or not math.isfinite(strength) or strength < 0):
        raise ValueError(f"algorithm.redit_remedy.fill_strength must be a finite number >= 0; got {strength!r}.")
    if flag and strength is not None:
        raise ValueError("algorithm.redit_remedy: choose filter or fill_strength, not both.")
    return {"filter": flag, "fill_strength": None if strength is None else float(strength)}


def config_dir() -> Path:
    import importlib.util

    # located, not imported: importing verl (and its plugins) would triple the time of a dry run
    return Path(importlib.util.find_spec("verl").submodule_search_locations[0]) / "trainer" / "config"


def compose(overrides: list[str]):
    """verl's resolved DictConfig for `overrides` (raises on unknown keys or bad values)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
        config = hydra_compose(config_name=CONFIG_NAME, overrides=list(overrides))
    OmegaConf.resolve(config)
    estimators = redit_estimators()
    if str(config.algorithm.adv_estimator).startswith("redit_"):
        if config.algorithm.adv_estimator not in estimators:
            raise ValueError(f"unknown estimator {config.algorithm.adv_estimator}; ReDit offers {', '.join(estimators)}.")
        dither = DitherConfig.from_section(config.algorithm.get("redit"), int(config.trainer.total_training_steps or 0) or 1, where="algorithm.redit")
        controller_from_section(config.algorithm.get("redit_adaptive"), dither, where="algorithm.redit_adaptive")
        real_label_source(config.algorithm)
        remedy = remedy_options(config.algorithm)
        if (remedy["filter"] or remedy["fill_strength"] is not None) and estimators[config.algorithm.adv_estimator] != "grpo":
            raise ValueError("algorithm.redit_remedy (filter / fill_strength) acts on GRPO advantages: use algorithm.adv_estimator=redit_grpo.")
    elif (config.algorithm.get("redit_remedy") or {}):
        raise ValueError("algorithm.redit_remedy needs a ReDit estimator (algorithm.adv_estimator=redit_grpo).")
    return config


def main(argv=None) -> int:
    from omegaconf import OmegaConf

    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        config = compose(overrides)
    except Exception as error:  # Hydra's own errors are long; the first line names the key
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: verl config does not compose: {first}", file=sys.stderr)
        return 2
    print(OmegaConf.to_yaml(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
