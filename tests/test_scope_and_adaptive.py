"""Beyond the paper: dithering scope (which groups get noise) and the adaptive-sigma controller,
checked on hand-computed batches, in the core and through the TRL reward wrapper."""

import json
import math

import pytest
import torch

from conftest import run_cli
from redit.adaptive_sigma import SigmaController, flip_rate
from redit.dither import DitherConfig, dither
from redit.trl_backend import DitheredReward
from test_trl_backend import reward_call

# group 1 (elements 0-3) all correct = zero variance; group 2 (4-7) mixed
RAW = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("scope,noisy_elements", [("all", range(8)), ("zero_var", range(4)), ("mixed", range(4, 8))])
def test_scope_puts_the_same_noise_only_on_its_groups(scope, noisy_elements):
    full = dither(RAW, DitherConfig(sigma=0.1, seed=1), step=2) - RAW
    scoped = dither(RAW, DitherConfig(sigma=0.1, seed=1, scope=scope), step=2, groups=4) - RAW
    for i in range(8):
        assert scoped[i] == (full[i] if i in noisy_elements else 0.0)


def test_scope_with_verl_group_ids_in_any_order():
    ids = ["b", "a", "b", "a", "a", "b", "a", "b"]  # group a = elements 1, 3, 4, 6
    raw = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])  # a = (1, 1, 1, 1) constant; b = (0, 1, 0, 1) mixed
    noise = dither(raw, DitherConfig(sigma=0.1, scope="zero_var"), step=0, groups=ids) - raw
    assert [bool(v != 0) for v in noise] == [g == "a" for g in ids]


def test_partial_scope_needs_groups_and_a_known_name():
    with pytest.raises(ValueError, match="needs the prompt groups"):
        dither(RAW, DitherConfig(scope="mixed"), step=0)
    with pytest.raises(ValueError, match="scope must be one of all, zero_var, mixed"):
        DitherConfig(scope="some")
    assert DitherConfig.from_section({"scope": "zero_var"}).scope == "zero_var"


def test_flip_rate_counts_reordered_pairs_within_groups():
    # group 1: raw (1, 0), dithered 0.4 < 0.5 -> flipped; group 2: raw (0, 1), 0.1 < 0.9 -> kept
    assert flip_rate([1, 0, 0, 1], [0.4, 0.5, 0.1, 0.9], group_size=2) == 0.5
    # one group of 4 with raw (1, 1, 0, 0): 4 (better, worse) pairs; only (1, 2) is reversed
    assert flip_rate([1, 1, 0, 0], [1.0, 0.2, 0.3, 0.0], group_size=4) == 0.25
    assert math.isnan(flip_rate([1, 1], [0.3, 0.9], group_size=2))  # no mixed group, no pair


def test_controller_moves_sigma_by_its_rate_and_stays_in_bounds():
    c = SigmaController(target="flip_rate", setpoint=0.05, tol=0.2, sigma=0.05, rate=2.0, sigma_max=0.15)
    assert c.observe(flip_rate=0.0) == 0.1  # below the band [0.04, 0.06]: up by x2
    assert c.observe(flip_rate=0.05) == 0.1  # inside: unchanged
    assert c.observe(flip_rate=0.0) == 0.15  # capped at sigma_max
    assert c.observe(flip_rate=0.5) == 0.075  # above: down by /2
    assert c.observe(flip_rate=float("nan")) == 0.075  # no mixed group this step: unchanged
    assert c.observe(grad_norm=0.0) == 0.075  # a flip-rate controller ignores the grad norm
    g = SigmaController(target="grad_norm", setpoint=1.0, tol=0.5, sigma=0.1, rate=1.25)
    assert g.observe(grad_norm=0.001) == pytest.approx(0.125)  # vanishing: more noise
    assert g.observe(grad_norm=30.0) == pytest.approx(0.1)  # exploding: less
    with pytest.raises(ValueError, match="target must be one of"):
        SigmaController(target="reward")


def test_reward_wrapper_uses_the_controllers_sigma_and_feeds_it_the_flip_rate():
    completions = ["#### 7"] * 4 + ["#### 7", "#### 1", "#### 7", "#### 2"]
    controller = SigmaController(target="flip_rate", setpoint=0.05, sigma=0.01, rate=2.0)
    fn = DitheredReward("tiny", DitherConfig(sigma=0.01, seed=0), group_size=4, controller=controller)
    _, first = reward_call(fn, completions, ["7"] * 8, step=1)
    assert first["redit/sigma"] == 0.01 and first["redit/flip_rate"] == 0.0  # sigma 0.01 cannot flip 0/1 labels
    assert controller.sigma == 0.02
    _, second = reward_call(fn, completions, ["7"] * 8, step=2)
    assert second["redit/sigma"] == 0.02 and controller.sigma == 0.04


def test_zero_var_scope_through_the_trl_wrapper_leaves_mixed_groups_raw():
    completions = ["#### 7"] * 4 + ["#### 7", "#### 1", "#### 7", "#### 2"]
    fn = DitheredReward("tiny", DitherConfig(sigma=0.1, seed=0, scope="zero_var"), group_size=4)
    out, logged = reward_call(fn, completions, ["7"] * 8, step=0)
    assert out[4:] == [1.0, 0.0, 1.0, 0.0] and len(set(out[:4])) == 4
    assert logged["redit/zero_std_group_frac/dithered"] == 0.0 and logged["redit/flip_rate"] == 0.0


def test_adaptive_needs_noise_and_a_constant_schedule(tmp_path):
    proc = run_cli("redit.train", "--run-dir", tmp_path / "r", "--adaptive", "flip_rate", timeout=60)
    assert proc.returncode == 2 and "--adaptive needs a noise --dist" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_a_run_folder_from_before_scope_existed_is_still_skipped(tmp_path, tiny_policy_path):
    run = tmp_path / "old"
    args = ["--run-dir", run, "--dist", "gaussian", "--sigma", 0.1, "--steps", 2, "--val-every", 2, "--no-timing"]
    assert run_cli("redit.train", *args).returncode == 0
    config = json.loads((run / "config.json").read_text())
    del config["dither"]["scope"], config["adaptive_sigma"]  # what an older commit wrote
    (run / "config.json").write_text(json.dumps(config))
    again = run_cli("redit.train", *args, timeout=120)
    assert again.returncode == 0 and "[skip]" in again.stdout
