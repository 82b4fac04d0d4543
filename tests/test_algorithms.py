"""DAPO's filter and overlong penalty and REAL's loss on hand-computed batches, and each algorithm
through the TRL backend."""

import json
import math

import pytest
import torch

from conftest import run_cli
from redit.algorithms import informative_groups, overlong_penalty, real_loss
from redit.dither import DitherConfig
from redit.trl_backend import DitheredReward
from test_trl_backend import reward_call

COMPLETIONS = ["#### 7"] * 4 + ["#### 7", "#### 1", "#### 7", "#### 2"]  # group 1 all correct, group 2 mixed


def test_overlong_penalty_is_dapos_soft_punishment():
    # max 40 tokens, cache 10: no penalty up to 30, linear to -1 at 40, -1 beyond
    assert overlong_penalty([20, 30, 35, 40, 45], max_length=40, cache=10).tolist() == [0.0, 0.0, -0.5, -1.0, -1.0]


def test_dapo_filter_reads_raw_accuracy_and_ignores_dithering():
    fn = DitheredReward("tiny", DitherConfig(sigma=0.3, seed=0), group_size=4, overlong=(40, 10))
    ids = [[0] * 10] * 7 + [[0] * 35]  # the last answer is 5 tokens into the overlong zone: -0.5
    out, logged = reward_call(fn, COMPLETIONS, ["7"] * 8, step=0, completion_ids=ids)
    assert len(set(out[:4])) == 4  # dithered: the saturated group's rewards all differ...
    keep = informative_groups(fn.last_correct, 4)
    assert keep.tolist() == [False] * 4 + [True] * 4  # ...yet the filter drops it: it reads raw correctness
    assert fn.last_correct.tolist() == [1, 1, 1, 1, 1, 0, 1, 0]
    assert logged["dapo/overlong_penalty/mean"] == pytest.approx(-0.5 / 8)
    assert logged["critic/score/mean"] == pytest.approx((6 - 0.5) / 8)  # raw reward = correct + penalty, undithered


def test_real_loss_by_hand_with_anchor_logits_and_mixed_groups_only():
    scores = torch.tensor([0.2, -0.1, 0.3, 0.0, 0.5, 0.5, 0.5, 0.5])
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0])  # group 2: all equal, no labels
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    loss, used = real_loss(scores, advantages, groups, tau=0.5)
    # correct s = 0.2, 0.3; wrong s = -0.1, 0.0; tau 0.5; the 1 in each log is the anchor logit
    expected = math.log(1 + math.exp(-0.4) + math.exp(-0.6)) + math.log(1 + math.exp(-0.2) + math.exp(0.0))
    assert used == 1 and loss.item() == pytest.approx(expected, rel=1e-6)


def test_real_gradient_at_the_old_policy_is_one_over_tau_times_one_plus_k():
    scores = torch.zeros(4, requires_grad=True)  # on-policy: s = 0 for every response
    loss, _ = real_loss(scores, torch.tensor([1.0, 1.0, -1.0, -1.0]), torch.zeros(4, dtype=torch.long), tau=0.5)
    loss.backward()
    # d/ds_correct log(1 + sum exp(-s/tau)) = -(1/tau) / (1 + 2) with 2 correct answers; wrong: +(1/tau) / 3
    assert scores.grad.tolist() == pytest.approx([-2 / 3, -2 / 3, 2 / 3, 2 / 3])


def test_real_without_a_mixed_group_is_a_zero_loss_that_still_backpropagates():
    scores = torch.tensor([0.1, 0.2], requires_grad=True)
    loss, used = real_loss(scores, torch.zeros(2), torch.zeros(2, dtype=torch.long))
    loss.backward()
    assert used == 0 and loss.item() == 0.0 and scores.grad.tolist() == [0.0, 0.0]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm,key", [("dapo", "dapo/kept_group_frac"), ("real", "real/groups_used")])
