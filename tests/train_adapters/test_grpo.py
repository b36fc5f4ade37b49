import json
import math

import pytest
from caravan.records import write_records
from caravan.train_adapters.cli import cli
from caravan.train_adapters.grpo import RewardModelScorer, verifier_reward
from caravan.train_adapters.recipe import GRPOOptions

from .conftest import CPU_OVERRIDES

EOS = 7


def _opts(**kw):
    return GRPOOptions(**kw)


def _call(fn, texts, ids, truths, datasets):
    return fn(
        prompts=[[{"role": "user", "content": "q"}]] * len(texts),
        completions=[[{"role": "assistant", "content": t}] for t in texts],
        completion_ids=ids,
        ground_truth=truths,
        dataset=datasets,
    )


def test_verifier_reward_values_truncation_and_strict_thinking():
    fn = verifier_reward(_opts(reward_value=10.0, truncated_penalty=-10.0), EOS)
    out = _call(
        fn,
        ["So the answer is 72.", "It is 71.", "The answer is 72"],
        [[1, EOS], [1, EOS], [1, 2]],
        ["72", "72", "72"],
        ["gsm8k"] * 3,
    )
    assert out == [10.0, 0.0, -10.0]
    strict = verifier_reward(_opts(strict=True), EOS)
    out = _call(
        strict,
        ["<think>72 it is</think> The answer is 72.", "<think>unclosed 72"],
        [[EOS], [EOS]],
        ["72", "72"],
        ["gsm8k", "gsm8k"],
    )
    assert out == [10.0, 0.0]  # malformed thinking earns nothing (it still counts in the group)


def test_reward_model_scores_the_answer_without_thinking(tmp_path, tiny_model_dir):
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    config = AutoConfig.from_pretrained(tiny_model_dir, num_labels=1)
    torch.manual_seed(0)
    rm_dir = tmp_path / "rm"
    LlamaForSequenceClassification(config).save_pretrained(rm_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(rm_dir)
    scorer = RewardModelScorer(str(rm_dir), strict=True)
    prompt = [{"role": "user", "content": "Add 2 and 2."}]
    scores = scorer(
        prompts=[prompt] * 4,
        completions=[
            [{"role": "assistant", "content": "<think>two plus two</think>It is 4."}],
            [{"role": "assistant", "content": "It is 4."}],
            [{"role": "assistant", "content": "<think>never closed"}],
            [{"role": "assistant", "content": "It is 5."}],
        ],
    )
    assert scores[0] == pytest.approx(scores[1]) and scores[2] is None
    assert all(math.isfinite(s) for s in (scores[0], scores[3]))


def test_train_grpo_runs_two_steps_with_verifier_rewards(tmp_path, capsys, tiny_model_dir):
    rows = [
        {
            "id": f"g{i}",
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}?" + " more" * 60 * (i > 7)}
            ],
            "ground_truth": str(2 * i),
            "dataset": "gsm8k",
        }
        for i in range(10)
    ]
    data = write_records(rows, tmp_path / "rl.parquet", "rlvr")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        cli.main(
            [
                "grpo",
                "--recipe",
                "tulu31-8b-grpo",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(data),
                "--output-dir",
                str(out),
                *CPU_OVERRIDES,
                "grpo.prompts_per_step=2",
                "grpo.mini_batches=1",
                "trl.num_generations=2",
                "trl.max_completion_length=8",
                "grpo.max_prompt_length=64",
            ]
        )
    assert done.value.code == 0
    assert "dropped 2 of 10 prompts longer than 64 tokens" in capsys.readouterr().err
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "loss" in e]
    assert len(logged) == 2
    assert all("rewards/verifiable_reward/mean" in e for e in logged)
    assert all(math.isfinite(e["loss"]) for e in logged)


def test_deepscaler_recipe_rewards_a_correct_think_in_prompt_completion():
    from caravan.train_adapters.recipe import load_recipe

    options = load_recipe("deepscaler-1.5b-grpo").grpo
    assert options.strict and options.think_in_prompt
    fn = verifier_reward(options, {EOS})
    out = _call(
        fn,
        [
            "Two plus two is four.\n</think>\n\nSo the answer is \\boxed{4}.",
            "<think>reopened</think> \\boxed{4}",
            "Thinking without an end \\boxed{4}",
        ],
        [[3, EOS]] * 3,
        ["4"] * 3,
        ["math"] * 3,
    )
    assert out == [1.0, 0.0, 0.0]
    off = verifier_reward(options.model_copy(update={"think_in_prompt": False}), {EOS})
    assert _call(off, ["four </think> \\boxed{4}"], [[EOS]], ["4"], ["math"]) == [0.0]


def test_truncation_uses_every_eos_id_of_tokenizer_and_model(tiny_model_dir):
    from caravan.train_adapters.grpo import eos_token_ids
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.generation_config.eos_token_id = [tok.eos_token_id, 9]
    ids = eos_token_ids(tok, model)
    assert ids == {tok.eos_token_id, 9}
    fn = verifier_reward(_opts(truncated_penalty=-10.0), ids)
    out = _call(
        fn, ["It is 72."] * 3, [[5, 9], [5, tok.eos_token_id], [5, 6]], ["72"] * 3, ["gsm8k"] * 3
    )
    assert out == [10.0, 10.0, -10.0]


def test_max_prompt_length_drops_long_prompts_and_counts_them(tiny_model_dir):
    import pyarrow as pa
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.run import prompt_token_count, stage_dataset
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    short = [{"role": "user", "content": "Add 2."}]
    long = [{"role": "user", "content": " ".join(["seven apples and one river"] * 40)}]
    assert prompt_token_count(tok, short) <= 16 < 157 <= prompt_token_count(tok, long)
    table = pa.Table.from_pylist(
        [
            {"messages": m, "ground_truth": "2", "dataset": "gsm8k"}
            for m in (short, long, short, long, long)
        ]
    )
    recipe = load_recipe("tulu31-8b-grpo", ["grpo.max_prompt_length=16"])
    ds, dropped = stage_dataset(recipe, table, tok)
    assert (len(ds), dropped) == (2, 3)
    assert all(row == short for row in ds["prompt"])


def test_a_template_that_opens_thinking_is_noticed():
    from caravan.train_adapters.grpo import template_opens_thinking, think_in_prompt_warning

    from tests.fixtures.tiny_model import build_tokenizer

    tok = build_tokenizer()
    assert not template_opens_thinking(tok)
    assert "does not open <think>" in think_in_prompt_warning(tok, _opts(think_in_prompt=True))
    tok.chat_template += "{%- if add_generation_prompt -%}{{- '<think>\\n' -}}{%- endif -%}"
    assert template_opens_thinking(tok)
    assert think_in_prompt_warning(tok, _opts(think_in_prompt=True)) is None
    assert "opens <think> in the prompt" in think_in_prompt_warning(tok, _opts())
