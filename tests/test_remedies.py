"""The remedies for saturated groups (redit/algorithms.py) on hand-made groups, their sample
accounting through the TRL backend, and the remedies / convergence / size registry entries."""

import json

import pytest
import torch

from conftest import run_cli
from redit import registry
from redit.algorithms import (FILL_STRENGTH, directional_fill, filter_saturated, refill_complete,
                              select_informative_groups)
from redit.trl_backend import pad_and_concat

# two groups of 4: an all-correct (saturated) group, then a mixed one with GRPO-like advantages
CORRECT = [1, 1, 1, 1, 1, 0, 1, 0]
ADVANTAGES = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.87, -0.87, 0.87, -0.87])


def test_filter_removes_saturated_groups_and_renormalises_over_the_kept_sequences():
    filtered, kept = filter_saturated(ADVANTAGES, CORRECT, groups=4)
    assert kept == 0.5
    # a per-sequence mean over 8 rows of which 4 are kept = the mean over the kept 4: scale 8/4 = 2
    assert filtered.tolist() == pytest.approx([0, 0, 0, 0, 1.74, -1.74, 1.74, -1.74])
    # with noise the saturated group has non-zero advantages: the filter still drops it (raw correctness)
    noisy = torch.tensor([0.5, -1.2, 1.1, -0.4, 0.87, -0.87, 0.87, -0.87])
    assert filter_saturated(noisy, CORRECT, 4)[0][:4].tolist() == [0.0] * 4
    everything_saturated, kept = filter_saturated(torch.ones(8), [0] * 8, 4)
    assert kept == 0.0 and everything_saturated.tolist() == [0.0] * 8
    # verl's form: per-token advantages [N, T] and one group id (uid) per response, in any order
    order = [4, 0, 5, 1, 6, 2, 7, 3]
    per_token = ADVANTAGES[order][:, None].repeat(1, 3)
    uids = [["a", "b"][i >= 4] for i in order]
    filtered, kept = filter_saturated(per_token, [CORRECT[i] for i in order], uids)
    assert kept == 0.5 and filtered[:, 0].tolist() == pytest.approx([1.74, 0, -1.74, 0, 1.74, 0, -1.74, 0])


