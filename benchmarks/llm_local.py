"""Overhead of LocalBackend against a bare transformers `generate` loop on the same inputs.

Both sides get the same rendered prompts, the same batches (sorted by length, cut at
--batch-size) and the same greedy decoding for --max-tokens new tokens, so the difference
is what the backend adds: per-row stop tracking, its sampler hook, bookkeeping. A second
pair compares seeded sampling (per-row generators) with generate's own do_sample.

Models are tiny random Llamas built on the spot (no download): the small one makes the
forward pass cheap, which is the worst case for relative overhead. Prompts come from the
shared T0 corpus when present, else from built-in sentences.

    python benchmarks/llm_local.py [--requests 32] [--max-tokens 32] [--repeats 2] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures.tiny_model

import torch  # noqa: E402
from caravan.llm.backends.local import (  # noqa: E402
    LocalBackend,
    SamplingSpec,
    _RowSampler,
    _RowStopper,
)
from caravan.llm.types import Request  # noqa: E402

from tests.fixtures.tiny_model import build_tiny_model  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "t0_prompts.parquet"
SIZES = {"tiny (hidden 64, 2 layers)": (64, 2), "small (hidden 256, 4 layers)": (256, 4)}


def prompts(n: int) -> list[str]:
    if CORPUS.exists():
        import pyarrow.parquet as pq

        texts = pq.read_table(CORPUS, columns=["prompt"]).column("prompt").to_pylist()
        # Keep prompts short enough for the 512-token test models.
        return [t[:600] for t in texts[:n]]
    base = "Explain why the river reaches the city before the mountain snow melts"
    return [f"{base} {' '.join(['and then'] * (i % 9))} ({i})" for i in range(n)]


def bare_loop(backend: LocalBackend, texts, batch_size, max_tokens, sample) -> tuple[int, float]:
    """Plain generate over the same batches; returns (tokens generated, seconds)."""
    model, tok = backend.hf_model, backend.tokenizer
    ids = [backend.prompt_ids([{"role": "user", "content": t}]) for t in texts]
    ids.sort(key=len)
    eos = tok.eos_token_id
    total, started = 0, time.perf_counter()
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        width = max(map(len, chunk))
        input_ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, row in enumerate(chunk):
            input_ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        with torch.inference_mode():
            out = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_tokens,
                do_sample=sample,
                temperature=0.8 if sample else None,
                top_p=None,
                top_k=None,
                pad_token_id=tok.pad_token_id,
                eos_token_id=eos,
            )
        for row in out[:, width:].tolist():
            total += row.index(eos) + 1 if eos in row else len(row)
    return total, time.perf_counter() - started


def ours(backend: LocalBackend, texts, max_tokens, sample) -> tuple[int, float]:
    params = {"max_tokens": max_tokens}
    requests = [
        Request(
            messages=[{"role": "user", "content": t}],
            model="bench",
            params={**params, "temperature": 0.8, "seed": i} if sample else params,
        )
        for i, t in enumerate(texts)
    ]
    started = time.perf_counter()
    responses = backend.complete_batch(requests)
    elapsed = time.perf_counter() - started
    return sum(r.usage.completion_tokens for r in responses), elapsed


def hook_costs_us(vocab: int, batch: int, steps: int = 30) -> tuple[float, float, float]:
    """Median microseconds per decode step: the backend's hooks for greedy rows and for
    sampled rows, and generate's own sampling step (softmax + multinomial), interleaved
    step by step so load spikes on a shared machine hit all three alike."""
    greedy_specs = [SamplingSpec(max_tokens=10**9) for _ in range(batch)]
    sampled_specs = [SamplingSpec(max_tokens=10**9, temperature=0.8, seed=i) for i in range(batch)]
    hooks = {
        "greedy": (_RowSampler(greedy_specs, "cpu"), _RowStopper(greedy_specs, 16, {0}, None)),
        "sampled": (_RowSampler(sampled_specs, "cpu"), _RowStopper(sampled_specs, 16, {0}, None)),
    }
    ids = torch.randint(1, vocab, (batch, 17))
    scores = torch.randn(batch, vocab)
    times: dict[str, list[float]] = {"greedy": [], "sampled": [], "native": []}
    for _ in range(steps):
        for name, (sampler, stopper) in hooks.items():
            fresh = scores.clone()  # the sampler marks its pick in place
            started = time.perf_counter()
            sampler(ids, fresh)
            stopper(ids, fresh)
            times[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        torch.multinomial(torch.softmax(scores / 0.8, dim=-1), 1)
        times["native"].append(time.perf_counter() - started)
    greedy, sampled, native = (sorted(t)[len(t) // 2] * 1e6 for t in times.values())
    return greedy, sampled, native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs; best kept")
    args = parser.parse_args()
    texts = prompts(args.requests)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"{args.requests} requests, {args.max_tokens} new tokens max, batch {args.batch_size}, "
        f"prompts from {'T0 corpus' if CORPUS.exists() else 'built-in text'}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for vocab in (515, 128_256):
        greedy, sampled, native = hook_costs_us(vocab, args.batch_size)
        print(
            f"backend hooks per decode step (batch {args.batch_size}, vocab {vocab}): "
            f"greedy {greedy:.0f} us, sampled {sampled:.0f} us "
            f"(generate's own sampling step: {native:.0f} us)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        for label, (hidden, layers) in SIZES.items():
            path = build_tiny_model(Path(tmp) / str(hidden), hidden_size=hidden, num_layers=layers)
            backend = LocalBackend(str(path), max_batch_size=args.batch_size)
            backend.load()
            ours(backend, texts[: args.batch_size], 4, False)  # warm-up
            for mode, sample in (("greedy", False), ("sampled", True)):
                bare, mine = [], []
                for _ in range(args.repeats):  # alternate so load spikes hit both sides
                    bare.append(bare_loop(backend, texts, args.batch_size, args.max_tokens, sample))
                    mine.append(ours(backend, texts, args.max_tokens, sample))
                b_tok, b_s = min(bare, key=lambda r: r[1])
                o_tok, o_s = min(mine, key=lambda r: r[1])
                print(
                    f"{label:30s} {mode:8s} bare generate: {b_tok / b_s:8.0f} tok/s "
                    f"({b_tok} tok, {b_s:.2f} s) | LocalBackend: {o_tok / o_s:8.0f} tok/s "
                    f"({o_tok} tok, {o_s:.2f} s) | time ratio {o_s / b_s:.2f}x"
                )


if __name__ == "__main__":
    main()
