"""The verl plugin (patches/redit_verl.py): ReDit estimators against verl's own, on hand-built batches."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from redit.algorithms import real_loss
from patches import redit_verl  # registers the estimators in verl (idempotent)
from verl.trainer.ppo import core_algos

UIDS = np.array(["a"] * 4 + ["b"] * 4, dtype=object)


def batch(scores, lengths=(3, 5, 2, 6, 4, 4, 1, 6), width=6):
    """verl-style outcome rewards: each score on its response's last valid token."""
    mask = torch.zeros(len(scores), width)
    rewards = torch.zeros(len(scores), width)
    for i, (s, n) in enumerate(zip(scores, lengths)):
        mask[i, :n] = 1
        rewards[i, n - 1] = s
    return rewards, mask


def algo(dist="gaussian", sigma=0.05, norm=True, **extra):
    """An `algorithm` section as verl hands it to estimators (a DictConfig)."""
    return OmegaConf.create({"redit": {"dist": dist, "sigma": sigma, **extra}, "norm_adv_by_std_in_grpo": norm, "gamma": 1.0})


def run(name, rewards, mask, config, step=0, total=None, index=UIDS):
    redit_verl._step_state.update(step=step, total_steps=total)
    fn = core_algos.get_adv_estimator_fn(name)
    return fn(token_level_rewards=rewards, response_mask=mask, config=config, index=index)


STOCK = {
    "redit_grpo": lambda r, m, c: core_algos.compute_grpo_outcome_advantage(r, m, UIDS, norm_adv_by_std_in_grpo=c["norm_adv_by_std_in_grpo"]),
    "redit_reinforce_plus_plus": lambda r, m, c: core_algos.compute_reinforce_plus_plus_outcome_advantage(r, m, config=c),
    "redit_rloo": lambda r, m, c: core_algos.compute_rloo_outcome_advantage(r, m, UIDS, config=c),
}


@pytest.mark.parametrize("name", list(STOCK))
@pytest.mark.parametrize("zero", [{"dist": "none"}, {"sigma": 0.0}])
def test_without_noise_each_estimator_is_exactly_verls(name, zero):
    rewards, mask = batch([1, 0, 1, 1, 0, 0, 1, 0])
    config = algo(**{"sigma": 0.05, **zero})
    ours, _ = run(name, rewards, mask, config)
    stock, _ = STOCK[name](rewards.clone(), mask, config)
    assert torch.equal(ours, stock)


def test_dr_grpo_without_noise_matches_verl_without_std_division():
    rewards, mask = batch([1, 0, 1, 1, 0, 0, 1, 0])
    config = algo(sigma=0.0, norm=False)
    ours, _ = run("redit_grpo", rewards, mask, config)
    stock, _ = core_algos.compute_grpo_outcome_advantage(rewards, mask, UIDS, norm_adv_by_std_in_grpo=False)
    assert torch.equal(ours, stock)


def test_an_all_equal_group_gets_nonzero_advantages_only_with_noise():
    rewards, mask = batch([1, 1, 1, 1, 0, 1, 0, 0])  # group "a" all correct: no GRPO signal
    plain, _ = run("redit_grpo", rewards, mask, algo(dist="none"))
    dithered, _ = run("redit_grpo", rewards, mask, algo(sigma=0.05))
    assert plain[:4].abs().max() == 0
    per_response = dithered[:4].sum(-1) / mask[:4].sum(-1)
    assert (per_response != 0).all()
    # std-normalised: the group's advantages have mean 0 and std 1 whatever sigma > 0 is
    assert float(per_response.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(per_response.std()) == pytest.approx(1.0, abs=1e-3)
    assert ((dithered != 0) == mask.bool()).all()  # advantages stay on valid tokens only


def test_noise_goes_on_the_last_valid_token_and_metrics_report_raw_and_dithered():
    rewards, mask = batch([1, 1, 1, 1, 0, 1, 0, 0])
    cfg = redit_verl.dither_config(algo(sigma=0.3))
    noisy, metrics = redit_verl.dither_token_rewards(rewards, mask, cfg, step=0, index=UIDS)
    changed = (noisy != rewards)
    last = mask.sum(-1).long() - 1
    assert changed.sum() == 8 and all(changed[i, last[i]] for i in range(8))
    assert metrics["redit/sigma"] == 0.3
    assert metrics["redit/zero_std_group_frac/raw"] == 0.5 and metrics["redit/zero_std_group_frac/dithered"] == 0.0
    assert metrics["redit/dithered_score/mean"] == pytest.approx(float(noisy.sum(-1).mean()), abs=1e-6)


def test_same_seed_same_advantages_other_seed_or_step_differs():
    rewards, mask = batch([1, 1, 1, 1, 0, 1, 0, 0])
    a, _ = run("redit_grpo", rewards, mask, algo(seed=7), step=3)
    b, _ = run("redit_grpo", rewards, mask, algo(seed=7), step=3)
    c, _ = run("redit_grpo", rewards, mask, algo(seed=8), step=3)
    d, _ = run("redit_grpo", rewards, mask, algo(seed=7), step=4)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)


