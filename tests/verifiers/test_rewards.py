import json
import sys

import pytest
from caravan.verifiers.registry import Check, get_verifier, register_function
from caravan.verifiers.rewards import (
    RewardConfig,
    as_pairs,
    compute_reward,
    compute_rewards,
    trl_reward_fn,
    verl_compute_score,
)

from caravan import verifiers
from caravan.errors import CaravanError

IF_TRUTH = json.dumps([{"instruction_id": ["punctuation:no_comma"], "kwargs": [{}]}])


def test_registry_is_case_insensitive_with_aliases():
    assert get_verifier("MATH").name == "math"
    assert get_verifier(" Gsm8K ").name == "gsm8k"
    assert get_verifier("instruction_following").name == "ifeval"
    with pytest.raises(CaravanError, match="no verifier for dataset 'poetry'"):
        get_verifier("poetry")


def test_default_reward_is_ten_for_a_verified_answer():
    assert compute_reward("The answer is 72.", "72", "gsm8k").reward == 10.0
    assert compute_reward("The answer is 71.", "72", "gsm8k").reward == 0.0
    assert compute_reward(r"\boxed{\frac{1}{2}}", "0.5", "MATH").reward == 10.0


def test_several_pairs_are_summed_with_weights():
    cfg = RewardConfig(weights={"math": 0.5})
    result = compute_reward(r"so \boxed{4}", ["4", "4"], ["MATH", "gsm8k"], config=cfg)
    assert [p.verifier for p in result.pairs] == ["math", "gsm8k"]
    assert result.reward == 10 * 0.5 + 10 * 1.0
    with pytest.raises(CaravanError, match="2 datasets"):
        as_pairs(["4"], ["MATH", "gsm8k"])
    assert as_pairs('["1", "2"]', '["gsm8k", "MATH"]') == [("1", "gsm8k"), ("2", "MATH")]


def test_thinking_is_stripped_and_strict_mode_nulls_malformed_traces():
    assert compute_reward("<think>maybe 71</think> It is 72", "72", "gsm8k").reward == 10.0
    assert compute_reward("<think>guess 72", "72", "gsm8k").reward == 0.0
    strict = RewardConfig(strict_thinking=True)
    bad = compute_reward("It is 72 <think>x</think> 72", "72", "gsm8k", config=strict)
    assert bad.reward == 0.0 and bad.thinking_malformed


def test_truncation_penalty_and_format_reward():
    cfg = RewardConfig(truncated_penalty=-10.0)
    assert compute_reward("72", "72", "gsm8k", truncated=True, config=cfg).reward == -10.0
    assert compute_reward("72", "72", "gsm8k", truncated=True).reward == 10.0
    fmt = RewardConfig(format_weight=1.0)
    assert compute_reward("<think>a</think> 72", "72", "gsm8k", config=fmt).reward == 11.0
    assert compute_reward("72", "72", "gsm8k", config=fmt).reward == 10.0


def test_a_failing_verifier_gives_none_and_an_error_not_a_score():
    result = compute_reward("7", "seventy", "gsm8k")
    assert result.reward is None and "not a number" in result.errors[0]
    result = compute_reward("7", "7", "unknown-set")
    assert result.reward is None and "no verifier" in result.errors[0]


def test_missing_ifeval_module_is_a_clear_caravan_error(monkeypatch):
    monkeypatch.delattr(verifiers, "ifeval", raising=False)
    monkeypatch.setitem(sys.modules, "caravan.verifiers.ifeval", None)
    with pytest.raises(CaravanError, match="caravan.verifiers.ifeval"):
        get_verifier("ifeval").check("text", IF_TRUTH)
    result = compute_reward("text", IF_TRUTH, "ifeval")
    assert result.reward is None and "caravan.verifiers.ifeval" in result.errors[0]


def test_ifeval_rows_score_with_the_real_ifeval_verifier():
    assert compute_reward("no commas here", IF_TRUTH, "ifeval").reward == 10.0
    result = compute_reward("a, b", IF_TRUTH, "IFEval")
    assert result.reward == 0.0
    assert result.pairs[0].details["instruction_ids"] == ["punctuation:no_comma"]
    assert result.pairs[0].details["outcomes"] == [False]
    # Two constraints, one met: the fraction-satisfied score scales the reward.
    two = json.dumps(
        [
            {
                "instruction_id": ["punctuation:no_comma", "change_case:english_lowercase"],
                "kwargs": [{}, {}],
            }
        ]
    )
    assert compute_reward("No commas but Capitals", two, "ifeval").reward == 5.0
    # Tülu 3 `func_name` labels and thinking traces (stripped before checking).
    tulu = json.dumps({"func_name": "validate_lowercase"})
    assert (
        compute_reward("<think>Thinking, With Caps</think>all lower case", tulu, "ifeval").reward
        == 10.0
    )


