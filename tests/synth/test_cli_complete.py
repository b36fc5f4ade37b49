"""`synth complete --executor ray` writes what the local run writes, its sharded cache serves
a rerun with fewer workers, and a run killed mid-way resumes without paying twice. One
local Ray (2 CPUs) serves the module; the calls go to the loopback API double."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from caravan.synth.cli import cli
from caravan.synth.stages import Complete

from tests.caravan.test_ray_executor import ray_local  # noqa: F401  (the module's Ray)
from tests.fixtures.llm_env import use_fake_llm_env
from tests.llm import api_double


@pytest.fixture
def double():
    server = api_double.ApiDouble().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fake_keys(monkeypatch, tmp_path):
    use_fake_llm_env(monkeypatch, tmp_path)


def _prompts(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"qid": f"q{i:03d}", "text": f"Name a prime above {i}."})
                            + "\n" for i in range(n)))  # fmt: skip
    return path


def _args(src: Path, out: Path, cache: Path, double, *extra: str) -> list[str]:
    return ["complete", "--input", str(src), "--output", str(out), "--text-field", "text",
            "--id-field", "qid", "--model", "gpt-4o-mini", "--base-url",
            double.base_url + "/v1", "--cache", str(cache), "--max-tokens", "50",
            "--no-progress", *extra]  # fmt: skip


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    return info.value.code


def _rows(path: Path) -> list[dict]:
    return [
        {k: v for k, v in r.items() if k != "latency_s"} for r in pq.read_table(path).to_pylist()
    ]


def test_ray_writes_what_local_writes_and_two_workers_cache_serves_one(
    ray_local,  # noqa: F811
    double,
    tmp_path,
    monkeypatch,
):
    monkeypatch.setattr(Complete, "batch_size", 4)  # 4 batches: both workers get some
    src = _prompts(tmp_path / "p.jsonl", 16)
    assert _run(_args(src, tmp_path / "local.parquet", tmp_path / "local.sqlite", double)) == 0
    cache = tmp_path / "ray" / "c.sqlite"
    ray_args = ("--executor", "ray", "--ray-workers", "2")
    assert _run(_args(src, tmp_path / "ray.parquet", cache, double, *ray_args)) == 0
    local, on_ray = _rows(tmp_path / "local.parquet"), _rows(tmp_path / "ray.parquet")
    assert on_ray == local
    assert [r["qid"] for r in on_ray] == [f"q{i:03d}" for i in range(16)]
    assert "id" not in on_ray[0] and all(r["response"] and r["error"] is None for r in on_ray)
    assert len(double.generation_requests()) == 32
    assert len(list((cache.parent / "c.sqlite.shards").glob("*.sqlite"))) == 2
    # one worker finds every answer in the two workers' shards: nothing is sent
    again = tmp_path / "again.parquet"
    assert _run(_args(src, again, cache, double, "--executor", "ray", "--ray-workers", "1")) == 0
    assert len(double.generation_requests()) == 32
    rows = _rows(again)
    assert all(r["cached"] for r in rows)
    assert [r["response"] for r in rows] == [r["response"] for r in local]


def _answered(cache: Path) -> set[str]:
    """Cache keys stored so far, in the file and in every worker's shard."""
    keys: set[str] = set()
    for f in [cache, *sorted(cache.parent.glob(f"{cache.name}.shards/*.sqlite"))]:
        if not f.exists():
            continue
        try:
            with sqlite3.connect(f"file:{f}?mode=ro", uri=True, timeout=5) as db:
                keys |= {k for (k,) in db.execute("SELECT key FROM responses")}
        except sqlite3.OperationalError:  # tables not created yet
            pass
    return keys


def test_ray_run_killed_midway_resumes_without_paying_twice(
    ray_local,  # noqa: F811
    double,
    tmp_path,
):
    n = 90
    double.latency = 0.05
    src = _prompts(tmp_path / "p.jsonl", n)
    cache, out = tmp_path / "c.sqlite", tmp_path / "o.parquet"
    address = ray_local.get_runtime_context().gcs_address
    args = _args(src, out, cache, double, "--executor", "ray", "--ray-address", address,
                 "--concurrency", "3")  # fmt: skip
    code = "import sys; from caravan.synth.cli import cli; cli(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 120
    while len(_answered(cache)) < n // 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = _answered(cache)
    assert n // 3 <= len(at_kill) < n, "the kill must land mid-run"
    assert not out.exists()
    served_at_kill = {e.body["messages"][-1]["content"] for e in double.generation_requests()
                      if e.status == 200}  # fmt: skip
    assert len(served_at_kill) >= len(at_kill)
    time.sleep(1.0)  # the killed driver's actors are gone
    before = len(double.generation_requests())
    assert _run(_args(src, out, cache, double, "--executor", "ray", "--ray-address", address)) == 0
    resent = [e.body["messages"][-1]["content"] for e in double.generation_requests()[before:]]
    rows = pq.read_table(out).to_pylist()
    assert [r["qid"] for r in rows] == [f"q{i:03d}" for i in range(n)]
    assert all(r["error"] is None for r in rows)
    # every answer stored before the kill came from the cache: none was asked again
    assert sum(r["cached"] for r in rows) >= len(at_kill)
    assert len(resent) <= n - len(at_kill)
    assert {r["text"] for r in rows if not r["cached"]} == set(resent)
