"""The engine: order, retries, Retry-After, timeouts, failures recorded, batching backends."""

from __future__ import annotations

import asyncio

import pytest
from caravan.llm.backends.openai_api import OpenAIBackend
from caravan.llm.cache import ResponseCache
from caravan.llm.engine import Engine, EngineConfig
from caravan.llm.types import PermanentError, Request, Response, TransientError, Usage


def reqs(n: int, model: str = "gpt-4o-mini", **kw) -> list[Request]:
    return [
        Request([{"role": "user", "content": f"q{i}"}], model, id=f"id{i}", **kw) for i in range(n)
    ]


def run(double, requests, cache=None, sleeps=None, **cfg):
    cfg.setdefault("progress", False)
    cfg.setdefault("backoff_base_s", 0.001)

    async def go():
        backend = OpenAIBackend(base_url=double.base_url + "/v1", timeout=cfg.get("timeout_s", 10))
        engine = Engine(backend, cache=cache, config=EngineConfig(**cfg))
        if sleeps is not None:

            async def record(delay):
                sleeps.append(delay)

            engine._sleep = record
        try:
            return await engine.arun(requests), engine.stats
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_results_in_input_order_with_ids_and_cost(double):
    out, stats = run(double, reqs(40), concurrency=7)
    assert [r.request_id for r in out] == [f"id{i}" for i in range(40)]
    assert all(r.text.endswith(f"q{i}") for i, r in enumerate(out))
    assert stats.ok == 40 and stats.failed == 0
    assert out[0].cost_usd > 0 and stats.cost_usd == pytest.approx(sum(r.cost_usd for r in out))


def test_duplicate_requests_are_sent_once(double):
    same = [Request([{"role": "user", "content": "same"}], "m", id=str(i)) for i in range(5)]
    out, _ = run(double, same)
    assert len(double.generation_requests()) == 1
    assert [r.request_id for r in out] == ["0", "1", "2", "3", "4"]
    assert len({r.text for r in out}) == 1


def test_transient_faults_are_retried_and_counted(double):
    for fault in ("429", "500", "drop", "malformed"):
        double.fail_next(fault)
    out, stats = run(double, reqs(1))
    assert out[0].ok and out[0].attempts == 5
    assert dict(stats.retries) == {"rate_limit": 1, "server": 1, "connection": 1, "malformed": 1}


def test_retry_after_is_honoured(double):
    double.fail_next("429", retry_after=7)
    sleeps: list[float] = []
    out, _ = run(double, reqs(1), sleeps=sleeps)
    assert out[0].ok and sleeps and sleeps[0] >= 7


def test_backoff_grows_exponentially_with_jitter(double):
    double.fail_next("500", times=4)
    sleeps: list[float] = []
    run(double, reqs(1), sleeps=sleeps, backoff_base_s=1.0)
    assert len(sleeps) == 4
    for n, delay in enumerate(sleeps):
        assert 2**n * 0.5 <= delay <= 2**n


def test_slow_reply_times_out_and_is_retried(double):
    double.slow_s = 3
    double.fail_next("slow")
    out, stats = run(double, reqs(1), timeout_s=0.3)
    assert out[0].ok and stats.retries["timeout"] == 1


def test_exhausted_retries_recorded_without_crashing_the_run(double, tmp_path):
    double.fail_prompt("q2", "500")
    cache = ResponseCache(tmp_path / "c.sqlite")
    out, stats = run(double, reqs(4), cache=cache, max_retries=2)
    assert [r.ok for r in out] == [True, True, False, True]
    bad = out[2]
    assert bad.error_kind == "server" and bad.attempts == 3 and "id2" in bad.error
    assert stats.failed == 1 and stats.failures["server"] == 1
    assert cache.failures()[0]["request_id"] == "id2"
    # A re-run serves the three good ones from the cache and tries the failed one again.
    before = len(double.generation_requests())
    out2, stats2 = run(double, reqs(4), cache=cache, max_retries=0)
    assert stats2.cached == 3 and len(double.generation_requests()) == before + 1


