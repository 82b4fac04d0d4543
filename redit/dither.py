"""Reward dithering (ReDit, arXiv 2506.18631): the method itself, framework-free.

Each sampled response's reward becomes r~_i = r_i + eps_i, eps_i drawn independently per response
from a zero-mean distribution, *before* the group normalisation of GRPO-style advantages.

    >>> cfg = DitherConfig(dist="gaussian", sigma=0.05, seed=0)
    >>> noisy = dither(torch.tensor([1.0, 1.0, 0.0, 0.0]), cfg, step=3)
    >>> zero_std_group_frac(torch.tensor([1.0, 1.0, 0.0, 1.0]), groups=2)
    0.5

Noise distributions (`dist`), all zero-mean, parameterised by `sigma` (written s below):
    gaussian   N(0, s^2)                std s
    uniform    U[-s, s]  (a = s)        std s/sqrt(3)
    laplace    Laplace(0, b = s)        std s*sqrt(2)
    none       no noise
`matched_sigma(dist, std)` gives the `sigma` that yields a target standard deviation; `noise_std(dist,
sigma)` is its inverse (what the analysis plots ablations against).

Schedules (`schedule`): sigma goes from `sigma` (s0) at step 0 to `sigma_end` (s1) at
`total_steps` (T); with t = min(step / T, 1):
    constant     s0                                            (T not needed)
    linear       s0 + (s1 - s0) * t                            (s1 > s0 gives a linear increase)
    cosine       s1 + (s0 - s1) * (1 + cos(pi * t)) / 2
    exponential  s1 + (s0 - s1) * (exp(-k t) - exp(-k)) / (1 - exp(-k)),  k = 5
                 (an exponential decay rescaled so that it hits both endpoints, s1 = 0 included)
    step         s0 while t < 1/2, then s1

Scope (`scope`, beyond the paper): which prompt groups get noise, judged on their RAW rewards.
    all          every response (the paper's ReDit)
    zero_var     only groups whose raw rewards are all equal: random gradients where GRPO has none
    mixed        only groups with differing raw rewards: perturbed advantages where GRPO has signal
The two partial scopes separate the two mechanisms the paper's claims mix. The noise drawn for a
response is the same under every scope (masked, not re-drawn), so scopes compare like for like.

Reward parts (`reward_parts`, k): where the reward is a sum of k parts (the released code's GSM8K
reward has 5 reward functions, MATH 3), noise can go on each part rather than once on the sum. With
k > 1, k independent draws of `dist` at `sigma` are made per response and their sum is added to its
total reward (equivalent to dithering each part). For gaussian the sum is N(0, k s^2), i.e. std
s*sqrt(k); for uniform and laplace the std is also sqrt(k) times one draw's, but the sum is no longer
uniform (k = 2: triangular on [-2s, 2s]) or laplace. k = 1 (the default) is one draw per response,
bit-identical to the draws before the option existed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    import torch
# torch is imported inside the functions that draw or read tensors: the registry and the analysis read this
# module's constants and noise_std/matched_sigma, and starting them should not cost torch's 1.6 s import.

DISTRIBUTIONS = ("gaussian", "uniform", "laplace", "none")
SCHEDULES = ("constant", "linear", "cosine", "exponential", "step")
SCOPES = ("all", "zero_var", "mixed")
EXPONENTIAL_RATE = 5.0  # k in the exponential schedule: sigma is ~1% of the way left at t = 1 before rescaling

# Standard deviation of one draw per unit of `sigma`, per distribution.
STD_PER_SIGMA = {"gaussian": 1.0, "uniform": 1.0 / math.sqrt(3.0), "laplace": math.sqrt(2.0), "none": 0.0}


@dataclass(frozen=True)
class DitherConfig:
    """What noise to add to rewards. Invalid values raise ValueError at construction."""

    dist: str = "gaussian"
    sigma: float = 0.05
    schedule: str = "constant"
    sigma_end: float = 0.0
    total_steps: Optional[int] = None
    seed: int = 0
    scope: str = "all"
    reward_parts: int = 1  # k independent draws per response, summed (noise on each of k reward parts)

    def __post_init__(self):
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(f"dither dist must be one of {', '.join(DISTRIBUTIONS)}; got {self.dist!r}.")
        if self.scope not in SCOPES:
            raise ValueError(f"dither scope must be one of {', '.join(SCOPES)}; got {self.scope!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"dither schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}.")
        for name in ("sigma", "sigma_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"dither {name} must be a finite number >= 0; got {value!r}.")
        if self.schedule != "constant":
            if self.total_steps is None:
                raise ValueError(f"dither schedule {self.schedule!r} needs total_steps (the step where sigma reaches sigma_end).")
            if isinstance(self.total_steps, bool) or not isinstance(self.total_steps, int) or self.total_steps <= 0:
                raise ValueError(f"dither total_steps must be a positive integer; got {self.total_steps!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"dither seed must be a non-negative integer; got {self.seed!r}.")
        parts = self.reward_parts
        if isinstance(parts, bool) or not isinstance(parts, (int, np.integer)) or parts < 1:
            raise ValueError(f"dither reward_parts must be a whole number >= 1 (1: noise on the summed reward, "
                             f"k: one draw per reward part); got {parts!r}.")

    @property
    def enabled(self) -> bool:
        return self.dist != "none" and (self.sigma > 0 or (self.schedule != "constant" and self.sigma_end > 0))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_section(cls, section, total_steps: Optional[int] = None, where: str = "dither") -> "DitherConfig":
        """From a config mapping with keys dist/sigma/schedule/sigma_end/seed/scope/reward_parts (missing:
        defaults). ValueError names `where.<key>` for an unknown key or a bad value."""
        values = dict((section or {}).items())
        known = ("dist", "sigma", "schedule", "sigma_end", "seed", "scope", "reward_parts")
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown key {where}.{unknown[0]}; the keys are {', '.join(known)}.")
        values = {"dist": "gaussian", "sigma": 0.05, "schedule": "constant", "sigma_end": 0.0, "seed": 0, "scope": "all",
                  "reward_parts": 1, **values}
        for key in ("sigma", "sigma_end"):
            if isinstance(values[key], int) and not isinstance(values[key], bool):
                values[key] = float(values[key])
        try:
            return cls(**values, total_steps=total_steps if values["schedule"] != "constant" else None)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


def matched_sigma(dist: str, std: float) -> float:
    """The `sigma` parameter that gives noise of standard deviation `std` for `dist`."""
    if dist == "none":
        return 0.0
    return std / STD_PER_SIGMA[dist]


def noise_std(dist: str, sigma: float, reward_parts: int = 1) -> float:
    """The standard deviation of `dist` noise with parameter `sigma` (the inverse of matched_sigma), summed
    over `reward_parts` independent draws (std grows as sqrt(k))."""
    if dist not in STD_PER_SIGMA:
        raise ValueError(f"dither dist must be one of {', '.join(DISTRIBUTIONS)}; got {dist!r}.")
    return sigma * STD_PER_SIGMA[dist] * math.sqrt(reward_parts)


def sigma_at(config: DitherConfig, step: int) -> float:
    """The noise parameter sigma at training step `step` (0-based), following the schedule."""
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}.")
    if config.dist == "none":
        return 0.0
    s0, s1 = float(config.sigma), float(config.sigma_end)
    if config.schedule == "constant":
        return s0
    t = min(step / config.total_steps, 1.0)
    if config.schedule == "linear":
        return s0 + (s1 - s0) * t
    if config.schedule == "cosine":
        return s1 + (s0 - s1) * (1.0 + math.cos(math.pi * t)) / 2.0
    if config.schedule == "exponential":
        k = EXPONENTIAL_RATE
        return s1 + (s0 - s1) * (math.exp(-k * t) - math.exp(-k)) / (1.0 - math.exp(-k))
    if config.schedule == "step":
        return s0 if t < 0.5 else s1
    raise AssertionError(config.schedule)  # unreachable: validated at construction


def step_generator(seed: int, step: int) -> torch.Generator:
    """A private generator for one (seed, step): never touches or depends on the global RNG."""
    import torch
    # SeedSequence mixes (seed, step) so that nearby seeds/steps give unrelated streams.
    state = np.random.SeedSequence([int(seed), int(step)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device="cpu").manual_seed(int(state[0]) << 32 | int(state[1]))


def sample_noise(shape, dist: str, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Zero-mean float64 noise of `shape` on the CPU."""
    import torch
    if dist == "gaussian":
        return torch.randn(shape, generator=generator, dtype=torch.float64) * sigma
    if dist == "uniform":
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * sigma
    if dist == "laplace":
        # Inverse CDF: u ~ U[-1/2, 1/2), x = -b sign(u) log(1 - 2|u|); 1 - 2|u| lies in (0, 1].
        u = torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5
        return -sigma * torch.sign(u) * torch.log1p(-2.0 * u.abs())
    raise ValueError(f"unknown dist {dist!r}")


