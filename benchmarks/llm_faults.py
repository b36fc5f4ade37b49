"""Fault tolerance: with a share of replies failing transiently, every request still completes.

The API double (own process) fails --fault-rate of requests with 429 (Retry-After), 500,
malformed JSON or a dropped connection, chosen per request and attempt. Prints completions,
retries by cause (ours) and faults served (the double's count), and wall time.

    python benchmarks/llm_faults.py                  # 10,000 requests, 20% faults
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import DoubleProcess, peak_rss_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    args = parser.parse_args()

    from caravan.llm.backends.openai_api import OpenAIBackend
    from caravan.llm.engine import Engine, EngineConfig
    from caravan.llm.types import Request

    with tempfile.TemporaryDirectory() as tmp:
        double = DoubleProcess(
            "--latency", str(args.latency), "--fault-rate", str(args.fault_rate),
            "--retry-after", "0.05", stats_file=Path(tmp) / "double.json",
        )  # fmt: skip
        requests = [
            Request([{"role": "user", "content": f"fault test {i}"}], "gpt-4o-mini", id=str(i))
            for i in range(args.requests)
        ]
        config = EngineConfig(
            concurrency=args.concurrency, max_retries=10, backoff_base_s=0.05, timeout_s=30,
            progress=False,
        )  # fmt: skip

        async def go():
            backend = OpenAIBackend(base_url=double.base_url + "/v1", api_key="sk-bench")
            engine = Engine(backend, cache=Path(tmp) / "c.sqlite", config=config)
            try:
                return await engine.arun(requests), engine.stats
            finally:
                await backend.aclose()

        start = time.perf_counter()
        try:
            results, stats = asyncio.run(go())
        finally:
            served = double.stop()
        wall = time.perf_counter() - start
    ok = sum(r.ok for r in results)
    faults = {k: v for k, v in served.get("faults", {}).items() if k != "none"}
    print(f"{args.requests} requests, {args.fault_rate:.0%} transient faults per attempt")
    print(f"completed ok: {ok}/{args.requests}   failed: {args.requests - ok}")
    print(f"retries (engine): {sum(stats.retries.values())} {dict(sorted(stats.retries.items()))}")
    print(f"faults injected (double): {sum(faults.values())} {dict(sorted(faults.items()))}")
    print(f"max attempts for one request: {max(r.attempts for r in results)}")
    print(f"wall {wall:.2f} s, {args.requests / wall:.1f} req/s, peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
