import json
import math

import pytest

from records import write_records
from train_adapters.cli import cli
from train_adapters.grpo import RewardModelScorer, verifier_reward
from train_adapters.recipe import GRPOOptions

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


def test_train_grpo_runs_two_steps_with_verifier_rewards(tmp_path, tiny_model_dir):
    rows = [
        {
            "id": f"g{i}",
            "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
            "ground_truth": str(2 * i),
            "dataset": "gsm8k",
        }
        for i in range(8)
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
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "loss" in e]
    assert len(logged) == 2
    assert all("rewards/verifiable_reward/mean" in e for e in logged)
    assert all(math.isfinite(e["loss"]) for e in logged)
