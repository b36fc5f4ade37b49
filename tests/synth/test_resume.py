"""Kill `synth generate` mid-run, or lose its endpoint, run it again: finished replies are
never requested twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from caravan.llm.cache import ResponseCache
from caravan.records import read_records
from caravan.synth.stages import Generate

from tests.synth.conftest import SynthDouble

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


class DyingDouble(SynthDouble):
    """Answers the first `alive_for` requests, then refuses every key (401): the endpoint
    died mid-run."""

    def __init__(self, alive_for: int) -> None:
        super().__init__()
        self.alive_for = alive_for
        self.seen = 0

    def _pick_fault(self, key, text):
        with self._lock:
            self.seen += 1
            dead = self.alive_for is not None and self.seen > self.alive_for
        return ("401", None) if dead else super()._pick_fault(key, text)


def test_a_run_stopped_by_a_dead_endpoint_resumes_from_journal_and_cache(
    synth, tmp_path, monkeypatch
):
    monkeypatch.setattr(Generate, "batch_size", 4)  # 5 batches of the 20 personas
    server = DyingDouble(alive_for=10).start()
    try:
        out = tmp_path / "math.parquet"
        args = ["generate", "--persona", "example", "--task", "math", "--output", out,
                "--base-url", server.base_url + "/v1", "--model", "gpt-4o",
                "--concurrency", "1", "--no-progress"]  # fmt: skip
        first = synth(*args)
        assert first.exit_code == 1 and "401" in first.stderr
        answered = {e.key for e in server.generation_requests() if e.status == 200}
        assert len(answered) == 10
        # what was answered is written (the duplicate prompt aside); the rest is rejected
        assert 9 <= len(read_records(out)) <= 10
        server.alive_for = None  # the endpoint is back
        before = len(server.generation_requests())
        again = synth(*args)
        assert again.exit_code == 0, again.stderr
        resent = server.generation_requests()[before:]
        # the 10 unanswered (refused or never sent) are asked; nothing answered is
        assert len(resent) == 10 and not answered & {e.key for e in resent}
        assert len(read_records(out)) == 19  # 20 personas, one exact duplicate removed
        assert not (tmp_path / ".math.parquet.journal").exists()
    finally:
        server.stop()
