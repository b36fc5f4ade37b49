"""The LLM session: one backend/cache/settings for its lifetime, sync in and out of a loop."""

from __future__ import annotations

import asyncio

import click
import pytest
from click.testing import CliRunner

from caravan.options import dataclass_options, pop_dataclass
from caravan.session import LLM, LLMSettings


def _session(double, tmp_path, **kw):
    return LLM("gpt-4o", base_url=double.base_url + "/v1", cache=tmp_path / "c.sqlite", **kw)


def test_complete_outside_a_loop_and_the_cache_is_kept(double, llm_env, tmp_path):
    llm = _session(double, tmp_path, temperature=0.3, concurrency=4)
    assert llm.settings.concurrency == 4 and llm.params == {"temperature": 0.3}
    out = llm.complete(["Name a prime.", "Name a colour."], progress=False)
    assert [r.ok for r in out] == [True, True]
    assert llm.calls == 2
    body = double.generation_requests()[0].body
    assert body["temperature"] == 0.3
    again = llm.complete(["Name a prime."], progress=False)
    assert again[0].cached and len(double.generation_requests()) == 2
    assert llm._cache is not None  # one cache for the session's lifetime
    llm.close()


def test_complete_inside_a_running_loop(double, llm_env, tmp_path):
    llm = _session(double, tmp_path)

    async def main():
        sync = llm.complete(["Hello from a notebook cell."], progress=False)
        awaited = await llm.acomplete(["Hello from a coroutine."], progress=False)
        return sync, awaited

    sync, awaited = asyncio.run(main())
    assert sync[0].ok and awaited[0].ok
    sent = [e.body["messages"][-1]["content"] for e in double.generation_requests()]
    assert sorted(sent) == ["Hello from a coroutine.", "Hello from a notebook cell."]


def test_estimate_sends_nothing(double, llm_env, tmp_path):
    llm = _session(double, tmp_path, max_tokens=100)
    est = llm.estimate(["Name a prime."] * 3)
    assert est.requests == 3 and est.to_send == 1  # duplicates share one call
    assert est.max_output_tokens == 100 and est.cost_usd > 0
    assert double.generation_requests() == []


def test_describe_keeps_secrets_out():
    llm = LLM("m", base_url="https://user:sk-secret@example.com/v1?key=abc", cache=False)
    text = str(llm.describe())
    assert "sk-secret" not in text and "abc" not in text and "example.com" in text


def test_unknown_provider_is_an_error():
    from caravan.errors import CaravanError

    with pytest.raises(CaravanError, match="unknown provider"):
        LLM("m", provider="nope", cache=False)


def test_settings_generate_cli_options():
    @click.command()
    @dataclass_options(LLMSettings, prefix="llm-")
    def cmd(**opts):
        settings = pop_dataclass(LLMSettings, opts, prefix="llm-")
        click.echo(f"{settings.concurrency} {settings.rpm} {settings.batch}")

    help_text = CliRunner().invoke(cmd, ["--help"]).output
    assert "--llm-concurrency" in help_text and "Requests in flight at once." in help_text
    assert "--llm-batch / --no-llm-batch" in help_text
    out = CliRunner().invoke(cmd, ["--llm-concurrency", "3", "--llm-rpm", "60", "--llm-batch"])
    assert out.output.strip() == "3 60.0 True"
