"""Adaptive σ (beyond the paper; its "future work: automated variance control"): a controller that
moves σ every step toward a target computed from the step's own logged statistics.

    >>> c = SigmaController(target="flip_rate", setpoint=0.05, sigma=0.05)
    >>> c.observe(flip_rate=0.0)       # no label was flipped by the noise: raise sigma
    0.0625

Update (multiplicative, so σ stays positive and moves by the same factor at any scale):
    σ ← clip(σ · rate^d, sigma_min, sigma_max),  d = +1 if the statistic is below the target band,
                                                    −1 if above it, 0 inside it.
Targets:
    flip_rate  the fraction of (correct, wrong) response pairs of the same prompt whose dithered
               rewards are in the wrong order. It is what σ directly controls (for 0/1 rewards and
               Gaussian noise P(flip) = Φ(−1 / (σ√2))), so the controller finds the largest noise that
               keeps the reward's ranking mostly intact, whatever the reward's scale. Band: setpoint ± tol.
    grad_norm  the previous step's pre-clip gradient norm, kept inside [low, high] = setpoint · (1 ∓ tol):
               more noise when gradients vanish, less when they spike (the paper's two failure modes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TARGETS = ("flip_rate", "grad_norm")
DEFAULT_SETPOINTS = {"flip_rate": 0.05, "grad_norm": 1.0}


@dataclass
class SigmaController:
    target: str = "flip_rate"
    setpoint: float = 0.05
    tol: float = 0.2  # flip_rate: absolute band half-width as a fraction of the setpoint; grad_norm: relative
    sigma: float = 0.05  # current sigma (the initial value until the first observation)
    rate: float = 1.25
    sigma_min: float = 1e-3
    sigma_max: float = 1.0

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"adaptive sigma target must be one of {', '.join(TARGETS)}; got {self.target!r}.")
        if not (self.setpoint > 0 and 0 <= self.tol < 1 and self.rate > 1 and 0 < self.sigma_min <= self.sigma <= self.sigma_max):
            raise ValueError("adaptive sigma needs setpoint > 0, 0 <= tol < 1, rate > 1 and sigma_min <= sigma <= sigma_max.")

    def observe(self, flip_rate: float | None = None, grad_norm: float | None = None) -> float:
        """Feed the statistic this controller targets (others are ignored); returns the new sigma."""
        value = flip_rate if self.target == "flip_rate" else grad_norm
        if value is None or not np.isfinite(value):
            return self.sigma
        low, high = self.setpoint * (1 - self.tol), self.setpoint * (1 + self.tol)
        direction = 1 if value < low else -1 if value > high else 0
        self.sigma = float(np.clip(self.sigma * self.rate ** direction, self.sigma_min, self.sigma_max))
        return self.sigma

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def flip_rate(raw, dithered, group_size) -> float:
    """Fraction of (higher-raw, lower-raw) pairs within each group whose dithered order is reversed
    (nan when no group has two different raw rewards). `group_size`: the group size G (the G samples of
    a prompt contiguous, as in TRL) or one group id per element in any order (verl's `uid`)."""
    groups = group_size
    raw = torch.as_tensor(raw, dtype=torch.float64).reshape(-1)
    noisy = torch.as_tensor(dithered, dtype=torch.float64).reshape(-1)
    if not isinstance(groups, (int, np.integer)):  # ids: sort the groups together, then one per row
        ids = np.asarray(list(groups))
        inverse = np.unique(ids, return_inverse=True)[1].reshape(-1)
        sizes = np.bincount(inverse)
        if len(set(sizes.tolist())) != 1:  # unequal groups (rare): pair them group by group
            flipped = pairs = 0
            for g in range(len(sizes)):
                rows = torch.from_numpy(np.flatnonzero(inverse == g))
                f, p = _pair_counts(raw[rows][None], noisy[rows][None])
                flipped, pairs = flipped + f, pairs + p
            return flipped / pairs if pairs else float("nan")
        order = torch.from_numpy(np.argsort(inverse, kind="stable"))
        raw, noisy, groups = raw[order], noisy[order], int(sizes[0])
    flipped, pairs = _pair_counts(raw.reshape(-1, groups), noisy.reshape(-1, groups))
    return flipped / pairs if pairs else float("nan")


def _pair_counts(raw: torch.Tensor, noisy: torch.Tensor) -> tuple[int, int]:
    """(reversed pairs, ordered pairs) over rows of [groups, G] rewards."""
    better = raw[:, :, None] > raw[:, None, :]  # pair (i, j): i's raw reward beats j's
    flipped = better & (noisy[:, :, None] < noisy[:, None, :])
    return int(flipped.sum()), int(better.sum())


def controller_from_section(section, dither_config, where: str = "adaptive") -> SigmaController | None:
    """The controller of a config mapping {target, setpoint?, tol?, rate?, sigma_min?, sigma_max?}
    (None when absent or target none), starting at the dithering's sigma, as both backends build it.
    ValueError names `where.<key>` for an unknown key or a bad value."""
    values = dict((section or {}).items())
    if not values or values.get("target", "none") == "none":
        return None
    known = ("target", "setpoint", "tol", "rate", "sigma_min", "sigma_max")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown key {where}.{unknown[0]}; the keys are {', '.join(known)}.")
    if dither_config.dist == "none" or dither_config.schedule != "constant":
        raise ValueError(f"{where} needs a noise dist and the constant schedule (the controller sets sigma).")
    target = values.pop("target")
    if target not in TARGETS:
        raise ValueError(f"{where}.target must be one of {', '.join(TARGETS)}; got {target!r}.")
    values.setdefault("setpoint", DEFAULT_SETPOINTS[target])
    values.setdefault("sigma_max", max(1.0, dither_config.sigma))
    try:
        return SigmaController(target=target, sigma=dither_config.sigma, **{k: float(v) for k, v in values.items()})
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from None
