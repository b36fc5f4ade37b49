"""Does `--concurrency` batch in-process generation? 48 requests through the engine and the
real LocalBackend, `--concurrency 16` against the anchor `--concurrency 1` (one request per
forward pass, which is what the engine did before it handed in-process backends whole
batches). Target: >= 3x faster.

Every run goes through `llm.complete(provider="local")` without a cache, so it pays the
model load ("cold" is the first run of each setting, "warm" the best of the rest). The model
is a tiny random Llama built on the spot (no download); prompts come from the shared T0
corpus when present, else built-in sentences.

    python benchmarks/llm_local_batching.py [--requests 48] [--max-tokens 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures.tiny_model

from caravan.llm import complete  # noqa: E402
from caravan.llm.backends.local import LocalBackend  # noqa: E402

from tests.fixtures.tiny_model import build_tiny_model  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "t0_prompts.parquet"


def prompts(n: int) -> tuple[list[str], str]:
    if CORPUS.exists():
        import pyarrow.parquet as pq

        texts = pq.read_table(CORPUS, columns=["prompt"]).column("prompt").to_pylist()
        # Distinct prompts only: the engine answers duplicates with one call.
        unique = list(dict.fromkeys(t[:600] for t in texts))[:n]
        return unique, f"{len(unique)} distinct T0 prompts (shared corpus)"
    base = "Explain why the river reaches the city before the mountain snow melts"
    return [f"{base} ({i})" for i in range(n)], f"{n} built-in prompts"


def run(model: Path, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, list]:
    sizes: list[int] = []
    real = LocalBackend._generate

    def recording(self, rows):
        sizes.append(len(rows))
        return real(self, rows)

    LocalBackend._generate = recording
    try:
        started = time.perf_counter()
        out = complete(
            texts, str(model), provider="local", concurrency=concurrency, cache=False,
            params={"max_tokens": max_tokens}, progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    finally:
        LocalBackend._generate = real
    failed = [r.error for r in out if not r.ok]
    if failed:
        raise SystemExit(f"generation failed: {failed[0]}")
    return seconds, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per setting")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # steady figures on a shared machine
    texts, source = prompts(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        times: dict[int, list[float]] = {1: [], 16: []}
        sizes: dict[int, list[int]] = {}
        for _ in range(args.repeats):
            for concurrency in (1, 16):
                seconds, sizes[concurrency] = run(model, texts, concurrency, args.max_tokens)
                times[concurrency].append(seconds)
    print(f"{source}, {args.max_tokens} new tokens each, tiny Llama (hidden 64, 2 layers), CPU")
    for concurrency, runs in times.items():
        warm = min(runs[1:]) if len(runs) > 1 else runs[0]
        shown = sorted(set(sizes[concurrency]))
        print(
            f"--concurrency {concurrency:>2}: cold {runs[0]:.2f} s, warm {warm:.2f} s "
            f"({args.requests / warm:.1f} req/s), batch sizes {shown}"
        )
    cold = times[1][0] / times[16][0]
    warm = min(times[1][1:] or times[1]) / min(times[16][1:] or times[16])
    print(f"speed-up of --concurrency 16 over 1: cold {cold:.1f}x, warm {warm:.1f}x (target 3x)")


if __name__ == "__main__":
    main()
