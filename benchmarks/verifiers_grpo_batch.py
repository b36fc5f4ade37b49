"""One GRPO step's worth of rewards: 768 mixed GSM8K / MATH / IF responses, end to end.

The Tülu 3.1 recipe samples 16 responses for each of 48 prompts per step (768). Responses
are built from real prompts in ../shared/data with <think> traces, right and wrong answers,
and are scored with verifiers.rewards.compute_rewards, exactly what the TRL reward function
calls. Prints the wall time (target: < 2 s on 2 cores) cold (fresh interpreter: verifier
imports, the MATH worker pool starting in the background) and warm (a second step), with the
CPU time this process used and the machine's load, since wall time on a shared machine
includes waiting for a core.

    python benchmarks/verifiers_grpo_batch.py

If verifiers.ifeval is not installed in this build, the IF share is reported as skipped and
the rest is scored.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gsm8k_items(data: Path, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    rows = rng.sample(_jsonl(data / "train" / "gsm8k_train.jsonl"), n)
    out = []
    for i, r in enumerate(rows):
        gold = r["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        steps = re.sub(r"<<[^>]*>>", "", r["answer"].rsplit("####", 1)[0]).strip()
        final = gold if i % 2 == 0 else str(int(float(gold)) + rng.randint(1, 5))
        resp = f"<think>Let me restate the problem. {r['question'][:200]}</think>\n{steps}\nThe answer is {final}."
        out.append((resp, gold, "gsm8k"))
    return out


def math_items(data: Path, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    rows = [r for r in _jsonl(data / "train" / "math_train.jsonl") if r.get("answer")]
    rows = rng.sample(rows, n)
    out = []
    for i, r in enumerate(rows):
        ans = r["answer"]
        if i % 2:
            ans = (
                re.sub(r"\d+", lambda m: str(int(m.group()) + 1), ans, count=1)
                if re.search(r"\d", ans)
                else "0"
            )
        resp = f"<think>Try small cases first, then generalise.</think>\nWorking through the algebra, we obtain $\\boxed{{{ans}}}$."
        out.append((resp, r["answer"], "MATH"))
    return out


def if_items(data: Path, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    rows = rng.sample(_jsonl(data / "eval" / "ifeval_input_data.jsonl"), n)
    out = []
    for i, r in enumerate(rows):
        kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in r["kwargs"]]
        truth = json.dumps([{"instruction_id": r["instruction_id_list"], "kwargs": kwargs}])
        text = " ".join(r["prompt"].split()[:80])
        resp = text.lower() if i % 2 else text.upper().replace(",", "")
        out.append((f"<think>Plan the reply.</think>\n{resp}", truth, "ifeval"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=768)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"shared data not found at {args.data} (pass --data)")
    from caravan.verifiers.rewards import compute_rewards

    rng = random.Random(args.seed)
    third = args.batch // 3
    has_ifeval = importlib.util.find_spec("caravan.verifiers.ifeval") is not None
    items = gsm8k_items(args.data, third, rng) + math_items(args.data, third, rng)
    if has_ifeval:
        items += if_items(args.data, args.batch - 2 * third, rng)
    else:
        print(
            f"verifiers.ifeval is not in this build: the IF share ({args.batch - 2 * third} "
            "responses) is skipped; scoring the GSM8K and MATH share only"
        )
        extra = args.batch - 2 * third
        items += gsm8k_items(args.data, extra // 2, rng) + math_items(
            args.data, extra - extra // 2, rng
        )
    rng.shuffle(items)
    responses, truths, datasets = zip(*items, strict=True)
    print(f"batch: {len(items)} responses on {os.cpu_count()} cores")
    for label in ("cold (pool starts)", "warm (next step)"):
        start, cpu = time.perf_counter(), time.process_time()
        results = compute_rewards(list(responses), list(truths), list(datasets))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        by: dict[str, list[float]] = {}
        errors = 0
        for (_, _, d), r in zip(items, results, strict=True):
            errors += r.reward is None
            by.setdefault(d, []).append(r.reward or 0.0)
        means = ", ".join(
            f"{d}: mean reward {sum(v) / len(v):.2f} (n={len(v)})" for d, v in sorted(by.items())
        )
        print(
            f"{label:20}: {elapsed:.2f} s  ({len(items) / elapsed:.0f} responses/s; {errors} errors;"
            f" {cpu:.2f} s CPU in this process)"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} cores (wall time above includes waiting)")
    print(means)


if __name__ == "__main__":
    main()
