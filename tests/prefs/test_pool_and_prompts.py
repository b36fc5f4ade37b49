import json

import pytest
from caravan.prefs.pool import load_pool, on_policy_model, parse_pool, sample_models
from caravan.prefs.prompts import load_prompts, prompt_id

from caravan.errors import CaravanError


def test_pool_yaml_with_defaults_and_backends(tmp_path):
    path = tmp_path / "pool.yaml"
    path.write_text(
        "defaults: {params: {max_tokens: 100}}\n"
        "models:\n"
        "  - {name: a, model: gpt-4o-mini}\n"
        "  - {name: b, provider: openai, model: llama, base_url: 'http://h:8000/v1',"
        " params: {temperature: 0.7}}\n"
        "  - {name: c, provider: local, model: /m/tiny, options: {max_batch_size: 4}}\n"
    )
    a, b, c = load_pool(path)
    assert a.params == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 100}
    assert b.base_url == "http://h:8000/v1" and b.params["temperature"] == 0.7
    assert c.provider == "local" and c.options == {"max_batch_size": 4}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "non-empty list"),
        ([{"name": "x"}], "`model` is required"),
        ([{"model": "m", "temp": 1}], "unknown key"),
        ([{"model": "m"}, {"model": "m"}], "repeated: m"),
    ],
)
def test_bad_pool_entries_are_named(data, message):
    with pytest.raises(CaravanError, match=message):
        parse_pool(data, "pool.yaml")


def test_sampling_is_distinct_seeded_and_independent_of_other_prompts():
    pool = parse_pool([{"model": f"m{i}"} for i in range(8)])
    draws = {p: [m.name for m in sample_models(pool, p, 4, 7)] for p in ("a", "b", "c")}
    assert all(len(set(d)) == 4 for d in draws.values())
    assert draws["a"] == [m.name for m in sample_models(pool, "a", 4, 7)]
    assert draws["a"] != [m.name for m in sample_models(pool, "a", 4, 8)]
    with pytest.raises(CaravanError, match="holds only 8"):
        sample_models(pool, "a", 9, 0)


def test_on_policy_backends(tmp_path):
    (tmp_path / "step-100").mkdir()
    (tmp_path / "x").mkdir()
    assert on_policy_model(str(tmp_path / "step-100")).provider == "local"
    served = on_policy_model("my-policy", base_url="http://gpu:8000/v1")
    assert served.provider == "openai" and served.origin == "on-policy"
    assert on_policy_model(str(tmp_path / "x"), "vllm").name == "policy:x"


def test_prompts_from_sft_rows_cut_after_last_user_turn_and_keep_source(tmp_path):
    rows = [
        {"id": "a", "source": "tulu-sft", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"}]},
        {"id": "b", "prompt": "Plain text prompt"},
        {"id": "c", "prompt": "Plain text prompt"},  # duplicate content
    ]  # fmt: skip
    path = tmp_path / "mix.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, fps, dupes = load_prompts([path])
    assert [i.id for i in items] == ["a", "b"] and dupes == 1
    assert items[0].prompt[-1] == {"role": "user", "content": "Name a prime."}
    assert len(items[0].prompt) == 4 and items[0].source == "tulu-sft"
    assert items[1].source == "mix" and str(path) in fps
    import hashlib

    assert items[1].prompt_id == hashlib.sha256(b"Plain text prompt").hexdigest()
    assert prompt_id(items[0].prompt) == items[0].prompt_id  # multi-turn: hash of the JSON


def test_prompt_errors_name_the_row(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n')
    with pytest.raises(
        CaravanError, match=r"p.jsonl: line 2: id 'a' already used by .*p.jsonl: line 1"
    ):
        load_prompts([path])
    path.write_text('{"id": "a", "prompt": "   "}\n')
    with pytest.raises(CaravanError, match="p.jsonl: line 1: the last user turn is empty"):
        load_prompts([path])
    path.write_text('{"id": "a", "messages": [{"role": "assistant", "content": "x"}]}\n')
    with pytest.raises(CaravanError, match="p.jsonl: line 1: the conversation has no user turn"):
        load_prompts([path])


def test_only_if_rows_keep_ground_truth(tmp_path):
    rows = [
        {"id": "g", "prompt": "Tom has 3 apples...", "ground_truth": "7", "dataset": "gsm8k"},
        {"id": "i", "prompt": "No commas.", "ground_truth": '{"func_name": "validate_no_commas"}',
         "dataset": "ifeval"},
        {"id": "p", "prompt": "Lowercase.", "ground_truth": '{"func_name": "validate_lowercase"}'},
    ]  # fmt: skip
    path = tmp_path / "rlvr.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, _, _ = load_prompts([path])
    assert [i.ground_truth is not None for i in items] == [False, True, True]


def test_the_shipped_example_pool_parses():
    from importlib import resources

    path = resources.files("caravan.prefs").joinpath("examples", "pool.yaml")
    models = load_pool(path)
    assert len(models) == 6 and {m.provider for m in models} == {"openai", "anthropic", "vllm"}
    assert all(m.params["max_tokens"] == 2048 for m in models)


def test_a_missing_on_policy_path_is_no_such_folder_not_a_hub_id(tmp_path):
    from caravan.prefs.pool import on_policy_model

    missing = str(tmp_path / "ckpt" / "sft-8b")
    with pytest.raises(CaravanError, match=f"no such --on-policy model folder: {missing}"):
        on_policy_model(missing)
    assert on_policy_model("org/policy-8b").model == "org/policy-8b"  # a hub id stays one


def test_a_pool_models_ray_placement_reaches_its_session(tmp_path):
    """`ray:` in the pool file places the model's engines when prefs build runs on Ray."""
    from caravan.prefs.pool import pool_session

    from caravan.cli_run import CallArgs
    from caravan.session import LLMSettings

    pool = parse_pool([{"name": "tiny", "model": str(tmp_path), "provider": "local",
                        "ray": {"num_gpus": 0, "replicas": 2}}])  # fmt: skip
    llm = pool_session(pool[0], CallArgs(settings=LLMSettings(), cache=tmp_path / "c.sqlite"))
    assert llm.placement is not None and llm.placement.replicas == 2
