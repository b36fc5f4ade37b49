"""The OpenAI backend through the real SDK, over HTTP, against the loopback double."""

from __future__ import annotations

import asyncio

import pytest
from caravan.llm.backends.openai_api import OpenAIBackend, chat_body
from caravan.llm.types import PermanentError, Request, TransientError

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def _call(double, request: Request, timeout: float = 5.0):
    async def go():
        backend = OpenAIBackend(base_url=double.base_url + "/v1", timeout=timeout)
        try:
            return await backend.complete(request)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_reply_text_usage_and_finish_reason(double):
    req = Request([{"role": "user", "content": "What is 2+2?"}], "gpt-4o-mini", id="r1")
    resp = _call(double, req)
    assert resp.ok and resp.request_id == "r1"
    assert resp.text.endswith("What is 2+2?")
    assert resp.finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0


def test_schema_goes_out_as_json_schema_response_format(double):
    req = Request([{"role": "user", "content": "n?"}], "gpt-4o-mini", {"temperature": 0}, SCHEMA)
    resp = _call(double, req)
    sent = double.generation_requests()[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert sent["temperature"] == 0
    assert '"answer"' in resp.text


def test_unknown_params_travel_in_extra_body():
    body = chat_body(Request([{"role": "user", "content": "x"}], "m", {"top_k": 5, "seed": 1}))
    assert body["seed"] == 1 and body["extra_body"] == {"top_k": 5}


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("429", "rate_limit"), ("500", "server"), ("drop", "connection"), ("malformed", "malformed")],
)
def test_faults_become_transient_errors(double, fault, kind):
    double.fail_next(fault, retry_after=1.5)
    with pytest.raises(TransientError) as info:
        _call(double, Request([{"role": "user", "content": "x"}], "m", id="r9"))
    assert info.value.kind == kind
    assert "r9" in str(info.value)
    if fault == "429":
        assert info.value.retry_after == pytest.approx(1.5)


def test_slow_reply_past_timeout_is_a_timeout(double):
    double.slow_s = 3
    double.fail_next("slow")
    with pytest.raises(TransientError) as info:
        _call(double, Request([{"role": "user", "content": "x"}], "m"), timeout=0.3)
    assert info.value.kind == "timeout"


def test_unknown_endpoint_is_permanent(double):
    async def go():
        backend = OpenAIBackend(base_url=double.base_url + "/nope")
        try:
            return await backend.complete(Request([{"role": "user", "content": "x"}], "m"))
        finally:
            await backend.aclose()

    with pytest.raises(PermanentError) as info:
        asyncio.run(go())
    assert info.value.kind == "not_found"


def test_sdk_retries_are_off(double):
    double.fail_next("500")
    with pytest.raises(TransientError):
        _call(double, Request([{"role": "user", "content": "x"}], "m"))
    assert len(double.generation_requests()) == 1