def test_a_schedule_changes_sigma_across_steps():
    rewards, mask = batch([1, 1, 1, 1, 0, 1, 0, 0])
    config = algo(sigma=0.5, schedule="linear", sigma_end=0.0)
    seen = []
    for step in (0, 50, 100):
        run("redit_grpo", rewards, mask, config, step=step, total=100)
        seen.append(redit_verl._step_state["metrics"]["redit/sigma"])
    assert seen == pytest.approx([0.5, 0.25, 0.0])


def test_uniform_noise_is_bounded_by_its_half_width():
    rewards, mask = batch([0] * 8)
    cfg = redit_verl.dither_config(algo(dist="uniform", sigma=0.1))
    for step in range(20):
        noisy, _ = redit_verl.dither_token_rewards(rewards, mask, cfg, step)
        assert noisy.abs().max() <= 0.1


def test_registration_is_idempotent_and_names_are_verls():
    redit_verl.install()
    redit_verl.install()
    for name in redit_verl.BASE_ESTIMATORS:
        assert core_algos.get_adv_estimator_fn(name)._redit_estimator == name
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    assert redit_verl.TRAINER_MODE in TRAINER_REGISTRY


@pytest.mark.parametrize("section, needle", [
    ({"sigmaa": 0.1}, "algorithm.redit.sigmaa"),
    ({"dist": "cauchy"}, "dist must be one of"),
    ({"sigma": -1.0}, "sigma must be a finite number"),
    ({"schedule": "linear", "sigma_end": 0.0}, None),  # valid once the trainer passes total steps
])
def test_bad_redit_config_is_one_clear_error(section, needle):
    if needle is None:
        assert redit_verl.dither_config({"redit": section}, total_steps=10).schedule == "linear"
        return
    with pytest.raises(ValueError, match=needle):
        redit_verl.dither_config({"redit": section}, total_steps=10)


def test_zero_var_scope_dithers_only_the_all_equal_group():
    rewards, mask = batch([1, 1, 1, 1, 1, 0, 1, 0])  # group a all correct, group b mixed
    ours, _ = run("redit_grpo", rewards, mask, algo(sigma=0.1, scope="zero_var"))
    stock, _ = STOCK["redit_grpo"](rewards.clone(), mask, algo(sigma=0.0))
    assert torch.equal(ours[4:], stock[4:])  # the mixed group's advantages are GRPO's exactly
    assert (ours[:4].abs().sum(dim=-1) > 0).all()  # the saturated group now has a signal
    assert redit_verl._step_state["metrics"]["redit/zero_std_group_frac/dithered"] == 0.0


def test_run_config_names_dr_grpo_with_redit_like_the_trl_backend():
    from patches.verl_compose import compose

    config = compose(["algorithm.adv_estimator=redit_grpo", "algorithm.norm_adv_by_std_in_grpo=False",
                      "+algorithm.redit.dist=gaussian", "+algorithm.redit.sigma=0.1", "trainer.total_training_steps=4"])
    run = redit_verl.run_config(config)
    assert run["algorithm"] == "dr_grpo" and run["method"] == "dr_grpo+redit-gaussian"


def test_redit_real_encodes_label_and_group_and_refuses_split_groups():
    rewards, mask = batch([1, 0, 1, 1, 0, 0, 0, 0])  # group a mixed, group b all wrong
    encoded, _ = run("redit_real", rewards, mask, algo(dist="none"))
    tags = (encoded * mask).sum(-1) / mask.sum(-1)
    assert tags.tolist() == [1, -1, 1, 1, 0, 0, 0, 0]  # sign = label, |tag| = 1 + group slot; b: no label
    with pytest.raises(ValueError, match="orders REAL batches by group"):
        run("redit_real", rewards, mask, algo(dist="none"), index=np.array(list("aabbaabb"), dtype=object))


