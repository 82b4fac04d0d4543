"""Statistical and contract tests of the dithering core (redit.dither)."""

import math

import numpy as np
import pytest
import torch

from redit.dither import (DitherConfig, dither, matched_sigma, noise_std, sigma_at, step_generator,
                          zero_std_group_frac)

N = 200_000  # draws for moment checks: the std error of the mean is sigma / sqrt(N) ~ 0.0022 sigma


@pytest.mark.parametrize("dist,sigma,expected_std", [
    ("gaussian", 0.3, 0.3),
    ("uniform", 0.3, 0.3 / math.sqrt(3)),  # U[-a, a] has std a / sqrt(3)
    ("laplace", 0.3, 0.3 * math.sqrt(2)),  # Laplace(0, b) has std b * sqrt(2)
])
def test_noise_is_zero_mean_with_the_documented_std(dist, sigma, expected_std):
    noise = dither(torch.zeros(N), DitherConfig(dist=dist, sigma=sigma, seed=7), step=3).double()
    assert abs(noise.mean().item()) < 5 * expected_std / math.sqrt(N)
    assert noise.std().item() == pytest.approx(expected_std, rel=0.01)


def test_uniform_noise_stays_inside_its_half_width_and_fills_it():
    noise = dither(torch.zeros(N), DitherConfig(dist="uniform", sigma=0.2), step=0)
    assert noise.abs().max().item() <= 0.2
    assert noise.max().item() > 0.199 and noise.min().item() < -0.199


def test_gaussian_tails_match_the_normal_distribution():
    noise = dither(torch.zeros(N), DitherConfig(dist="gaussian", sigma=1.0, seed=1), step=0).double()
    frac_beyond_2 = (noise.abs() > 2).double().mean().item()
    assert frac_beyond_2 == pytest.approx(0.0455, abs=0.003)  # P(|Z| > 2) = 4.55 %