def test_cached_rerun_sends_nothing(double, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    first, _ = run(double, reqs(20), cache=cache)
    sent = len(double.generation_requests())
    second, stats = run(double, reqs(20), cache=cache)
    assert len(double.generation_requests()) == sent
    assert stats.cached == 20 and all(r.cached for r in second)
    assert [r.text for r in second] == [r.text for r in first]
    assert [r.usage for r in second] == [r.usage for r in first]


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_structured_reply_is_parsed(double):
    out, _ = run(double, reqs(3, schema=SCHEMA))
    assert all(isinstance(r.parsed["n"], int) for r in out)


def test_bad_json_is_retried_then_recorded_as_parse_failure(double, tmp_path):
    double.fail_next("bad_json")  # one bad reply: the retry parses
    double.fail_prompt("q1", "bad_json")  # always bad
    cache = ResponseCache(tmp_path / "c.sqlite")
    out, stats = run(double, reqs(2, schema=SCHEMA), cache=cache, parse_retries=2, concurrency=1)
    assert out[0].ok and out[0].attempts == 2
    bad = out[1]
    assert bad.error_kind == "parse_failure" and bad.parsed is None
    assert bad.text == "Sure! {not json" and bad.attempts == 3
    assert stats.retries["parse_failure"] == 3 and stats.failures["parse_failure"] == 1
    assert stats.models["gpt-4o-mini"].requests == 5  # every paid reply is counted
    assert cache.failures()[0]["raw_text"] == "Sure! {not json"


class _Raising:
    name = "raising"

    async def complete(self, request: Request) -> Response:
        if request.id == "id1":
            raise PermanentError(f"request {request.id}: bad key sk-test-openai-key-000000000000")
        if request.id == "id2":
            raise ValueError("bug in a backend")
        return Response(request.id, text="fine", usage=Usage(1, 1))


def test_permanent_and_unexpected_errors_are_recorded_and_secrets_redacted(tmp_path):
    cache_path = tmp_path / "c.sqlite"
    engine = Engine(_Raising(), cache=cache_path, config=EngineConfig(progress=False))
    out = engine.run(reqs(3, model="x"))
    assert [r.error_kind for r in out] == [None, "request", "client"]
    assert "sk-test-openai-key" not in out[1].error and "***" in out[1].error
    assert "bug in a backend" in out[2].error
    engine.cache.close()
    for f in tmp_path.iterdir():
        assert b"sk-test-openai-key" not in f.read_bytes()


class FakeBatcher:
    """An in-process backend: whole batches, synchronous, like local/vLLM."""

    name = "fake-local"

    def __init__(self, max_batch_size: int = 3, flaky: int = 0) -> None:
        self.max_batch_size = max_batch_size
        self.batches: list[list[str]] = []
        self.flaky = flaky

    def complete_batch(self, requests: list[Request]) -> list[Response]:
        if self.flaky:
            self.flaky -= 1
            raise TransientError("device busy", "backend_busy")
        self.batches.append([r.id for r in requests])
        return [
            Response(
                r.id,
                text='{"n": 1}' if r.schema else "gen " + r.messages[-1]["content"],
                usage=Usage(2, 3),
            )
            for r in requests
        ]


def test_batching_backend_groups_requests_and_caches(tmp_path):
    backend = FakeBatcher(max_batch_size=3, flaky=1)
    cfg = EngineConfig(progress=False, backoff_base_s=0.001)
    engine = Engine(backend, cache=tmp_path / "c.sqlite", config=cfg)
    out = engine.run(reqs(7, model="tiny"))
    assert [len(b) for b in backend.batches] == [3, 3, 1]
    assert [r.text for r in out] == [f"gen q{i}" for i in range(7)]
    assert engine.stats.retries["backend_busy"] == 3 and engine.stats.ok == 7
    assert all(r.cost_usd == 0.0 for r in out)
    again = Engine(backend, cache=tmp_path / "c.sqlite", config=cfg).run(reqs(7, model="tiny"))
    assert len(backend.batches) == 3 and all(r.cached for r in again)


def test_batching_backend_parses_schema(tmp_path):
    engine = Engine(FakeBatcher(), config=EngineConfig(progress=False))
    out = engine.run(reqs(2, model="tiny", schema=SCHEMA))
    assert [r.parsed for r in out] == [{"n": 1}, {"n": 1}]


def test_batching_backend_crash_is_recorded():
    class Broken(FakeBatcher):
        def complete_batch(self, requests):
            raise RuntimeError("CUDA out of memory")

    out = Engine(Broken(), config=EngineConfig(progress=False)).run(reqs(2, model="tiny"))
    assert all(r.error_kind == "backend" and "out of memory" in r.error for r in out)


def test_one_bad_request_does_not_fail_its_batch_mates():
    class Picky(FakeBatcher):
        def complete_batch(self, requests):
            bad = [r.id for r in requests if r.messages[-1]["content"] == "q2"]
            if bad:
                raise PermanentError(f"request {bad[0]}: prompt too long", "context_length")
            return super().complete_batch(requests)

    backend = Picky(max_batch_size=4)
    out = Engine(backend, config=EngineConfig(progress=False)).run(reqs(6, model="tiny"))
    assert [r.ok for r in out] == [True, True, False, True, True, True]
    assert out[2].error_kind == "context_length" and "prompt too long" in out[2].error
    assert [r.text for i, r in enumerate(out) if i != 2] == [f"gen q{i}" for i in (0, 1, 3, 4, 5)]
    # The failed batch of 4 is retried one by one; the rest are batched again.
    assert [len(b) for b in backend.batches] == [1, 1, 1, 2]
