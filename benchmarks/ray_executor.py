"""The Ray executor's overhead: the same stage, local runner vs a local Ray, one machine.

Two workloads, each run by the local runner and by `cv.ray.apply` on a local Ray, side by
side in one process, outputs checked equal:
  - decontam.Check: real T0 prompts (../shared/data/corpus) against five real eval sets
    (GSM8K, MATH-500, IFEval, HumanEval, BBH); CPU-bound.
  - synth.Complete: prompts against the loopback API double (its own process, --latency
    per request); network-bound, no cache.
Ray is timed cold (first run: actors start, the eval index goes into the object store)
and warm (a second run on the same Ray). Target: Ray within 1.5x of local. The scaling
line extrapolates the measured per-worker throughput; it is an estimate, not a measurement.

    python benchmarks/ray_executor.py                       # 20,000 rows, 2,000 prompts
    python benchmarks/ray_executor.py --rows 55185 --prompts 4000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_common import REPO, DoubleProcess  # noqa: E402

DATA = REPO / ".." / "shared" / "data"
EVALS = [
    "gsm8k=eval/gsm8k_test.jsonl:question",
    "math500=eval/math500_test.jsonl:problem",
    "ifeval=eval/ifeval_input_data.jsonl:prompt",
    "humaneval=eval/humaneval.jsonl:prompt",
    "bbh=eval/bbh.jsonl:input",
]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def line(name: str, rows: int, local_s: float, cold_s: float, warm_s: float, workers: int):
    print(f"{name}: {rows} rows")
    print(f"  local runner      {local_s:8.2f} s  {rows / local_s:10.0f} rows/s")
    print(f"  ray cold          {cold_s:8.2f} s  {rows / cold_s:10.0f} rows/s  "
          f"({cold_s / local_s:.2f}x local)")  # fmt: skip
    print(f"  ray warm          {warm_s:8.2f} s  {rows / warm_s:10.0f} rows/s  "
          f"({warm_s / local_s:.2f}x local)")  # fmt: skip
    per_worker = rows / warm_s / workers
    print(f"  per worker (warm) {per_worker:10.0f} rows/s; estimate at 64 workers: "
          f"{per_worker * 64:,.0f} rows/s if nothing else binds")  # fmt: skip


class Identity:
    """A stage that passes rows on: what the executor itself costs (built lazily so the
    benchmark imports caravan only after argument parsing)."""

    @staticmethod
    def make():
        from caravan.stage import Stage, StageResult

        class Pass(Stage):
            name = "identity"

            async def process(self, batch):
                return StageResult(rows=batch.to_pylist())

        return Pass()


def bench_floor(workers: int) -> None:
    """The fixed cost of one stage on Ray (actor pool start, setup, teardown): 10 rows."""
    from caravan import ray_executor

    rows = [{"id": str(i), "x": i} for i in range(10)]
    times = [timed(lambda: ray_executor.apply(rows, Identity.make(), progress=False,
                                              workers=workers))[1] for _ in range(2)]  # fmt: skip
    print(f"fixed cost of one stage on Ray (10 rows, {workers} actors): "
          f"{times[0]:.2f} s cold, {times[1]:.2f} s warm")  # fmt: skip


def bench_decontam(rows: int, workers: int, tmp: Path) -> None:
    import pyarrow.parquet as pq
    from caravan.decontam.stages import Check

    from caravan import ray_executor
    from caravan.runner import run_stage

    table = pq.read_table(DATA / "corpus" / "t0_prompts.parquet", columns=["prompt"])
    table = table.slice(0, rows)
    data = [
        {"id": f"t0-{i}", "prompt": p} for i, p in enumerate(table.column("prompt").to_pylist())
    ]
    evals = [e.replace("=", f"={DATA}/", 1) for e in EVALS]
    cache = tmp / "index"
    run_stage(Check(evals, cache_dir=cache), data[:10], progress=False)  # index on disk: fair
    local, local_s = timed(lambda: run_stage(Check(evals, cache_dir=cache), data, progress=False))
    cold, cold_s = timed(lambda: ray_executor.apply(data, Check(evals, cache_dir=cache),
                                                    progress=False, workers=workers))  # fmt: skip
    warm, warm_s = timed(lambda: ray_executor.apply(data, Check(evals, cache_dir=cache),
                                                    progress=False, workers=workers))  # fmt: skip
    assert cold.table.equals(local.table) and warm.table.equals(local.table)
    matched = sum(bool(m) for m in local.table.column("contamination").to_pylist())
    line(f"decontam.check (5 eval sets, {matched} rows matched)", rows, local_s, cold_s, warm_s,
         workers)  # fmt: skip


def bench_complete(prompts: int, workers: int, latency: float, concurrency: int, tmp: Path):
    from caravan.synth.stages import Complete

    from caravan import ray_executor
    from caravan.runner import run_stage
    from caravan.session import LLM

    double = DoubleProcess("--latency", str(latency))
    try:
        data = [{"id": f"p{i}", "prompt": f"benchmark prompt {i}: say something short"}
                for i in range(prompts)]  # fmt: skip

        def stage():
            llm = LLM("gpt-4o-mini", base_url=double.base_url + "/v1", cache=False,
                      progress=False, concurrency=concurrency, max_retries=0)  # fmt: skip
            return Complete(llm=llm, max_tokens=32)

        local, local_s = timed(lambda: run_stage(stage(), data, progress=False))
        cold, cold_s = timed(lambda: ray_executor.apply(data, stage(), progress=False,
                                                        workers=workers))  # fmt: skip
        warm, warm_s = timed(lambda: ray_executor.apply(data, stage(), progress=False,
                                                        workers=workers))  # fmt: skip
        assert cold.table.equals(local.table) and warm.table.equals(local.table)
    finally:
        double.stop()
    line(f"synth.complete ({latency * 1000:.0f} ms per request, {concurrency} in flight per "
         "worker)", prompts, local_s, cold_s, warm_s, workers)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="T0 rows for decontam")
    parser.add_argument("--prompts", type=int, default=2000, help="prompts for Complete")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if not (DATA / "corpus" / "t0_prompts.parquet").exists():
        sys.exit(f"needs the shared data at {DATA}")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")  # local Ray workers inherit it
    from caravan import ray_executor

    _, init_s = timed(lambda: ray_executor.init(num_cpus=args.workers))
    print(f"local Ray start: {init_s:.2f} s ({args.workers} CPUs); {os.cpu_count()} cores here")
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the Identity stage
    bench_floor(args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        bench_decontam(args.rows, args.workers, Path(tmp))
        bench_complete(args.prompts, args.workers, args.latency, args.concurrency, Path(tmp))


if __name__ == "__main__":
    main()
