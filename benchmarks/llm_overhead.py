"""Engine overhead: our engine vs a bare loop of the official SDK, same double, same concurrency.

The API double runs in its own process (so it does not share the client's event loop) and
answers every request after --latency seconds. Each client runs in a fresh child process so
peak RSS is its own. Ideal wall time = requests / concurrency x latency.

    python benchmarks/llm_overhead.py                 # 10,000 requests, 256 in flight, 200 ms
    python benchmarks/llm_overhead.py --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import REPO, DoubleProcess, env_with_repo, peak_rss_mb  # noqa: E402

MODEL = "gpt-4o-mini"


def prompts(n: int) -> list[str]:
    return [f"benchmark prompt number {i}: say something short" for i in range(n)]


async def bare(base_url: str, n: int, concurrency: int) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60)
    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(text: str) -> None:
        nonlocal ok
        async with sem:
            r = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}]
            )
            ok += r.choices[0].message.content is not None

    await asyncio.gather(*(one(p) for p in prompts(n)))
    await client.close()
    return ok


async def ours(base_url: str, n: int, concurrency: int, cache: str, progress: bool) -> int:
    from caravan.llm import acomplete

    out = await acomplete(
        prompts(n),
        MODEL,
        base_url=base_url,
        cache=cache,
        concurrency=concurrency,
        progress=progress,
        timeout_s=60,
    )
    return sum(r.ok for r in out)


def child(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.child == "bare":
        ok = asyncio.run(bare(args.base_url, args.requests, args.concurrency))
    else:
        ok = asyncio.run(
            ours(args.base_url, args.requests, args.concurrency, args.cache, args.progress)
        )
    wall = time.perf_counter() - start
    print(json.dumps({"ok": ok, "wall_s": wall, "peak_rss_mb": peak_rss_mb()}))


def run_child(kind: str, base_url: str, args: argparse.Namespace, cache: str = "") -> dict:
    cmd = [
        sys.executable, __file__, "--child", kind, "--base-url", base_url,
        "--requests", str(args.requests), "--concurrency", str(args.concurrency),
        "--cache", cache,
    ]  # fmt: skip
    if args.progress:
        cmd.append("--progress")
    out = subprocess.run(cmd, env=env_with_repo(), capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"{kind} client failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--progress", action="store_true", help="show our live progress bar")
    parser.add_argument("--child", choices=["bare", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    ideal = args.requests / args.concurrency * args.latency
    print(
        f"{args.requests} requests, {args.concurrency} in flight, "
        f"{args.latency * 1000:.0f} ms latency; ideal {ideal:.2f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        double = DoubleProcess("--latency", str(args.latency))
        try:
            url = double.base_url + "/v1"
            b = run_child("bare", url, args)
            o = run_child("ours", url, args, str(Path(tmp) / "cache.sqlite"))
        finally:
            double.stop()
    for name, r in (("bare SDK + semaphore", b), ("caravan engine", o)):
        print(
            f"{name:22s} ok {r['ok']:>6}  wall {r['wall_s']:6.2f} s  "
            f"({r['wall_s'] / ideal:4.2f}x ideal)  {args.requests / r['wall_s']:7.1f} req/s  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    ratio = o["wall_s"] / b["wall_s"]
    verdict = "within" if ratio <= 1.25 else "NOT within"
    print(f"ours / bare = {ratio:.2f}x ({verdict} the 1.25x target; ours also caches every reply)")


if __name__ == "__main__":
    main()
