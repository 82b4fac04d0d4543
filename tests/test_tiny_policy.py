"""The locally built tiny policy: tokenizer, SFT warm-up target, reload through AutoTokenizer."""

import json

from transformers import AutoTokenizer

from redit import tiny_policy, tiny_task


def test_tokenizer_round_trips_any_text_and_survives_autotokenizer(tmp_path, tiny_policy_path):
    tok = tiny_policy.build_tokenizer()
    text = "Q: Ann has 3 pens.\nA: 3+4=7\n#### 7  ünïcode €"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    # verl and TRL load tokenizers with AutoTokenizer, which maps a qwen2 model to Qwen2Tokenizer:
    # the saved policy must give the very same ids that way.
    reloaded = AutoTokenizer.from_pretrained(tiny_policy_path)
    assert reloaded(text)["input_ids"] == ids and reloaded.decode(ids) == text
    assert reloaded.eos_token == "<eos>" and reloaded.pad_token == "<pad>"


def test_sft_warm_up_reaches_the_mixed_group_accuracy_window(tiny_policy_path):
    report = json.loads((tiny_policy_path / "sft_report.json").read_text())
    # 15-60 % sampled accuracy: GRPO groups of 8 are mostly mixed, and can still saturate later.
    assert 0.15 <= report["sampled_acc"] <= 0.60
    assert report["greedy_acc"] >= report["sampled_acc"] - 0.05
    assert report["history"][-1]["sampled_acc"] == report["sampled_acc"]


def test_saved_policy_reloads_with_the_reported_greedy_accuracy(tiny_policy_path):
    report = json.loads((tiny_policy_path / "sft_report.json").read_text())
    model, tok = tiny_policy.load_policy(tiny_policy_path)
    rows = tiny_task.generate(tiny_task.TinyTaskConfig(**report["spec"]["task"]), "test")[: report["eval_problems"]]
    # same weights, same greedy decoding (a thread-count change may flip a near-tie: 1 row of slack)
    assert abs(tiny_policy.accuracy(model, tok, rows, greedy=True) - report["greedy_acc"]) <= 1 / len(rows)
    assert model.config.model_type == "qwen2" and not any(p.is_cuda for p in model.parameters())


def test_missing_model_folder_is_one_clear_error(tmp_path):
    try:
        tiny_policy.load_policy(tmp_path / "nope")
    except FileNotFoundError as err:
        assert "config.json" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_cache_key_changes_with_any_knob():
    base = tiny_policy.TinyPolicySpec()
    other = tiny_policy.TinyPolicySpec(task=tiny_task.TinyTaskConfig(max_number=12))
    assert base.key() == tiny_policy.TinyPolicySpec().key() != other.key()
