"""Failing runs fail, and a spending cap holds: `synth complete` against the double."""

from __future__ import annotations

import json
import socket
import time

import pyarrow.parquet as pq
import pytest
from caravan.llm.guard import RunGuard
from caravan.synth.cli import cli


def _prompts(path, n):
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "messages": [{"role": "user", "content": f"Say {i}"}]})
            + "\n"
            for i in range(n)
        )
    )
    return path


def _run(args):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    return info.value.code


def _complete(tmp_path, base_url, *extra, n=6, out="o.parquet"):
    src = _prompts(tmp_path / "p.jsonl", n)
    return _run([
        "complete", "--input", str(src), "--output", str(tmp_path / out), "--model", "gpt-4o",
        "--base-url", base_url, "--cache", str(tmp_path / "c.sqlite"), "--no-progress", *extra,
    ])  # fmt: skip


def _error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def test_rejected_key_stops_at_once_with_one_line(double, tmp_path, capsys):
    double.fault_rate, double.fault_kinds = 1.0, ("401",)
    code = _complete(tmp_path, double.base_url + "/v1", "--concurrency", "1", n=20)
    assert code == 1
    (line,) = _error_lines(capsys)
    assert f"{double.base_url}/v1 rejected the credentials" in line
    assert len(double.generation_requests()) == 1  # not 20 calls, not retried
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()  # written, errors named
    assert rows[0]["error_kind"] == "auth" and rows[5]["error_kind"] == "not_sent"


def test_every_request_failing_exits_non_zero(double, tmp_path, capsys):
    double.fault_rate, double.fault_kinds = 1.0, ("500",)
    code = _complete(tmp_path, double.base_url + "/v1", "--max-retries", "1", n=3)
    assert code == 1
    (line,) = _error_lines(capsys)
    assert "all 3 requests failed" in line and "server" in line


def test_nothing_listening_fails_fast_naming_the_url(tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.monotonic()
    code = _complete(tmp_path, url, n=10)
    assert time.monotonic() - started < 30
    assert code == 1
    (line,) = _error_lines(capsys)
    assert f"cannot connect to {url}" in line


def test_max_cost_sends_nothing_past_the_cap_then_resumes(double, tmp_path, capsys):
    # gpt-4o with max_tokens 100: a call costs at most about $0.00105.
    args = ("--max-tokens", "100", "--concurrency", "4")
    code = _complete(tmp_path, double.base_url + "/v1", *args, "--max-cost", "0.0015")
    assert code == 1
    (line,) = _error_lines(capsys)
    assert "--max-cost $0.0015 reached" in line and "1 of 6 rows answered" in line
    assert len(double.generation_requests()) == 1
    rows = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert sum(r["error"] is None for r in rows) == 1
    assert {r["error_kind"] for r in rows if r["error"]} == {"budget"}
    # The next run, with room to spend, resumes: the paid answer comes from the cache.
    assert _complete(tmp_path, double.base_url + "/v1", *args, "--max-cost", "1") == 0
    assert len(double.generation_requests()) == 6
    assert sum(r["cached"] for r in pq.read_table(tmp_path / "o.parquet").to_pylist()) == 1


def test_max_cost_counts_calls_in_flight_at_their_worst():
    guard = RunGuard(max_cost=1.0)
    assert guard.reserve(0.4) and guard.reserve(0.4)
    assert not guard.reserve(0.4)  # 0.8 in flight + 0.4 would pass the cap
    assert guard.stopped and "--max-cost $1 reached" in guard.stop_reason
    guard.settle(0.4, 0.01)
    assert not guard.reserve(0.01)  # stopped stays stopped: no new request is sent


def test_max_cost_needs_a_known_price(double, tmp_path, capsys):
    src = _prompts(tmp_path / "p.jsonl", 2)
    code = _run([
        "complete", "--input", str(src), "--output", str(tmp_path / "o.parquet"),
        "--model", "my-finetune", "--base-url", double.base_url + "/v1", "--max-cost", "1",
        "--cache", str(tmp_path / "c.sqlite"), "--no-progress",
    ])  # fmt: skip
    assert code == 1
    assert "no known price" in capsys.readouterr().err
    assert double.generation_requests() == []


class _Fake:
    """An API backend whose replies are scripted per prompt."""

    name = "openai"
    base_url = "http://fake.example/v1"

    def __init__(self, fail: set[str]) -> None:
        self.fail = fail
        self.calls = 0

    async def complete(self, request):
        from caravan.llm.types import PermanentError, Response

        self.calls += 1
        text = request.messages[-1]["content"]
        if text in self.fail:
            raise PermanentError(
                f"request {request.id}: Error code: 404 - no such model", "not_found"
            )
        return Response(request.id, text="ok")


def _requests(n):
    from caravan.llm.types import Request

    return [Request([{"role": "user", "content": f"q{i}"}], "m", id=str(i)) for i in range(n)]


def test_one_not_found_after_successes_does_not_stop_the_run():
    from caravan.llm.engine import Engine, EngineConfig

    backend = _Fake(fail={"q3"})
    guard = RunGuard()
    out = Engine(backend, config=EngineConfig(concurrency=1, progress=False), guard=guard).run(
        _requests(8)
    )
    assert [r.ok for r in out] == [True] * 3 + [False] + [True] * 4
    assert not guard.stopped and backend.calls == 8


def test_not_found_before_any_success_stops_the_run_naming_the_endpoint():
    from caravan.llm.engine import Engine, EngineConfig

    backend = _Fake(fail={f"q{i}" for i in range(8)})
    guard = RunGuard()
    out = Engine(backend, config=EngineConfig(concurrency=1, progress=False), guard=guard).run(
        _requests(8)
    )
    assert backend.calls == 1 and all(not r.ok for r in out)
    assert guard.stop_reason.startswith("http://fake.example/v1 does not know this model")
