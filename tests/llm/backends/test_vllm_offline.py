"""VLLMBackend against a fake `vllm` module shaped like the real one (vLLM needs a GPU).

The fake records how the backend builds the engine and its SamplingParams, and answers with
objects that carry the attributes of vLLM's RequestOutput / CompletionOutput
(prompt_token_ids, outputs[0].text / .token_ids / .finish_reason / .stop_reason).
"""

from __future__ import annotations

import asyncio
import sys
import types
from types import SimpleNamespace

import pytest
from caravan.llm.backends.vllm_offline import VLLMBackend
from caravan.llm.types import BatchingBackend, PermanentError, Request

from caravan.errors import CaravanError


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeStructuredOutputsParams:
    def __init__(self, json=None, **kwargs):
        self.json = json


class FakeLLM:
    instances: list[FakeLLM] = []
    fail_init: Exception | None = None
    reject: Exception | None = None

    def __init__(self, model, **kwargs):
        if FakeLLM.fail_init is not None:
            raise FakeLLM.fail_init
        self.model = model
        self.kwargs = kwargs
        self.calls: list[dict] = []
        FakeLLM.instances.append(self)

    def chat(self, messages, sampling_params=None, use_tqdm=True, add_generation_prompt=True):
        if FakeLLM.reject is not None:
            raise FakeLLM.reject
        self.calls.append(
            {"messages": messages, "params": sampling_params, "use_tqdm": use_tqdm,
             "add_generation_prompt": add_generation_prompt}
        )  # fmt: skip
        outputs = []
        for conversation, params in zip(messages, sampling_params, strict=True):
            prompt = " ".join(m["content"] for m in conversation)
            reply = "echo " + conversation[-1]["content"]
            words = reply.split()
            limit = params.kwargs["max_tokens"]
            finish = "length" if len(words) > limit else "stop"
            if conversation[-1]["content"] == "abort me":
                finish = "abort"
            words = words[:limit]
            completion = SimpleNamespace(
                index=0,
                text=" ".join(words),
                token_ids=list(range(len(words))),
                cumulative_logprob=None,
                logprobs=None,
                finish_reason=finish,
                stop_reason=None,
            )
            outputs.append(
                SimpleNamespace(
                    request_id=str(len(outputs)),
                    prompt=None,
                    prompt_token_ids=list(range(len(prompt.split()) + 3)),
                    outputs=[completion],
                    finished=True,
                )
            )
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = FakeStructuredOutputsParams
    sampling.SamplingParams = FakeSamplingParams
    module.sampling_params = sampling
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    FakeLLM.instances = []
    FakeLLM.fail_init = None
    FakeLLM.reject = None
    return module


def _req(text: str, id: str | None = None, schema=None, **params) -> Request:
    return Request(
        messages=[{"role": "user", "content": text}],
        model="m",
        params=params,
        schema=schema,
        id=id,
    )


def test_is_a_batching_backend():
    backend = VLLMBackend("org/model")
    assert isinstance(backend, BatchingBackend)
    assert backend.name == "vllm" and backend.max_batch_size == 256


def test_engine_built_once_with_engine_kwargs(fake_vllm):
    backend = VLLMBackend("org/model", tensor_parallel_size=2, gpu_memory_utilization=0.8)
    backend.complete_batch([_req("one")])
    backend.complete_batch([_req("two")])
    assert len(FakeLLM.instances) == 1
    llm = FakeLLM.instances[0]
    assert llm.model == "org/model"
    assert llm.kwargs == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8}
    assert len(llm.calls) == 2
    assert llm.calls[0]["use_tqdm"] is False and llm.calls[0]["add_generation_prompt"] is True


def test_params_map_to_sampling_params(fake_vllm):
    backend = VLLMBackend("m")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    backend.complete_batch(
        [
            _req("a", temperature=0.7, top_p=0.9, max_tokens=33, seed=5, stop=["\n\n", "END"]),
            _req("b"),
            _req("c", schema=schema, stop="}", top_k=20),
        ]
    )
    first, plain, structured = (p.kwargs for p in FakeLLM.instances[0].calls[0]["params"])
    assert first == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 33,
        "seed": 5,
        "stop": ["\n\n", "END"],
    }
    assert plain == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 512, "seed": None}
    assert structured["structured_outputs"].json == schema
    assert structured["stop"] == ["}"] and structured["top_k"] == 20
    assert "structured_outputs" not in first


