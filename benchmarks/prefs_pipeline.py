"""`prefs build` end to end against the API double in its own process: throughput of the
generate + judge pipeline, the cost of a fully cached rerun (resume), and that no request
the double answered was ever asked twice.

The double runs with a judge script (`--serve`): each response's rating is a hash of its
text and the aspect, so ratings are consistent per response and pairs/ties/position-bias
figures are about the plumbing, not about judging quality (a fair judge: spread near 0).

    PYTHONPATH=. python benchmarks/prefs_pipeline.py --prompts 300 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import REPO, load_double_module, peak_rss_mb  # noqa: E402

_RESPONSE = re.compile(r'<response id="(\d+)">\n(.*?)\n</response>', re.S)


def serve(latency: float, fault_rate: float, stats_file: str) -> None:
    """The API double with a judge script, in this process (run with --serve)."""
    api = load_double_module()

    class JudgeDouble(api.ApiDouble):
        def reply_text(self, body):
            fmt = body.get("response_format") or {}
            if fmt.get("type") != "json_schema":
                return super().reply_text(body)
            system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
            aspect = system.split("Criterion: ", 1)[1].split("\n", 1)[0]
            reply = {}
            for i, text in _RESPONSE.findall(user):
                digest = hashlib.sha256(f"{aspect}:{text}".encode()).digest()
                item = {"rationale": "scripted", "rating": str(1 + digest[0] % 5)}
                props = fmt["json_schema"]["schema"]["properties"][f"response_{i}"]
                for extra in ("qualities", "hallucinations"):
                    if extra in props["properties"]:
                        item[extra] = []
                reply[f"response_{i}"] = item
            return json.dumps(reply)

    double = JudgeDouble(latency=latency, fault_rate=fault_rate, keep_log=False)
    asyncio.run(double.serve_until_terminated())  # returns on SIGTERM
    Path(stats_file).write_text(json.dumps(double.stats()))


class ScriptedDouble:
    def __init__(self, latency: float, fault_rate: float, stats_file: Path) -> None:
        cmd = [sys.executable, __file__, "--serve", "--latency", str(latency),
               "--fault-rate", str(fault_rate), "--stats-file", str(stats_file)]  # fmt: skip
        env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self.base_url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[1])}"
        self.stats_file = stats_file

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        return json.loads(self.stats_file.read_text()) if self.stats_file.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--pool-size", type=int, default=6)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stats-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.fault_rate, args.stats_file)
        return

    import os

    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-not-a-real-key")
    from caravan.llm.guard import RunGuard
    from caravan.prefs.build import BuildConfig, run_build
    from caravan.prefs.pool import parse_pool
    from caravan.prefs.stats import compute_stats

    from caravan.cli_run import CallArgs
    from caravan.session import LLMSettings

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        stats_file = tmp_path / "double.json"
        double = ScriptedDouble(args.latency, args.fault_rate, stats_file)
        try:
            prompts = tmp_path / "prompts.jsonl"
            with prompts.open("w") as fh:
                for i in range(args.prompts):
                    text = f"Prompt {i}: explain topic number {i} to a curious student."
                    fh.write(json.dumps({"id": f"p{i}", "prompt": text}) + "\n")
            pool = parse_pool(
                [
                    {"name": f"m{j}", "model": f"m{j}", "base_url": f"{double.base_url}/v1"}
                    for j in range(args.pool_size)
                ]
            )
            cfg = BuildConfig(
                prompts=[prompts], output=tmp_path / "out" / "prefs.parquet", pool=pool,
                k=args.k, judge_model="judge", judge_base_url=f"{double.base_url}/v1",
            )  # fmt: skip

            def calls() -> CallArgs:
                settings = LLMSettings(concurrency=args.concurrency, max_retries=8, progress=False)
                return CallArgs(settings, cache=tmp_path / "cache.sqlite", guard=RunGuard())

            quiet = lambda _m: None  # noqa: E731
            start = time.perf_counter()
            report, _ = run_build(cfg, calls(), log=quiet)
            first = time.perf_counter() - start
            start = time.perf_counter()
            run_build(cfg, calls(), log=quiet)
            resume = time.perf_counter() - start
            figures = compute_stats(tmp_path / "out" / "prefs.parquet")
        finally:
            counts = double.stop()
    calls = args.prompts * (args.k + 4)
    served = counts.get("served", {})
    twice = sum(1 for v in served.values() if v > 1)
    # (a judge reply that was served but failed to parse would be asked again: none here)
    print(f"prompts {args.prompts}, pool {args.pool_size}, k {args.k}, "
          f"latency {args.latency}s, fault rate {args.fault_rate}, concurrency {args.concurrency}")  # fmt: skip
    print(f"model calls needed: {calls} ({args.prompts * args.k} generations, "
          f"{args.prompts * 4} judge calls)")  # fmt: skip
    print(f"first run: {first:.1f}s ({calls / first:.0f} calls/s)")
    print(f"rerun with everything cached: {resume:.2f}s")
    print(f"requests answered by the double: {sum(served.values())}; answered twice: {twice}")
    print(f"faults injected: {counts.get('faults', {})}")
    print(f"pairs: {report.pairs}; excluded: {dict(report.excluded)}")
    spreads = {a: v["spread"] for a, v in figures.get("position_bias", {}).items()}
    print(f"position-bias spread (random judge, expect small): {spreads}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