def test_real_policy_loss_in_verl_is_the_shared_real_loss_averaged_over_the_batch_groups():
    """Two groups of 4: a mixed (2 correct, 2 wrong), b all-equal. With global batch 8 the loss is
    (4 * REAL(a) + 0) / 8 = REAL(a) / 2: the mean over the batch's two groups."""
    rewards, mask = batch([1, 0, 1, 0, 1, 1, 1, 1])
    advantages, _ = run("redit_real", rewards, mask, algo(dist="none"))
    old = torch.zeros_like(mask)
    new = torch.zeros_like(mask, requires_grad=True)
    with torch.no_grad():  # per-token log-ratios, so s = mean over the response's tokens
        new += torch.linspace(-0.3, 0.3, mask.numel()).reshape(mask.shape)
    fn = core_algos.get_policy_loss_fn("real")
    config = OmegaConf.create({"policy_loss": {"loss_mode": "real"}})
    loss, metrics = fn(old_log_prob=old, log_prob=new, advantages=advantages, response_mask=mask, config=config)
    s = ((new - old) * mask).sum(-1) / mask.sum(-1)
    expected, used = real_loss(s[:4], torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.zeros(4, dtype=torch.long))
    assert metrics["actor/real_groups_used"] == 1.0 and used == 1
    assert loss.item() == pytest.approx(expected.item() * 4 / 8, rel=1e-6)
    loss.backward()
    assert new.grad[4:].abs().sum() == 0 and new.grad[:4].abs().sum() > 0  # the all-equal group adds nothing


def test_verl_filter_drops_saturated_groups_and_renormalises_like_the_trl_backend():
    rewards, mask = batch([1, 1, 1, 1, 1, 0, 1, 0])  # group a all correct, group b mixed
    config = algo(dist="none")
    stock, _ = run("redit_grpo", rewards, mask, config)
    config.redit_remedy = {"filter": True}
    filtered, _ = run("redit_grpo", rewards, mask, config)
    assert filtered[:4].abs().max() == 0 and torch.allclose(filtered[4:], 2 * stock[4:])  # 8 rows, 4 kept
    assert redit_verl._step_state["metrics"]["remedy/kept_group_frac"] == 0.5
    # with noise the saturated group has a signal, and the filter still removes it (raw rewards)
    config.redit = {"dist": "gaussian", "sigma": 0.1}
    assert run("redit_grpo", rewards, mask, config)[0][:4].abs().max() == 0


def test_verl_directional_fill_gives_all_equal_groups_a_signed_constant_on_valid_tokens():
    rewards, mask = batch([0, 0, 0, 0, 1, 0, 1, 0])  # group a all wrong, group b mixed
    config = algo(dist="none")
    stock, _ = run("redit_grpo", rewards, mask, config)
    config.redit_remedy = {"fill_strength": 0.1}
    filled, _ = run("redit_grpo", rewards, mask, config)
    assert torch.equal(filled[:4], -0.1 * mask[:4]) and torch.allclose(filled[4:], stock[4:])


@pytest.mark.parametrize("overrides, needle", [
    (["+algorithm.redit_remedy.filtr=true"], "unknown key algorithm.redit_remedy.filtr"),
    (["+algorithm.redit_remedy.fill_strength=-1"], "fill_strength must be a finite number >= 0"),
    (["+algorithm.redit_remedy.filter=true", "+algorithm.redit_remedy.fill_strength=0.1"], "not both"),
    (["algorithm.adv_estimator=redit_rloo", "+algorithm.redit_remedy.filter=true"], "use algorithm.adv_estimator=redit_grpo"),
    (["algorithm.adv_estimator=grpo", "+algorithm.redit_remedy.filter=true"], "needs a ReDit estimator"),
])
def test_bad_remedy_section_is_refused_when_composing(overrides, needle):
    from patches.verl_compose import compose

    base = ["algorithm.adv_estimator=redit_grpo"] if not overrides[0].startswith("algorithm.adv_estimator") else []
    with pytest.raises(ValueError, match=needle):
        compose(base + overrides)