def dither(rewards, config: DitherConfig, step: int, groups=None) -> torch.Tensor:
    """rewards + independent zero-mean noise (one draw per element, or the sum of `config.reward_parts`
    draws), same shape, float dtype.

    Deterministic for a given (config.seed, step), independent of torch's global RNG. With sigma = 0
    or dist = "none" the rewards come back unchanged (as a float tensor). `groups` (group size G or
    one id per element, as in zero_std_group_frac) is needed only for scope zero_var / mixed.
    """
    import torch
    rewards = torch.as_tensor(rewards)
    if not rewards.is_floating_point():
        rewards = rewards.to(torch.float32)
    sigma = sigma_at(config, step)
    if config.dist == "none" or sigma == 0.0:
        return rewards.clone()
    generator = step_generator(config.seed, step)
    if config.reward_parts == 1:  # the one-draw path, exactly as before the option (committed runs depend on it)
        noise = sample_noise(tuple(rewards.shape), config.dist, sigma, generator)
    else:
        noise = sample_noise((*rewards.shape, config.reward_parts), config.dist, sigma, generator).sum(dim=-1)
    if config.scope != "all":
        if groups is None:
            raise ValueError(f"dither scope {config.scope!r} needs the prompt groups (groups=G or group ids).")
        constant = torch.as_tensor(constant_group_mask(rewards, groups)).reshape(rewards.shape)
        noise = noise * (constant if config.scope == "zero_var" else ~constant)
    return (rewards.to(torch.float64).cpu() + noise).to(dtype=rewards.dtype, device=rewards.device)


