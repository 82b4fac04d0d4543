"""The locally built tiny policy: tokenizer, SFT warm-up target, reload through AutoTokenizer."""

import json

import pytest

from transformers import AutoTokenizer

from redit import tiny_policy, tiny_task


def test_tokenizer_round_trips_any_text_and_survives_autotokenizer(tmp_path, tiny_policy_path):
    spec = json.loads((tiny_policy_path / "sft_report.json").read_text())["spec"]
    task = tiny_task.TinyTaskConfig(**tiny_task.with_current_names(spec["task"]))  # the cached report has the legacy names
    tok = tiny_policy.build_tokenizer(spec["tokenizer"], task)
    rows = tiny_task.generate(task, "test")
    texts = ["Q: Ann has 3 pens.\nA: 3+4=7\n#### 7  ünïcode €  Ω 17"]
    texts += [tiny_task.prompt(r["question"]) for r in rows] + [r["answer"] for r in rows]
    # verl and TRL load tokenizers with AutoTokenizer, which rebuilds a qwen2 folder as Qwen2Tokenizer
    # (its own normaliser and pre-tokenising regex): the saved policy must give the very same ids.
    reloaded = AutoTokenizer.from_pretrained(tiny_policy_path)
    for text in texts:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        assert reloaded(text)["input_ids"] == ids and reloaded.decode(ids) == text
    assert reloaded.eos_token == "<eos>" and reloaded.pad_token == "<pad>"
    assert reloaded.eos_token_id == tok.eos_token_id and reloaded.pad_token_id == tok.pad_token_id


def test_learned_merges_shorten_the_task_text_and_are_deterministic(tmp_path):
    task = tiny_task.TinyTaskConfig()
    rows = tiny_task.generate(task, "test")
    bytes_tok = tiny_policy.build_tokenizer(tiny_policy.NO_MERGES_TOKENIZER, task)
    bpe = tiny_policy.build_tokenizer(tiny_policy.BPE_TOKENIZER, task)
    prompts = [tiny_task.prompt(r["question"]) for r in rows]

    def total(tok, texts):
        return sum(map(len, tok(texts)["input_ids"]))

    assert total(bpe, prompts) * 2.5 < total(bytes_tok, prompts)  # measured ~2.9x shorter prompts
    assert total(bpe, [r["answer"] for r in rows]) < total(bytes_tok, [r["answer"] for r in rows])
    # same spec -> same tokenizer files -> same policy (its cache key hashes the spec, not the files)
    for i in range(2):
        tiny_policy.build_tokenizer(tiny_policy.BPE_TOKENIZER, task).save_pretrained(tmp_path / str(i))
    assert (tmp_path / "0" / "tokenizer.json").read_bytes() == (tmp_path / "1" / "tokenizer.json").read_bytes()
    assert tiny_policy.TinyPolicySpec(tokenizer=tiny_policy.NO_MERGES_TOKENIZER).key() != tiny_policy.TinyPolicySpec().key()


def test_fitted_max_new_tokens_covers_every_gold_answer_with_its_eos():
    spec = tiny_policy.TinyPolicySpec()
    tok = tiny_policy.build_tokenizer(spec.tokenizer, spec.task)
    longest = max(len(tok(r["answer"])["input_ids"]) for split in ("train", "test") for r in tiny_task.generate(spec.task, split))
    assert tiny_policy.fitted_max_new_tokens(spec) == longest + 1 + tiny_policy.FIT_MARGIN_TOKENS == 24


def test_unknown_tokenizer_name_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown tiny tokenizer"):
        tiny_policy.build_tokenizer("byte-level-bpe-12+concat-chat-template")


def test_sft_warm_up_reaches_the_mixed_group_accuracy_window(tiny_policy_path):
    report = json.loads((tiny_policy_path / "sft_report.json").read_text())
    # 15-60 % sampled accuracy: GRPO groups of 8 are mostly mixed, and can still saturate later.
    assert 0.15 <= report["sampled_acc"] <= 0.60
    assert report["greedy_acc"] >= report["sampled_acc"] - 0.05
    assert report["history"][-1]["sampled_acc"] == report["sampled_acc"]


def test_the_policy_is_the_narrow_shape_and_the_wide_one_is_another_cache_entry(tiny_policy_path):
    report = json.loads((tiny_policy_path / "sft_report.json").read_text())
    model, _ = tiny_policy.load_policy(tiny_policy_path)
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    assert report["n_params"] == sum(p.numel() for p in model.parameters()) < 150_000
    wide = tiny_policy.TinyPolicySpec(model=tiny_policy.WIDE_MODEL)
    assert wide.key() != tiny_policy.TinyPolicySpec().key() and tiny_policy.WIDE_MODEL.hidden_size == 128


def test_saved_policy_reloads_with_the_reported_greedy_accuracy(tiny_policy_path):
    report = json.loads((tiny_policy_path / "sft_report.json").read_text())
    model, tok = tiny_policy.load_policy(tiny_policy_path)
    rows = tiny_task.generate(tiny_task.TinyTaskConfig(**tiny_task.with_current_names(report["spec"]["task"])), "test")[: report["eval_problems"]]
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


def test_the_cached_policy_keeps_its_key_across_the_knob_rename():
    """The committed runs used checkpoints/tiny-policy-924dc65de515 (and wide/large for the size study). Its SFT
    warm-up is not bit-reproducible across machines, so a changed key would silently train a different policy:
    the key still hashes the task's operation counts under their old names (min_steps/max_steps)."""
    assert {size: tiny_policy.policy_spec(size).key() for size in tiny_policy.POLICY_SIZES} == \
        {"small": "924dc65de515", "wide": "fddb95d52671", "large": "f0658d417597"}
    assert tiny_policy.TinyPolicySpec().key() == "924dc65de515"
