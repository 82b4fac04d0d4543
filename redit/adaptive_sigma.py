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


def flip_rate(raw, dithered, group_size: int) -> float:
    """Fraction of (higher-raw, lower-raw) pairs within each group whose dithered order is reversed
    (nan when no group has two different raw rewards)."""
    raw = torch.as_tensor(raw, dtype=torch.float64).reshape(-1, group_size)
    noisy = torch.as_tensor(dithered, dtype=torch.float64).reshape(-1, group_size)
    better = raw[:, :, None] > raw[:, None, :]  # pair (i, j): i's raw reward beats j's
    flipped = better & (noisy[:, :, None] < noisy[:, None, :])
    pairs = int(better.sum())
    return float(flipped.sum()) / pairs if pairs else float("nan")