def test_one_independent_draw_per_element():
    cfg = DitherConfig(dist="gaussian", sigma=1.0, seed=3)
    noise = dither(torch.zeros(N // 2, 2, dtype=torch.float64), cfg, step=0)  # float64: no rounding ties
    assert noise.shape == (N // 2, 2)
    corr_columns = np.corrcoef(noise[:, 0].numpy(), noise[:, 1].numpy())[0, 1]
    flat = noise.reshape(-1).numpy()
    corr_neighbours = np.corrcoef(flat[:-1], flat[1:])[0, 1]
    assert abs(corr_columns) < 0.02 and abs(corr_neighbours) < 0.02
    assert len(np.unique(flat)) == flat.size  # no repeated draws


def test_noise_is_added_to_the_rewards_not_replacing_them():
    rewards = torch.tensor([0.0, 1.0, 5.0, -2.0] * 1000, dtype=torch.float64)
    cfg = DitherConfig(dist="gaussian", sigma=0.1, seed=0)
    noisy = dither(rewards, cfg, step=0)
    assert torch.allclose(noisy - rewards, dither(torch.zeros_like(rewards), cfg, step=0), atol=1e-12, rtol=0)


@pytest.mark.parametrize("cfg", [DitherConfig(sigma=0.0), DitherConfig(dist="none", sigma=0.5)])
def test_no_noise_returns_rewards_bit_for_bit(cfg):
    rewards = torch.tensor([0.1, 1.0, 0.3333333, 5.0], dtype=torch.float32)
    out = dither(rewards, cfg, step=11)
    assert out.dtype == rewards.dtype and torch.equal(out, rewards)
    assert out is not rewards


def test_integer_and_list_rewards_come_back_as_float():
    out = dither([1, 0, 1], DitherConfig(sigma=0.1), step=0)
    assert out.dtype == torch.float32 and out.shape == (3,)
    assert dither(torch.tensor([1, 0]), DitherConfig(sigma=0.0), step=0).dtype == torch.float32


def test_deterministic_per_seed_and_step_and_independent_of_global_rng():
    cfg = DitherConfig(sigma=0.1, seed=5)
    rewards = torch.ones(64)
    torch.manual_seed(0)
    a = dither(rewards, cfg, step=4)
    torch.manual_seed(12345)
    torch.randn(100)  # disturb the global generator
    b = dither(rewards, cfg, step=4)
    assert torch.equal(a, b)
    state = torch.get_rng_state()
    dither(rewards, cfg, step=4)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is not consumed
    assert not torch.equal(a, dither(rewards, cfg, step=5))
    assert not torch.equal(a, dither(rewards, DitherConfig(sigma=0.1, seed=6), step=4))


def test_consecutive_steps_are_uncorrelated():
    cfg = DitherConfig(sigma=1.0, seed=0)
    a, b = dither(torch.zeros(N), cfg, 0).numpy(), dither(torch.zeros(N), cfg, 1).numpy()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02


def test_step_generator_streams_differ_for_swapped_seed_and_step():
    x = torch.randn(8, generator=step_generator(1, 2))
    y = torch.randn(8, generator=step_generator(2, 1))
    assert not torch.equal(x, y)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "exponential", "step"])
@pytest.mark.parametrize("s0,s1", [(0.5, 0.0), (0.1, 0.4)])
def test_schedules_hit_their_endpoints_and_are_monotone(schedule, s0, s1):
    cfg = DitherConfig(sigma=s0, sigma_end=s1, schedule=schedule, total_steps=100)
    assert sigma_at(cfg, 0) == pytest.approx(s0)
    assert sigma_at(cfg, 100) == pytest.approx(s1, abs=1e-12)
    assert sigma_at(cfg, 250) == pytest.approx(s1, abs=1e-12)  # clamped after total_steps
    values = np.array([sigma_at(cfg, s) for s in range(101)])
    steps = np.diff(values) * np.sign(s1 - s0)
    assert (steps >= -1e-12).all()


def test_schedule_shapes_at_the_midpoint():
    mid = {name: sigma_at(DitherConfig(sigma=1.0, sigma_end=0.0, schedule=name, total_steps=100), 50)
           for name in ["linear", "cosine", "exponential", "step"]}
    assert mid["linear"] == pytest.approx(0.5)
    assert mid["cosine"] == pytest.approx(0.5)
    k = 5.0
    assert mid["exponential"] == pytest.approx((math.exp(-k / 2) - math.exp(-k)) / (1 - math.exp(-k)))
    assert mid["step"] == 0.0  # second half
    assert sigma_at(DitherConfig(sigma=1.0, schedule="step", total_steps=100), 49) == 1.0


def test_scheduled_sigma_drives_the_noise_scale():
    cfg = DitherConfig(sigma=1.0, sigma_end=0.0, schedule="linear", total_steps=10)
    early = dither(torch.zeros(N), cfg, 0).std().item()
    late = dither(torch.zeros(N), cfg, 8).std().item()
    assert early == pytest.approx(1.0, rel=0.01) and late == pytest.approx(0.2, rel=0.01)
    assert torch.equal(dither(torch.ones(4), cfg, 10), torch.ones(4))  # sigma reached 0


def test_matched_sigma_gives_equal_std():
    for dist in ("gaussian", "uniform", "laplace"):
        noise = dither(torch.zeros(N), DitherConfig(dist=dist, sigma=matched_sigma(dist, 0.2)), 0)
        assert noise.double().std().item() == pytest.approx(0.2, rel=0.01)


@pytest.mark.parametrize("kwargs,needle", [
    ({"sigma": -0.1}, "sigma"),
    ({"sigma": float("nan")}, "sigma"),
    ({"sigma_end": float("inf")}, "sigma_end"),
    ({"dist": "cauchy"}, "dist"),
    ({"schedule": "sawtooth"}, "schedule"),
    ({"schedule": "linear"}, "total_steps"),
    ({"schedule": "cosine", "total_steps": 0}, "total_steps"),
    ({"seed": -1}, "seed"),
    ({"sigma": "0.1"}, "sigma"),
])
def test_invalid_configs_raise_one_clear_sentence(kwargs, needle):
    with pytest.raises(ValueError, match=needle) as err:
        DitherConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_negative_step_is_rejected():
    with pytest.raises(ValueError, match="step"):
        sigma_at(DitherConfig(), -1)


def test_zero_std_group_fraction_contiguous_and_by_id():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    assert zero_std_group_frac(rewards, 2) == pytest.approx(1 / 2)  # [1,1] [1,0] [1,0] [0,0]
    assert zero_std_group_frac(rewards, 4) == 0.0  # [1,1,1,0] [1,0,0,0]
    assert zero_std_group_frac(torch.tensor([1.0, 1.0, 0.0, 0.0]), 2) == 1.0
    ids = ["a", "b", "a", "b", "c", "c", "a", "b"]  # a: 1,1,0  b: 1,0,0  c: 1,0
    assert zero_std_group_frac(rewards, ids) == 0.0
    assert zero_std_group_frac(torch.tensor([2.0, 2.0, 3.0]), ["x", "x", "y"]) == 1.0
    noisy = dither(torch.ones(8), DitherConfig(sigma=0.01), 0)
    assert zero_std_group_frac(torch.ones(8), 4) == 1.0 and zero_std_group_frac(noisy, 4) == 0.0
    with pytest.raises(ValueError):
        zero_std_group_frac(rewards, 3)


def test_all_equal_group_gets_unit_scale_random_advantages_under_std_normalisation():
    # The note in the design: with std normalisation any sigma > 0 turns a zero-signal group into
    # unit-scale random advantages, whatever the size of sigma.
    for sigma in (1e-4, 0.05, 1.0):
        r = dither(torch.ones(8), DitherConfig(sigma=sigma, seed=2), 0).double()
        adv = (r - r.mean()) / r.std()
        assert adv.std().item() == pytest.approx(1.0) and adv.abs().max() > 0.5


def test_saturated_groups_split_into_all_correct_and_all_wrong():
    from redit.dither import saturated_group_fracs

    raw = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 5.0, 5.0])  # groups of 2: correct, wrong, mixed, equal-but-wrong
    correct = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    assert saturated_group_fracs(raw, correct, 2) == (0.25, 0.5)
    assert sum(saturated_group_fracs(raw, correct, 2)) == zero_std_group_frac(raw, 2)


