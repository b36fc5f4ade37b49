"""Throughput of synth's CPU-side steps: constraint drawing + statement check, and dedup.

    python benchmarks/synth_checks.py [--n 20000]

Prints prompts per second for (a) sampling constraints and checking that a prompt states
them, and (b) MinHash LSH dedup over N synthetic prompts (with planted duplicates), plus how
many duplicates were found. No model calls.
"""

from __future__ import annotations

import argparse
import random
import time

from caravan.synth.dedup import DedupConfig, dedup_texts
from caravan.synth.if_statement import missing_statements
from caravan.verifiers.ifeval import sample_constraints

WORDS = ["market", "river", "ledger", "harvest", "engine", "budget", "lesson", "garden", "signal", "winter", "bridge", "ticket", "harbor", "recipe", "schedule", "invoice", "orbit", "lantern", "canvas", "meadow"]  # fmt: skip


def synthetic_prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 120))) + "."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    rng = random.Random(0)

    start = time.perf_counter()
    stated = 0
    for i in range(n):
        cs = sample_constraints(i, 1, 3)
        prompt = "Please help me with my plan. " + " ".join(c.description for c in cs)
        stated += not missing_statements(
            prompt, [c.instruction_id for c in cs], [c.kwargs for c in cs]
        )
    took = time.perf_counter() - start
    print(f"sample + statement check: {n / took:,.0f} prompts/s ({stated}/{n} fully stated)")

    texts = [synthetic_prompt(rng) for _ in range(n)]
    planted = n // 10
    for i in range(planted):  # near duplicates: one word changed
        words = texts[i].split()
        words[len(words) // 2] = "tomato"
        texts.append(" ".join(words))
    start = time.perf_counter()
    report = dedup_texts(texts, DedupConfig(threshold=0.8, shingle_size=5))
    took = time.perf_counter() - start
    print(f"dedup (MinHash LSH, 128 perms): {len(texts) / took:,.0f} prompts/s; {report.summary()}"
          f" ({planted} planted)")  # fmt: skip


if __name__ == "__main__":
    main()
