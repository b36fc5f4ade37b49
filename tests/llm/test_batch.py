"""Batch APIs against the double's files/batches and message-batches endpoints."""

from __future__ import annotations

import asyncio

import pytest
from caravan.llm.backends.anthropic_api import AnthropicBackend
from caravan.llm.backends.openai_api import OpenAIBackend
from caravan.llm.batch import run_batch, split_batches
from caravan.llm.cache import ResponseCache
from caravan.llm.engine import EngineConfig
from caravan.llm.pricing import PriceTable
from caravan.llm.types import Request

SCHEMA = {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}


def reqs(n, model, **kw):
    return [
        Request([{"role": "user", "content": f"q{i}"}], model, id=f"r{i}", **kw) for i in range(n)
    ]


def backend_for(provider, double):
    if provider == "openai":
        return OpenAIBackend(base_url=double.base_url + "/v1", timeout=10)
    return AnthropicBackend(base_url=double.base_url, timeout=10)


MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def go(provider, double, requests, cache, max_wait_s=None, max_requests=None):
    async def inner():
        backend = backend_for(provider, double)
        from caravan.llm import batch as batch_mod

        api_cls = batch_mod.OpenAIBatches if provider == "openai" else batch_mod.AnthropicBatches
        if max_requests:
            api_cls.max_requests, saved = max_requests, api_cls.max_requests
        try:
            return await run_batch(
                backend, requests, cache, EngineConfig(progress=False), PriceTable(),
                poll_s=0.01, max_wait_s=max_wait_s,
            )  # fmt: skip
        finally:
            if max_requests:
                api_cls.max_requests = saved
            await backend.aclose()

    return asyncio.run(inner())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_batch_answers_in_order_at_half_price(provider, double, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    out = go(provider, double, reqs(5, MODEL[provider]), cache, max_requests=2)
    assert [r.request_id for r in out] == [f"r{i}" for i in range(5)]
    assert all(r.ok and r.text.endswith(f"q{i}") for i, r in enumerate(out))
    price = PriceTable().price(MODEL[provider])
    u = out[0].usage
    assert out[0].cost_usd == pytest.approx(
        (u.prompt_tokens * price.input + u.completion_tokens * price.output) / 2e6
    )
    batches = double.batches if provider == "openai" else double.anthropic_batches
    assert len(batches) == 3  # split at 2 requests per batch
    again = go(provider, double, reqs(5, MODEL[provider]), cache)
    assert all(r.cached for r in again) and len(batches) == 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_restart_collects_submitted_batch_instead_of_paying_twice(provider, double, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    double.batch_polls = 10**6  # never finishes during the first run
    first = go(provider, double, reqs(3, MODEL[provider]), cache, max_wait_s=0.05)
    assert all(r.error_kind == "batch_pending" for r in first)
    batches = double.batches if provider == "openai" else double.anthropic_batches
    assert len(batches) == 1
    double.batch_polls = 0
    second = go(provider, double, reqs(3, MODEL[provider]), cache)
    assert all(r.ok for r in second)
    assert len(batches) == 1  # the same batch was collected, nothing resubmitted


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_failed_and_expired_items_resubmitted_then_reported(provider, double, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    double.batch_item_faults = {"q1": "expired", "q2": "error"}
    out = go(provider, double, reqs(3, MODEL[provider]), cache)
    assert out[0].ok
    assert out[1].error_kind == "batch_expired" and out[2].error_kind == "batch_error"
    assert "r1" in out[1].error
    batches = double.batches if provider == "openai" else double.anthropic_batches
    assert len(batches) == 4  # the first, then three resubmissions of the two failures
    assert {f["request_id"] for f in cache.failures()} == {"r1", "r2"}


def test_transient_expiry_is_resubmitted_and_succeeds(double, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    double.batch_status_override = "expired"

    orig = double._finish_openai_batch

    def finish_then_recover(batch):
        orig(batch)
        double.batch_status_override = None

    double._finish_openai_batch = finish_then_recover
    out = go("openai", double, reqs(2, "gpt-4o-mini"), cache)
    assert all(r.ok for r in out) and len(double.batches) == 2


def test_batch_structured_output_is_validated(double, tmp_path):
    out = go(
        "openai",
        double,
        reqs(2, "gpt-4o-mini", schema=SCHEMA),
        ResponseCache(tmp_path / "c.sqlite"),
    )
    assert all(isinstance(r.parsed["k"], str) for r in out)


def test_split_respects_count_and_size():
    lines = [(str(i), b"x" * 10) for i in range(7)]
    assert [len(c) for c in split_batches(lines, 3, 1000)] == [3, 3, 1]
    assert [len(c) for c in split_batches(lines, 100, 25)] == [2, 2, 2, 1]


class Died(BaseException):
    """Stands in for SIGKILL between the provider accepting a batch and the journal update."""


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_run_killed_between_create_and_journal(provider, double, tmp_path, monkeypatch):
    cache = ResponseCache(tmp_path / "c.sqlite")
    real_confirm = cache.confirm_batch

    def die(*args):
        raise Died

    monkeypatch.setattr(cache, "confirm_batch", die)
    with pytest.raises(Died):
        go(provider, double, reqs(3, MODEL[provider]), cache)
    monkeypatch.setattr(cache, "confirm_batch", real_confirm)
    out = go(provider, double, reqs(3, MODEL[provider]), cache)
    assert all(r.ok for r in out)
    batches = double.batches if provider == "openai" else double.anthropic_batches
    # The orphan is found (OpenAI: our token in its metadata; Anthropic: same size, created
    # since the journaled intent, custom_ids checked) and collected, not paid for again.
    assert len(batches) == 1


def test_lost_submit_reply_does_not_create_a_second_batch(double, tmp_path, monkeypatch):
    from caravan.llm import batch as batch_mod

    real_submit = batch_mod.OpenAIBatches.submit
    calls = []

    async def submit_then_drop(self, lines, token):
        calls.append(token)
        await real_submit(self, lines, token)
        if len(calls) == 1:
            import httpx2
            import openai

            raise openai.APIConnectionError(request=httpx2.Request("POST", "http://x"))
        raise AssertionError("submitted twice")

    monkeypatch.setattr(batch_mod.OpenAIBatches, "submit", submit_then_drop)
    out = go("openai", double, reqs(2, "gpt-4o-mini"), ResponseCache(tmp_path / "c.sqlite"))
    assert all(r.ok for r in out) and len(double.batches) == 1 and len(calls) == 1


def _synth_process(args):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    code = "import sys; from caravan.synth.cli import cli; cli(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_killed_while_waiting_for_create_reply_restart_pays_once(provider, double, tmp_path):
    """SIGKILL while the create call hangs (the provider has the batch, we have no id):
    the restart finds that batch and collects it; exactly one batch is ever created."""
    import json
    import signal
    import time

    import pyarrow.parquet as pq

    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": f"q{i}"}) + "\n" for i in range(5)))
    base_url = double.base_url + ("/v1" if provider == "openai" else "")
    args = [
        "complete", "--input", str(src), "--text-field", "text", "--model", MODEL[provider],
        "--provider", provider, "--base-url", base_url, "--batch", "--poll-interval", "0.01",
        "--cache", str(tmp_path / "c.sqlite"), "--output", str(tmp_path / "o.parquet"),
        "--no-progress",
    ]  # fmt: skip
    batches = double.batches if provider == "openai" else double.anthropic_batches
    double.hang_on_create = True
    proc = _synth_process(args)
    deadline = time.time() + 60
    while not batches and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert len(batches) == 1, proc.stderr.read().decode() if proc.poll() is not None else ""
    time.sleep(0.2)  # the client is now waiting for the create reply
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    double.hang_on_create = False
    restart = _synth_process(args)
    assert restart.wait(120) == 0, restart.stderr.read().decode()
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert all(r["error"] is None and r["response"].endswith(f"q{i}") for i, r in enumerate(rows))
    assert len(batches) == 1


def test_max_cost_limits_what_is_submitted(double, tmp_path):
    from caravan.llm import batch as batch_mod
    from caravan.llm.guard import RunGuard

    requests = reqs(5, "gpt-4o-mini", params={"max_tokens": 100})
    one = batch_mod.worst_case_cost(PriceTable(), requests[0], "openai", batch=True)
    guard = RunGuard(max_cost=4.5 * one)  # two batches of two fit, the third does not

    async def inner():
        backend = backend_for("openai", double)
        saved, batch_mod.OpenAIBatches.max_requests = batch_mod.OpenAIBatches.max_requests, 2
        try:
            return await run_batch(
                backend, requests, ResponseCache(tmp_path / "c.sqlite"),
                EngineConfig(progress=False), PriceTable(), poll_s=0.01, guard=guard,
            )  # fmt: skip
        finally:
            batch_mod.OpenAIBatches.max_requests = saved
            await backend.aclose()

    out = asyncio.run(inner())
    assert len(double.batches) == 2
    assert [r.ok for r in out] == [True, True, True, True, False]
    assert out[4].error_kind == "budget" and guard.stopped
    assert guard.spent <= guard.max_cost