@pytest.mark.parametrize("dist,sigma,std", [("gaussian", 0.1, 0.1), ("uniform", 0.3, 0.3 / math.sqrt(3)),
                                            ("laplace", 0.1, 0.1 * math.sqrt(2)), ("none", 0.0, 0.0)])
def test_noise_std_is_the_inverse_of_matched_sigma(dist, sigma, std):
    assert noise_std(dist, sigma) == pytest.approx(std)
    if dist != "none":
        assert noise_std(dist, matched_sigma(dist, 0.05)) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="dither dist"):
        noise_std("cauchy", 0.1)


# ---------------------------------------------------------------- noise on each reward part (reward_parts)
# Draws of the committed implementation (before reward_parts existed) for seed 3, step 7, sigma 0.1: the
# default path must reproduce them bit for bit, since the committed results were computed with them.
COMMITTED_DRAWS = {
    "gaussian": [0.08190460128757543, 0.07074837307016148, -0.14383508942222759, -0.0897581208921583],
    "uniform": [-0.07732215303980985, -0.0113448972400636, 0.017758668853092987, 0.05248408508391855],
    "laplace": [-0.14837816428433395, -0.012041659438064711, 0.019551219828738822, 0.074410548019963],
}


@pytest.mark.parametrize("dist", sorted(COMMITTED_DRAWS))
def test_one_reward_part_keeps_the_committed_draws_bit_for_bit(dist):
    for cfg in (DitherConfig(dist=dist, sigma=0.1, seed=3), DitherConfig(dist=dist, sigma=0.1, seed=3, reward_parts=1)):
        assert dither(torch.zeros(4, dtype=torch.float64), cfg, step=7).tolist() == COMMITTED_DRAWS[dist]


@pytest.mark.parametrize("dist,sigma,one_draw_std", [
    ("gaussian", 0.3, 0.3), ("uniform", 0.3, 0.3 / math.sqrt(3)), ("laplace", 0.3, 0.3 * math.sqrt(2))])
def test_k_reward_parts_sum_k_draws_so_the_std_grows_as_sqrt_k(dist, sigma, one_draw_std):
    noise = dither(torch.zeros(N), DitherConfig(dist=dist, sigma=sigma, seed=7, reward_parts=5), step=3).double()
    assert abs(noise.mean().item()) < 5 * one_draw_std * math.sqrt(5) / math.sqrt(N)
    assert noise.std().item() == pytest.approx(one_draw_std * math.sqrt(5), rel=0.01)
    assert noise_std(dist, sigma, reward_parts=5) == pytest.approx(one_draw_std * math.sqrt(5))


def test_two_uniform_parts_sum_to_a_triangular_not_a_uniform_distribution():
    noise = dither(torch.zeros(N), DitherConfig(dist="uniform", sigma=1.0, seed=1, reward_parts=2), step=0).double()
    assert noise.abs().max().item() <= 2.0
    # triangular on [-2, 2]: P(|x| < 1) = 3/4 (a uniform of the same range would give 1/2)
    assert (noise.abs() < 1).double().mean().item() == pytest.approx(0.75, abs=0.005)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "5"])
def test_reward_parts_must_be_a_whole_number_at_least_one(bad):
    with pytest.raises(ValueError, match="reward_parts must be a whole number >= 1") as err:
        DitherConfig(reward_parts=bad)
    assert "\n" not in str(err.value)


def test_reward_parts_is_a_key_of_a_config_section():
    assert DitherConfig.from_section({"reward_parts": 5}).reward_parts == 5
    assert DitherConfig.from_section({}).reward_parts == 1
    assert DitherConfig.from_section({"sigma": 0.1}).to_dict()["reward_parts"] == 1
    with pytest.raises(ValueError, match="algorithm.redit: dither reward_parts"):
        DitherConfig.from_section({"reward_parts": 0}, where="algorithm.redit")
