"""Kill `synth generate` mid-run, run it again: finished replies are never requested twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from caravan.llm.cache import ResponseCache
from caravan.records import read_records

REPO = Path(__file__).resolve().parents[2]


def test_resume_after_kill(synth, double, tmp_path):
    double.latency = 0.3
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "math.parquet"
    args = ["generate", "--persona", "example", "--task", "math", "--output", str(out),
            "--base-url", double.base_url + "/v1", "--model", "gpt-4o", "--concurrency", "1",
            "--cache", str(cache), "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from caravan.synth.cli import cli; cli(sys.argv[1:])", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.exists():
                with_cache = ResponseCache(cache)
                done = with_cache.count()
                with_cache.close()
                if done >= 4:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    store = ResponseCache(cache)
    committed = store.count()
    store.close()
    assert 4 <= committed < 20
    time.sleep(1.0)  # the killed run's last request is logged when its reply is sent
    first_run = len(double.generation_requests())
    double.latency = 0.0
    res = synth(*args)
    assert res.exit_code == 0, res.stderr
    assert len(double.generation_requests()) - first_run == 20 - committed
    assert len(read_records(out)) == 19  # 20 personas, one exact duplicate removed