def test_code_rows_use_the_sandbox():
    truth = json.dumps(["assert sq(3) == 9", "assert sq(-2) == 4"])
    result = compute_reward("```python\ndef sq(x):\n    return x * x\n```", truth, "code")
    assert result.reward == 10.0
    assert [t["status"] for t in result.pairs[0].details["tests"]] == ["passed", "passed"]


def test_batch_keeps_row_order_across_verifiers():
    responses = [r"\boxed{2}", "it is 3", r"\boxed{x \ge 1}", "it is 4"]
    results = compute_rewards(
        responses, ["2", "3", r"x\geq 1", "5"], ["MATH", "gsm8k", "math", "gsm8k"]
    )
    assert [r.reward for r in results] == [10.0, 10.0, 10.0, 0.0]


def test_trl_adapter_shape_without_trl():
    fn = trl_reward_fn(RewardConfig(value=1.0))
    out = fn(
        prompts=[[{"role": "user", "content": "q"}]] * 3,
        completions=[
            [{"role": "assistant", "content": "It is 72"}],
            "It is 5",
            [{"role": "assistant", "content": "x"}],
        ],
        completion_ids=[[1], [2], [3]],
        ground_truth=["72", "6", "1"],
        dataset=["gsm8k", "gsm8k", "nope"],
    )
    assert out == [1.0, 0.0, None]
    with pytest.raises(CaravanError, match="ground_truth"):
        fn(prompts=["q"], completions=["a"], dataset=["gsm8k"])


def test_verl_hook():
    assert verl_compute_score("gsm8k", "so 12", "12") == 1.0
    assert verl_compute_score("MATH", r"\boxed{3}", "4") == 0.0
    with pytest.raises(CaravanError):
        verl_compute_score("nope", "1", "1")


def test_user_registered_verifier():
    register_function("exact", lambda r, t: float(r.strip() == t), aliases=("exact_match",))
    assert compute_reward(" yes ", "yes", "EXACT_MATCH").reward == 10.0
    register_function("detail", lambda r, t: Check(0.5, {"seen": r}))
    assert compute_reward("z", "", "detail").pairs[0].details == {"seen": "z"}


def test_truncation_penalty_never_hides_a_verifier_error(monkeypatch):
    cfg = RewardConfig(truncated_penalty=-10.0)
    unknown = compute_reward("72", "72", "astrology", truncated=True, config=cfg)
    assert unknown.reward is None and "astrology" in unknown.errors[0]

    def broken(self, responses, truths):
        raise CaravanError("verifier module missing")

    monkeypatch.setattr(type(get_verifier("gsm8k")), "check_batch", broken)
    failed = compute_reward("72", "72", "gsm8k", truncated=True, config=cfg)
    assert failed.reward is None and "verifier module missing" in failed.errors[0]


def test_each_if_constraint_is_parsed_and_checked_once_per_response(monkeypatch):
    import dataclasses

    from caravan.verifiers.ifeval import checking, labels

    calls = {"check": 0, "parse": 0}
    spec = checking.SPECS["punctuation:no_comma"]

    def counted_check(text, kw):
        calls["check"] += 1
        return spec.check(text, kw)

    real_parse = labels.parse_ground_truth

    def counted_parse(truth):
        calls["parse"] += 1
        return real_parse(truth)

    monkeypatch.setitem(
        checking.SPECS, "punctuation:no_comma", dataclasses.replace(spec, check=counted_check)
    )
    monkeypatch.setattr(labels, "parse_ground_truth", counted_parse)
    monkeypatch.setattr(verifiers.ifeval, "parse_ground_truth", counted_parse)
    assert compute_reward("no commas here", IF_TRUTH, "ifeval").reward == 10.0
    assert calls == {"check": 1, "parse": 1}
    # A GRPO group of 16 rollouts shares its label: one parse, one check per rollout.
    calls.update(check=0, parse=0)
    results = compute_rewards(["a, b"] * 8 + ["a b"] * 8, [IF_TRUTH] * 16, ["ifeval"] * 16)
    assert [r.reward for r in results] == [0.0] * 8 + [10.0] * 8
    assert calls == {"check": 16, "parse": 1}


@pytest.mark.parametrize(
    "truth",
    [
        json.dumps({"func_name": "validate_everything"}),
        json.dumps([{"instruction_id": ["keywords:nope"], "kwargs": [{}]}]),
        json.dumps({"func_name": "validate_word_constraint", "N": 5, "quantifier": "roughly"}),
    ],
)
def test_an_unknown_if_check_is_an_error_never_a_pass(truth):
    for results in (
        [compute_reward("any response", truth, "ifeval")],
        compute_rewards(["a", "b"], [truth, truth], ["ifeval", "ifeval"]),
    ):
        for result in results:
            assert result.reward is None and result.errors
