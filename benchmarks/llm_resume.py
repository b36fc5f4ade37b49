"""Resume after SIGKILL: kill `synth complete` at ~50%, restart, compare with a clean run.

Checks that the restarted output equals an uninterrupted run's (same ids, order, replies,
usage) and that the API double served no second successful reply for any request that was
already in the cache when the process died.

    python benchmarks/llm_resume.py                  # 10,000 prompts, 256 in flight, 200 ms
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import REPO, DoubleProcess, env_with_repo, load_double_module  # noqa: E402

MODEL = "gpt-4o-mini"


def synth(args: list[str]) -> subprocess.Popen:
    code = "import sys; from caravan.synth.cli import cli; cli(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env_with_repo(), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def done_keys(cache: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            return {k for (k,) in db.execute("SELECT key FROM responses")}
    except sqlite3.OperationalError:
        return set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--kill-at", type=float, default=0.5)
    args = parser.parse_args()

    import pyarrow.parquet as pq
    from caravan.llm.cache_scope import cache_scope
    from caravan.llm.types import Request

    double_mod = load_double_module()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        prompts = tmp_path / "prompts.jsonl"
        texts = [f"resume benchmark prompt {i}" for i in range(args.requests)]
        prompts.write_text(
            "".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )

        def cmd(url: str, out: str, cache: Path) -> list[str]:
            return [
                "complete", "--input", str(prompts), "--text-field", "text", "--model", MODEL,
                "--base-url", url, "--concurrency", str(args.concurrency), "--no-progress",
                "--output", str(tmp_path / out), "--cache", str(cache),
            ]  # fmt: skip

        # 1. Interrupted run, then restart, against one double.
        double = DoubleProcess("--latency", str(args.latency), stats_file=tmp_path / "a.json")
        cache = tmp_path / "run.sqlite"
        start = time.perf_counter()
        double_url = double.base_url + "/v1"
        proc = synth(cmd(double_url, "out.parquet", cache))
        target = int(args.requests * args.kill_at)
        while len(done_keys(cache)) < target and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill = done_keys(cache)
        killed_after = time.perf_counter() - start
        restart = synth(cmd(double.base_url + "/v1", "out.parquet", cache))
        if restart.wait() != 0:
            raise SystemExit(restart.stderr.read().decode())
        total = time.perf_counter() - start
        served = double.stop()["served"]

        # 2. Uninterrupted reference run against a fresh double.
        ref_double = DoubleProcess("--latency", str(args.latency))
        t0 = time.perf_counter()
        ref = synth(cmd(ref_double.base_url + "/v1", "ref.parquet", tmp_path / "ref.sqlite"))
        if ref.wait() != 0:
            raise SystemExit(ref.stderr.read().decode())
        ref_wall = time.perf_counter() - t0
        ref_double.stop()

        cols = ["id", "text", "response", "prompt_tokens", "completion_tokens", "error"]
        got = pq.read_table(tmp_path / "out.parquet", columns=cols).to_pylist()
        want = pq.read_table(tmp_path / "ref.parquet", columns=cols).to_pylist()

    twice = 0
    for text in texts:
        messages = [{"role": "user", "content": text}]
        ours = Request(messages, MODEL).cache_key(cache_scope("openai", MODEL, double_url))
        theirs = double_mod.request_key({"model": MODEL, "messages": messages})
        if ours in at_kill and served.get(theirs, 0) != 1:
            twice += 1
    resent = sum(v - 1 for v in served.values() if v > 1)
    print(f"{args.requests} prompts, {args.concurrency} in flight, {args.latency * 1000:.0f} ms")
    print(f"SIGKILL after {killed_after:.1f} s with {len(at_kill)} responses committed")
    print(f"interrupted + restarted wall {total:.1f} s; uninterrupted run {ref_wall:.1f} s")
    print(f"output equals the uninterrupted run's: {got == want} ({len(got)} rows)")
    print(f"completed-before-kill requests served twice by the double: {twice}")
    print(
        f"requests re-sent after the kill (in flight, never committed): {resent} "
        f"(at most {args.concurrency} expected)"
    )


if __name__ == "__main__":
    main()