def test_responses_in_order_with_usage_and_finish(fake_vllm):
    backend = VLLMBackend("m", max_batch_size=2)
    requests = [
        _req("alpha beta gamma", id="r0", max_tokens=2),
        _req("short", id="r1"),
        _req("x y", id="r2", max_tokens=10),
        _req("last one", id="r3"),
        _req("fifth", id="r4", max_tokens=1),
    ]
    responses = backend.complete_batch(requests)
    assert len(FakeLLM.instances[0].calls) == 3  # 2 + 2 + 1
    sent = [c["messages"] for c in FakeLLM.instances[0].calls]
    assert [m for chunk in sent for m in chunk] == [r.messages for r in requests]
    assert [r.request_id for r in responses] == ["r0", "r1", "r2", "r3", "r4"]
    assert responses[0].text == "echo alpha" and responses[0].finish_reason == "length"
    assert responses[0].usage.completion_tokens == 2
    assert responses[0].usage.prompt_tokens == 3 + 3
    assert responses[1].text == "echo short" and responses[1].finish_reason == "stop"
    assert responses[4].text == "echo" and responses[4].finish_reason == "length"
    assert all(r.ok and r.latency_s >= 0 and r.cost_usd == 0.0 for r in responses)


def test_aborted_request_is_an_error_response(fake_vllm):
    ok, aborted = VLLMBackend("m").complete_batch([_req("fine", id="a"), _req("abort me", id="b")])
    assert ok.ok
    assert not aborted.ok and aborted.error_kind == "server"
    assert "'b'" in aborted.error and aborted.finish_reason == "abort"


def test_missing_vllm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(CaravanError, match=r"pip install 'caravan-posttrain\[vllm\]'") as info:
        VLLMBackend("org/model").complete_batch([_req("hi")])
    assert not isinstance(info.value, PermanentError)
    assert "GPU" in str(info.value)


def test_load_failure_names_the_model(fake_vllm):
    FakeLLM.fail_init = RuntimeError("No CUDA GPUs are available")
    with pytest.raises(PermanentError, match="org/broken.*No CUDA GPUs") as info:
        VLLMBackend("org/broken").complete_batch([_req("hi")])
    assert info.value.kind == "model_load"


def test_bad_requests_fail_before_any_generation(fake_vllm):
    backend = VLLMBackend("m")
    with pytest.raises(PermanentError, match="row-9"):
        backend.complete_batch([_req("ok"), Request(messages=[], model="m", id="row-9")])
    with pytest.raises(PermanentError, match="p-2.*temperature"):
        backend.complete_batch([_req("ok"), _req("bad", id="p-2", temperature="hot")])
    assert FakeLLM.instances == [] or FakeLLM.instances[0].calls == []


def test_vllm_validation_errors_name_the_requests(fake_vllm):
    FakeLLM.reject = ValueError("The decoder prompt (length 9000) is longer than the maximum")
    with pytest.raises(PermanentError, match="'q-1'.*'q-2'.*longer than the maximum"):
        VLLMBackend("m").complete_batch([_req("a", id="q-1"), _req("b", id="q-2")])


def test_async_complete(fake_vllm):
    response = asyncio.run(VLLMBackend("m").complete(_req("hello", id="z")))
    assert response.text == "echo hello" and response.request_id == "z"


def test_empty_batch_does_not_start_the_engine(fake_vllm):
    assert VLLMBackend("m").complete_batch([]) == []
    assert FakeLLM.instances == []


def test_llm_is_never_entered_from_two_threads_at_once(fake_vllm, monkeypatch):
    import threading
    import time

    inside, overlaps = [0], []
    real_chat = FakeLLM.chat

    def slow_chat(self, *args, **kwargs):
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.05)
        try:
            return real_chat(self, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(FakeLLM, "chat", slow_chat)
    backend = VLLMBackend("org/model")
    backend.load()
    threads = [
        threading.Thread(target=backend.complete_batch, args=([_req(f"q{i}")],)) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(overlaps) == 4 and max(overlaps) == 1


def test_engine_hands_vllm_whole_batches_of_concurrency(fake_vllm):
    from caravan.llm.engine import Engine, EngineConfig

    backend = VLLMBackend("org/model")
    out = Engine(backend, config=EngineConfig(concurrency=5, progress=False)).run(
        [_req(f"q{i}", id=str(i)) for i in range(12)]
    )
    assert all(r.ok for r in out)
    assert [len(c["messages"]) for c in FakeLLM.instances[0].calls] == [5, 5, 2]
