"""A run killed with SIGKILL and restarted loses nothing and re-sends nothing that completed."""

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
from caravan.llm.cache_scope import cache_scope
from caravan.llm.types import Request

REPO = Path(__file__).resolve().parents[2]
N = 240


def _synth(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys; from caravan.synth.cli import cli; cli(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)


def _done(cache: Path) -> set[str]:
    if not cache.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            return {k for (k,) in db.execute("SELECT key FROM responses")}
    except sqlite3.OperationalError:  # tables not created yet
        return set()


def test_sigkill_midway_then_restart(double, tmp_path):
    double.latency = 0.04
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"id": f"p{i}", "text": f"question {i}"}) + "\n" for i in range(N))
    )
    cache = tmp_path / "run.sqlite"
    args = [
        "complete", "--input", str(prompts), "--text-field", "text", "--model", "gpt-4o-mini",
        "--base-url", double.base_url + "/v1", "--concurrency", "6", "--no-progress",
    ]  # fmt: skip
    proc = _synth([*args, "--output", str(tmp_path / "out.parquet"), "--cache", str(cache)])
    deadline = time.time() + 60
    while len(_done(cache)) < N // 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = _done(cache)
    assert N // 3 <= len(done_at_kill) < N, "the kill must land mid-run"
    assert not (tmp_path / "out.parquet").exists()

    restart = _synth([*args, "--output", str(tmp_path / "out.parquet"), "--cache", str(cache)])
    assert restart.wait(120) == 0, restart.stderr.read().decode()

    key_of = {
        Request(
            [{"role": "user", "content": f"question {i}"}], "gpt-4o-mini", id=f"p{i}"
        ).cache_key(cache_scope("openai", "gpt-4o-mini", double.base_url + "/v1")): f"question {i}"
        for i in range(N)
    }
    assert done_at_kill <= set(key_of)
    served: dict[str, int] = {}
    for entry in double.generation_requests():
        if entry.status == 200:
            text = entry.body["messages"][-1]["content"]
            served[text] = served.get(text, 0) + 1
    for key in done_at_kill:
        assert served[key_of[key]] == 1, f"{key_of[key]} was paid for twice"

    # The uninterrupted reference run, in-process, with its own cache.
    from caravan.synth.cli import cli

    with pytest.raises(SystemExit) as ref:
        cli.main([*args, "--output", str(tmp_path / "ref.parquet"),
                  "--cache", str(tmp_path / "ref.sqlite"), "--concurrency", "16"])  # fmt: skip
    assert ref.value.code == 0
    cols = ["id", "text", "response", "prompt_tokens", "completion_tokens", "error"]
    got = pq.read_table(tmp_path / "out.parquet", columns=cols).to_pylist()
    want = pq.read_table(tmp_path / "ref.parquet", columns=cols).to_pylist()
    assert got == want
    assert [r["id"] for r in got] == [f"p{i}" for i in range(N)]
    assert all(r["error"] is None for r in got)
