"""The Anthropic backend through the real SDK, over HTTP, against the loopback double."""

from __future__ import annotations

import asyncio
import json

import pytest
from caravan.llm.backends.anthropic_api import AnthropicBackend, messages_body
from caravan.llm.types import Request, TransientError

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}, "required": ["label"]}


def _call(double, request: Request):
    async def go():
        backend = AnthropicBackend(base_url=double.base_url, timeout=5)
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_text_reply_with_system_prompt_moved_out_of_messages(double):
    req = Request(
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi there"}],
        "claude-haiku-4-5",
        {"max_tokens": 50, "stop": "END", "seed": 3},
        id="a1",
    )
    resp = _call(double, req)
    sent = double.generation_requests()[-1].body
    assert sent["system"] == "Be terse."
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert sent["max_tokens"] == 50 and sent["stop_sequences"] == ["END"]
    assert "seed" not in sent
    assert resp.ok and resp.request_id == "a1" and resp.text.endswith("Hi there")
    assert resp.finish_reason == "end_turn"
    assert resp.usage.prompt_tokens == 2


def test_object_schema_is_a_forced_tool_call_returned_as_json_text(double):
    resp = _call(double, Request([{"role": "user", "content": "pick"}], "claude", schema=SCHEMA))
    sent = double.generation_requests()[-1].body
    assert sent["tool_choice"] == {"type": "tool", "name": "reply"}
    assert sent["tools"][0]["input_schema"] == SCHEMA
    assert json.loads(resp.text)["label"] in ("a", "b")


def test_non_object_schema_becomes_an_instruction():
    body = messages_body(Request([{"role": "user", "content": "x"}], "c", schema={"type": "array"}))
    assert "tools" not in body and "JSON schema" in body["system"]
    assert body["max_tokens"] > 0


@pytest.mark.parametrize(
    ("fault", "kind"), [("429", "rate_limit"), ("500", "server"), ("drop", "connection")]
)
def test_faults_become_transient_errors(double, fault, kind):
    double.fail_next(fault, retry_after=2)
    with pytest.raises(TransientError) as info:
        _call(double, Request([{"role": "user", "content": "x"}], "claude"))
    assert info.value.kind == kind
    if fault == "429":
        assert info.value.retry_after == 2


def test_sampling_params_the_sdk_cannot_take_are_left_out_not_fatal(double, caplog):
    from caravan.llm.backends.anthropic_api import unsupported_params

    req = Request(
        [{"role": "user", "content": "Hi"}],
        "claude-haiku-4-5",
        {"temperature": 0.1, "top_p": 0.9, "max_tokens": 20},
        id="t1",
    )
    resp = _call(double, req)
    assert resp.ok, resp.error
    sent = double.generation_requests()[-1].body
    assert sent["max_tokens"] == 20
    for name in unsupported_params(req.params):
        assert name not in sent