def test_each_algorithm_trains_through_the_trl_backend(tmp_path, tiny_policy_path, algorithm, key):
    proc = run_cli("redit.train", "--run-dir", tmp_path / "r", "--algorithm", algorithm, "--dist", "gaussian",
                   "--sigma", 0.05, "--steps", 2, "--val-every", 2, "--no-timing", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert all(key in line["data"] and line["data"]["actor/grad_norm"] > 0 for line in lines[1:])
    if algorithm == "real":  # with ReDit every group has both labels: the saturated ones get random labels
        assert [line["data"][key] for line in lines[1:]] == [8.0, 8.0]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["algorithm"] == algorithm and config["method"] == f"{algorithm}+redit-gaussian"


# REAL's label source (redit.algorithms.real_labels): one hand-made batch of two groups of 4.
#   group a: 3 correct, 1 wrong; the dithered advantages give correct #3 a negative sign (a flip)
#   group b: all wrong (no raw label); noise alone gives its responses signs
REAL_RAW = [1, 1, 1, 0, 0, 0, 0, 0]
REAL_DITHERED_ADV = [0.9, 0.5, -0.2, -1.2, 0.7, -0.3, 0.4, -0.8]
REAL_GROUPS = ["a"] * 4 + ["b"] * 4


def test_real_raw_labels_are_correctness_and_ignore_the_noise():
    from redit.algorithms import real_labels

    labels, flips = real_labels(REAL_RAW, REAL_DITHERED_ADV, REAL_GROUPS, source="raw")
    assert labels.tolist() == [1, 1, 1, -1, 0, 0, 0, 0] and flips == 0.0


def test_real_dithered_labels_follow_the_dithered_advantage_and_report_the_flip_rate():
    from redit.algorithms import real_labels

    labels, flips = real_labels(REAL_RAW, REAL_DITHERED_ADV, REAL_GROUPS)  # the default source
    assert labels.tolist() == [1, 1, -1, -1, 1, -1, 1, -1]
    assert flips == pytest.approx(1 / 4)  # 1 of the 4 raw-labelled responses (group a) changed sign


def test_real_labels_group_ids_in_any_order_and_no_raw_label_gives_nan():
    from redit.algorithms import real_labels

    order = [3, 6, 0, 5, 1, 7, 2, 4]
    labels, flips = real_labels([REAL_RAW[i] for i in order], [REAL_DITHERED_ADV[i] for i in order],
                                [REAL_GROUPS[i] for i in order], source="raw")
    assert labels.tolist() == [[1, 1, 1, -1, 0, 0, 0, 0][i] for i in order]
    _, none = real_labels([0, 0, 1, 1], [0.1, -0.1, 0.2, -0.2], [0, 0, 1, 1])
    assert math.isnan(none)
    with pytest.raises(ValueError, match="label source must be one of"):
        real_labels(REAL_RAW, REAL_DITHERED_ADV, REAL_GROUPS, source="sign")


def test_real_loss_with_raw_labels_is_plain_real_whatever_the_noise():
    """ReDit + REAL with raw labels == REAL: the loss reads labels only, and raw labels ignore noise."""
    from redit.algorithms import real_labels

    scores = torch.linspace(-0.4, 0.4, 8)
    ids = torch.tensor([0] * 4 + [1] * 4)
    raw_labels, _ = real_labels(REAL_RAW, REAL_DITHERED_ADV, REAL_GROUPS, source="raw")
    plain, used = real_loss(scores, torch.tensor(REAL_RAW, dtype=torch.float32) - 0.75 * (ids == 0), ids)
    assert used == 1 and real_loss(scores, raw_labels, ids)[0].item() == pytest.approx(plain.item())
    dithered_labels, _ = real_labels(REAL_RAW, REAL_DITHERED_ADV, REAL_GROUPS)
    assert real_loss(scores, dithered_labels, ids)[1] == 2  # noise labelled the all-wrong group too


# ---- the algorithm table (redit.algorithms.ALGORITHMS): one entry serves both backends ----------------
PAPER_GSM8K = {"TASK": "gsm8k", "MODEL": "Qwen/Qwen2.5-7B-Instruct", "STEPS": "1000", "HYPERPARAMETERS": "released_code",
               "TP": "2", "GPUS_PER_NODE": "8", "NNODES": "1", "TEST_FREQ": "50"}  # experiments/gsm8k/run.sh's values


def verl_config(environ: dict, recipe: dict = PAPER_GSM8K):
    """The recipe layer's overrides for `environ`, composed by verl's own Hydra config."""
    from patches.verl_compose import compose
    from patches.verl_recipe import build_run

    values = dict(recipe)
    run = build_run(values.pop("TASK"), values, [], [], environ)
    return run, compose(run.overrides)


def test_a_baseline_added_to_the_table_reaches_both_backends(monkeypatch):
    """The whole of adding an option-only baseline: one table entry. TRL resolves its options and
    the verl recipe layer composes its overrides through verl's Hydra config."""
    from redit import algorithms, train, trl_backend

    toy = algorithms.Algorithm("Toy clip-higher GRPO (test only)", trl_loss_type="bnpo", verl_loss_agg="token-mean",
                               trl={"scale_rewards": "batch", "epsilon_high": 0.3},
                               verl=("actor_rollout_ref.actor.clip_ratio_high=0.3",))
    monkeypatch.setitem(algorithms.ALGORITHMS, "toy", toy)
    assert "toy" in algorithms.names("trl") and "toy" in algorithms.names("verl")
    derived = train.derived_training_fields({"prompts_per_step": 2, "num_generations": 4, "algorithm": "toy",
                                             "run_dir": "/tmp/toy", "seed": 0}, "cpu")
    assert (derived["loss_type"], derived["scale_rewards"], derived["epsilon_high"]) == ("bnpo", "batch", 0.3)
    assert trl_backend.ALGORITHMS["toy"] == {"loss_type": "bnpo", "scale_rewards": "batch", "epsilon_high": 0.3}
    run, config = verl_config({"ALGORITHM": "toy", "METHOD": "redit-gaussian"})
    actor = config.actor_rollout_ref.actor
    assert actor.clip_ratio_high == 0.3 and actor.loss_agg_mode == "token-mean"
    assert config.algorithm.adv_estimator == "redit_grpo" and config.algorithm.redit.dist == "gaussian"
    assert run.name == "toy-redit-gaussian-s0"


def test_each_algorithm_aggregates_its_loss_the_same_way_on_both_backends():
    from redit.algorithms import ALGORITHMS, SAME_AGGREGATION

    for name, algorithm in ALGORITHMS.items():
        if algorithm.trl_loss_type and algorithm.verl_loss_agg:  # REAL's own loss aggregates itself on both
            assert SAME_AGGREGATION[algorithm.trl_loss_type] == algorithm.verl_loss_agg, name
    for name, agg in {"grpo": "seq-mean-token-mean", "dr_grpo": "seq-mean-token-sum-norm", "dapo": "token-mean",
                      "filter": "seq-mean-token-mean", "reinforce_plus_plus": "token-mean"}.items():
        _, config = verl_config({"ALGORITHM": name})
        assert config.actor_rollout_ref.actor.loss_agg_mode == agg, name
    _, config = verl_config({"ALGORITHM": "real"})
    assert config.actor_rollout_ref.actor.loss_agg_mode == "token-mean"  # verl's default, unread by the `real` loss
    _, config = verl_config({"ALGORITHM": "grpo", "LOSS_AGG": "token-mean"})  # the recipe variable overrides the table
    assert config.actor_rollout_ref.actor.loss_agg_mode == "token-mean"


def test_verls_aggregation_modes_compute_trls_loss_types():
    """verl's agg_loss on a ragged batch against TRL 1.16's formulas (grpo_trainer.py, _compute_loss):
    grpo = ((l * m).sum(-1) / m.sum(-1)).mean(); dr_grpo = (l * m).sum() / (B * max_completion_length);
    dapo = (l * m).sum() / m.sum() (one process, one accumulation step)."""
    from verl.trainer.ppo.core_algos import agg_loss

    generator = torch.Generator().manual_seed(0)
    loss = torch.randn(5, 7, generator=generator)
    mask = (torch.arange(7)[None, :] < torch.tensor([7, 3, 1, 5, 2])[:, None]).float()  # lengths 7, 3, 1, 5, 2
    trl = {"grpo": ((loss * mask).sum(-1) / mask.sum(-1)).mean(),
           "dr_grpo": (loss * mask).sum() / (5 * 7),
           "dapo": (loss * mask).sum() / mask.sum()}
    from redit.algorithms import SAME_AGGREGATION

    for loss_type, mode in SAME_AGGREGATION.items():
        verl = agg_loss(loss, mask, mode, loss_scale_factor=7 if mode == "seq-mean-token-sum-norm" else None)
        assert float(verl) == pytest.approx(float(trl[loss_type]), rel=1e-6), (loss_type, mode)
    assert float(agg_loss(loss, mask, "token-mean")) != pytest.approx(float(trl["grpo"]))  # verl's default is not TRL's grpo
