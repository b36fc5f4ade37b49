"""The `ray:` placement of in-process models: read from the pool YAML and pipeline `llms:`,
checked with errors naming the entry, and turned into the resources each engine replica asks
Ray for (no Ray needed here)."""

from __future__ import annotations

import pytest
from caravan.prefs.pool import parse_pool

from caravan.errors import CaravanError
from caravan.pipeline import parse_pipeline
from caravan.placement import Placement, engine_resources, parse_placement
from caravan.ray_engines import engine_spec
from caravan.session import LLM


def test_pool_yaml_ray_mapping_becomes_the_models_placement():
    pool = parse_pool(
        {
            "models": [
                {"name": "q", "provider": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct",
                 "ray": {"num_gpus": 2, "replicas": 3, "num_cpus": 4}},
                {"name": "t", "provider": "local", "model": "/m/tiny"},
                {"name": "g", "provider": "openai", "model": "gpt-4o"},
            ]
        },
        "pool.yaml",
    )  # fmt: skip
    assert pool[0].placement == Placement(num_gpus=2, num_cpus=4.0, replicas=3)
    assert pool[1].placement is None and pool[2].placement is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"provider": "vllm", "model": "m", "ray": {"gpus": 1}},
         "pool.yaml entry 0 ray: unknown key\\(s\\) in `ray`: gpus"),
        ({"provider": "vllm", "model": "m", "ray": {"replicas": 0}},
         "entry 0 ray: `ray.replicas` must be a whole number >= 1"),
        ({"provider": "local", "model": "m", "ray": {"num_gpus": -1}},
         "`ray.num_gpus` must be a number >= 0, got -1"),
        ({"provider": "vllm", "model": "m", "ray": [1]}, "`ray` must be a mapping"),
        ({"provider": "openai", "model": "gpt-4o", "ray": {"num_gpus": 1}},
         "entry 0 ray: `ray` places in-process models .* provider 'openai'"),
    ],
)  # fmt: skip
def test_bad_ray_mappings_name_the_pool_entry(entry, message):
    with pytest.raises(CaravanError, match=message):
        parse_pool([entry], "pool.yaml")


def test_default_resources_per_provider():
    assert engine_resources("vllm", {}, None) == {"num_gpus": 1.0, "num_cpus": 1.0}
    # tensor parallel: one replica spans that many GPUs
    assert engine_resources("vllm", {"tensor_parallel_size": 4}, None)["num_gpus"] == 4.0
    assert engine_resources("local", {}, None)["num_gpus"] == 0.0
    assert engine_resources("local", {"device": "cuda:0"}, None)["num_gpus"] == 1.0
    given = Placement(num_gpus=0.5, num_cpus=2, replicas=3)
    assert engine_resources("vllm", {"tensor_parallel_size": 4}, given) == {
        "num_gpus": 0.5, "num_cpus": 2.0}  # fmt: skip


def test_pipeline_llms_ray_reaches_the_engine_actor_options(tmp_path):
    pipe = parse_pipeline(
        {
            "llms": {
                "policy": {"model": str(tmp_path / "ckpt"), "provider": "vllm",
                           "ray": {"num_gpus": 1, "replicas": 2},
                           "backend_options": {"max_model_len": 4096}},
                "judge": {"model": "gpt-4o"},
            },
            "steps": [{"read": "x.jsonl"}],
        },
        "pipe.yaml",
    )  # fmt: skip
    policy = pipe.llms["policy"]
    assert policy.placement == Placement(num_gpus=1, replicas=2)
    assert pipe.llms["judge"].placement is None
    spec = engine_spec(policy)
    assert spec.replicas == 2 and spec.scope == policy.scope()
    options = [spec.actor_options(r) for r in range(spec.replicas)]
    assert [(o["num_gpus"], o["num_cpus"], o["namespace"], o["get_if_exists"]) for o in options] \
        == [(1.0, 1.0, "caravan", True)] * 2  # fmt: skip
    assert options[0]["name"] != options[1]["name"]
    assert options[0]["name"].startswith("caravan-engine-vllm-ckpt-")
    # the backend options reach the engine (max_batch_size: the session's concurrency)
    assert dict(spec.options) == {"max_model_len": 4096, "max_batch_size": 64}
    # the same model and options share actors whatever the replica count; other options,
    # other resources or other weights do not
    same = LLM(policy.model, "vllm", backend_options={"max_model_len": 4096},
               placement={"num_gpus": 1, "replicas": 5})  # fmt: skip
    assert engine_spec(same).actor_name(0) == spec.actor_name(0)
    for other in (
        LLM(policy.model, "vllm", backend_options={"max_model_len": 8192}),
        LLM(policy.model, "vllm", backend_options={"max_model_len": 4096},
            placement={"num_gpus": 2}),
        LLM(str(tmp_path / "other"), "vllm", backend_options={"max_model_len": 4096}),
    ):  # fmt: skip
        assert engine_spec(other).actor_name(0) != spec.actor_name(0)


def test_a_bad_llms_ray_mapping_names_the_pipeline_entry():
    with pytest.raises(CaravanError, match="pipe.yaml llms.judge: .*`ray` places in-process"):
        parse_pipeline(
            {"llms": {"judge": {"model": "gpt-4o", "ray": {"num_gpus": 1}}},
             "steps": [{"read": "x.jsonl"}]}, "pipe.yaml",
        )  # fmt: skip
    assert parse_placement({"replicas": 2.0}, "x", "local").replicas == 2