def _group_extremes(rewards, groups):
    """(values, per-group max, per-group min, group index of each element) of flattened rewards."""
    import torch
    values = np.asarray(torch.as_tensor(rewards, dtype=torch.float64).reshape(-1).cpu())
    if isinstance(groups, (int, np.integer)):
        if groups <= 0 or values.size % groups:
            raise ValueError(f"{values.size} rewards cannot be split into groups of {groups}.")
        inverse = np.arange(values.size) // groups
    else:
        ids = np.asarray(groups)
        if ids.shape[0] != values.size:
            raise ValueError(f"got {values.size} rewards but {ids.shape[0]} group ids.")
        inverse = np.unique(ids, return_inverse=True)[1].reshape(-1)
    n_groups = int(inverse.max()) + 1 if values.size else 0
    group_max, group_min = np.full(n_groups, -np.inf), np.full(n_groups, np.inf)
    np.maximum.at(group_max, inverse, values)
    np.minimum.at(group_min, inverse, values)
    return values, group_max, group_min, inverse


def constant_group_mask(rewards, groups) -> np.ndarray:
    """Per element: True when every reward of its prompt group is equal (a zero-variance group)."""
    _, group_max, group_min, inverse = _group_extremes(rewards, groups)
    return (group_max == group_min)[inverse]


def zero_std_group_frac(rewards, groups: Union[int, Sequence]) -> float:
    """Fraction of prompt groups whose rewards are all equal (zero variance: no GRPO signal).

    `groups` is either the group size G (the G samples of a prompt are contiguous, as in TRL) or one
    group id per element (verl's `uid`, in any order).
    """
    import torch
    if torch.as_tensor(rewards).numel() == 0:
        return float("nan")
    _, group_max, group_min, _ = _group_extremes(rewards, groups)
    return float(np.mean(group_max == group_min))


def saturated_group_fracs(rewards, correct, groups: Union[int, Sequence]) -> tuple[float, float]:
    """(all-correct, all-wrong): the fractions of prompt groups whose raw `rewards` are all equal,
    split by whether every sample of the group is `correct` (0/1). They sum to zero_std_group_frac."""
    import torch
    if torch.as_tensor(rewards).numel() == 0:
        return float("nan"), float("nan")
    _, group_max, group_min, _ = _group_extremes(rewards, groups)
    _, _, correct_min, _ = _group_extremes(correct, groups)
    saturated = group_max == group_min
    return float(np.mean(saturated & (correct_min > 0))), float(np.mean(saturated & (correct_min <= 0)))