def test_directional_fill_pushes_all_wrong_down_all_correct_up_and_leaves_mixed_groups():
    correct = [0, 0, 0, 0] + CORRECT  # all-wrong, all-correct, mixed
    advantages = torch.cat([torch.zeros(4), ADVANTAGES])
    filled = directional_fill(advantages, correct, groups=4, strength=0.1)
    assert filled.tolist() == pytest.approx([-0.1] * 4 + [0.1] * 4 + [0.87, -0.87, 0.87, -0.87])
    assert directional_fill(advantages, correct, 4, strength=0.0)[:8].tolist() == [0.0] * 8
    per_token = directional_fill(advantages[:, None].repeat(1, 2), correct, [g // 4 for g in range(12)], strength=0.1)
    assert per_token[:, 1].tolist() == pytest.approx(filled.tolist())  # group ids and [N, T] give the same
    assert FILL_STRENGTH == 0.1  # pre-registered in results/tiny/remedies.md
    with pytest.raises(ValueError, match="cannot be split into groups of 5"):
        directional_fill(advantages, correct, 5)


def test_refill_takes_the_first_informative_groups_and_never_counts_a_saturated_one():
    # draws of groups of 2: saturated, mixed, saturated, mixed, mixed
    raw = [0, 0, 1, 0, 1, 1, 0, 1, 1, 0]
    assert select_informative_groups(raw, 2, target_groups=2) == ([1, 3], 2)
    assert refill_complete(raw, 2, 2) and refill_complete(raw, 2, 3) and not refill_complete(raw, 2, 4)
    # at the cap: all 3 informative groups, topped up with the first saturated ones, in draw order
    assert select_informative_groups(raw, 2, target_groups=5) == ([0, 1, 2, 3, 4], 3)
    # nothing informative: the batch is saturated groups only, and none is counted
    assert select_informative_groups([1, 1, 0, 0], 2, 2) == ([0, 1], 0)


def test_pad_and_concat_left_pads_prompts_and_right_pads_completions():
    a = {"prompt_ids": torch.tensor([[5, 6]]), "prompt_mask": torch.tensor([[1, 1]]),
         "completion_ids": torch.tensor([[7]]), "completion_mask": torch.tensor([[1]]),
         "advantages": torch.tensor([0.5]), "num_items_in_batch": torch.tensor(1), "old_per_token_logps": None}
    b = {"prompt_ids": torch.tensor([[4, 5, 6]]), "prompt_mask": torch.tensor([[1, 1, 1]]),
         "completion_ids": torch.tensor([[8, 9]]), "completion_mask": torch.tensor([[1, 1]]),
         "advantages": torch.tensor([-0.5]), "num_items_in_batch": torch.tensor(2), "old_per_token_logps": None}
    out = pad_and_concat([a, b], pad_token_id=0)
    assert out["prompt_ids"].tolist() == [[0, 5, 6], [4, 5, 6]] and out["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert out["completion_ids"].tolist() == [[7, 0], [8, 9]] and out["completion_mask"].tolist() == [[1, 0], [1, 1]]
    assert out["advantages"].tolist() == [0.5, -0.5] and out["old_per_token_logps"] is None


def test_remedies_registry_names_every_arm_at_three_levels_and_stays_out_of_the_default_grid():
    experiment = registry.get("remedies")
    assert len(experiment.variants_for("trl")) == 33 and len(experiment.variants_for("verl")) == 11
    assert experiment.seeds == tuple(range(8)) and not experiment.in_default_grid
    args = {name: " ".join(v.train_args()) for name, v in experiment.variants.items()}
    assert "--max-grad-norm 1000000.0" in args["hard-redit-noclip"] and "--max-grad-norm" not in args["hard-redit"]
    assert "--num-generations 16 --prompts-per-step 4" in args["medium-group16"]
    assert "--algorithm refill" in args["easy-refill"] and "--max-number 12" in args["medium-grpo"]
    # the arms shared with the regime are the regime's very runs (same arguments)
    regime = registry.get("regime").variants
    assert experiment.variants["hard-grpo"] == regime["hard-grpo"] and experiment.variants["easy-redit"] == regime["easy-redit"]
    assert registry.get("size").variants["small-hard-redit"] == regime["hard-redit"]
    assert "--policy-size large" in " ".join(registry.get("size").variants["large-default-grpo"].train_args())
    default = run_cli("redit.registry", "names", "--default-grid").stdout.split()
    assert "regime" in default and not {"remedies", "convergence", "size"} & set(default)


def test_a_remedies_run_reuses_a_finished_identical_run_of_another_experiment(tmp_path):
    from redit.sweep import grid

    finished = tmp_path / "regime" / "hard-grpo-s0"
    finished.mkdir(parents=True)
    for name in ("config.json", "done.json", "metrics.jsonl"):
        (finished / name).write_text("{}\n")
    jobs = {j.name: j for j in grid(tmp_path, ["remedies"], seeds=[0])}
    assert jobs["remedies/hard-grpo-s0"].same_as == finished
    assert jobs["remedies/hard-redit-s0"].same_as is None  # not finished anywhere: it trains


@pytest.mark.parametrize("args,message", [
    (["--fill-strength", "0.2"], "--fill-strength is an option of --algorithm directional_fill only"),
    (["--refill-max-draws", "3"], "--refill-max-draws is an option of --algorithm refill only"),
    (["--algorithm", "refill", "--refill-max-draws", "0"], "--refill-max-draws must be a whole number in 1..100"),
    (["--algorithm", "directional_fill", "--fill-strength", "nan"], "--fill-strength must be a finite number >= 0"),
    (["--policy-size", "huge"], "invalid choice"),
    (["--policy-size", "wide", "--task", "gsm8k"], "--policy-size picks a tiny policy"),
])
def test_remedy_options_refused_in_one_line(tmp_path, args, message):
    proc = run_cli("redit.train", "--run-dir", tmp_path / "r", *args, "--steps", 1)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["refill", "filter", "directional_fill"])
def test_each_remedy_trains_and_accounts_for_every_generated_completion(tmp_path, tiny_policy_path, algorithm):
    run = tmp_path / algorithm
    proc = run_cli("redit.train", "--run-dir", run, "--algorithm", algorithm, "--dist", "none", "--max-number", 15,
                   "--steps", 2, "--val-every", 2, "--val-problems", 50, "--no-timing", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [json.loads(line)["data"] for line in (run / "metrics.jsonl").read_text().splitlines()][1:]
    for data in steps:
        assert data["actor/grad_norm"] > 0 or data["redit/zero_std_group_frac/raw"] == 1.0
        if algorithm == "refill":  # every draw is counted; the update holds informative groups up to 8
            draws, found = data["remedy/draws"], data["remedy/informative_groups_found"]
            assert 1 <= draws <= 5 and data["compute/completions"] == 64 * draws
            assert data["remedy/trained_informative_frac"] == pytest.approx(min(found, 8) / 8)
            assert draws == 5 or found >= 8  # it stops at the cap or once the batch is full, not before
        else:
            assert data["compute/completions"] == 64 and data["compute/completion_tokens"] >= 64
    config = json.loads((run / "config.json").read_text())
    assert config["algorithm"] == algorithm and ("refill_max_draws" in config) == (algorithm == "refill")
