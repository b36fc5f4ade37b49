"""MATH verification speed and agreement: caravan's verifiers.math vs math-verify.

Inputs are built from real MATH answers (../shared/data eval/math500_test.jsonl and
train/math_train.jsonl): each gold answer is put into a model-style response (boxed with
reasoning, Minerva "Final Answer", last $...$), either as written, re-formatted the way
models write it (\\dfrac, spaces, "x =", \\left( \\right), decimals), or deliberately wrong
(a changed number, or another problem's answer). Both libraries judge the same pairs.

    python benchmarks/verifiers_math.py --n 2000

Prints verifications/s for each (caravan timed warm: its worker pool started first), the
speed-up, the agreement rate and a sample of disagreements.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

WRAPPERS = [
    "Let's compute step by step. After simplifying we get the result.\n\nThe answer is $\\boxed{{{a}}}$.",
    "First we set up the equation and solve it carefully.\n\nFinal Answer: The final answer is ${a}$. I hope it is correct.",
    "We check each case; only one works, so the answer is ${a}$.",
    "**Solution.** Combining the two results gives \\[\\boxed{{{a}}}\\]",
]


def restyle(answer: str, rng: random.Random) -> str:
    """An equivalent spelling of `answer`, as models tend to write it."""
    choices = [
        lambda s: s.replace("\\frac", "\\dfrac"),
        lambda s: s.replace(",", ", "),
        lambda s: f"x = {s}" if re.fullmatch(r"-?\d+", s) else s,
        lambda s: (
            s.replace("(", "\\left(").replace(")", "\\right)")
            if "(" in s and "\\left" not in s
            else s
        ),
        lambda s: (
            str(int(s.split("/")[0]) / int(s.split("/")[1])) if re.fullmatch(r"\d+/\d+", s) else s
        ),
        lambda s: f"{s}.0" if re.fullmatch(r"-?\d+", s) else s,
        lambda s: s.replace(" ", ""),
        lambda s: re.sub(r"\\frac\{(\d+)\}\{(\d+)\}", r"\1/\2", s),
        lambda s: "+".join(reversed(s.split("+"))) if s.count("+") == 1 and "{" not in s else s,
        lambda s: re.sub(r"^(\d+)\\sqrt\{(\d+)\}$", r"\\sqrt{\2}\\cdot \1", s),
    ]
    return rng.choice(choices)(answer)


def corrupt(answer: str, others: list[str], rng: random.Random) -> str:
    """A wrong answer: bump one number, or borrow another problem's answer."""
    numbers = list(re.finditer(r"\d+", answer))
    if numbers and rng.random() < 0.7:
        m = rng.choice(numbers)
        return answer[: m.start()] + str(int(m.group()) + rng.randint(1, 9)) + answer[m.end() :]
    other = rng.choice(others)
    return other if other != answer else answer + "+1"


def build(n: int, seed: int, data: Path = DATA) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    golds = []
    for name in ("eval/math500_test.jsonl", "train/math_train.jsonl"):
        for line in (data / name).read_text().splitlines():
            ans = json.loads(line).get("answer")
            if ans:
                golds.append(ans)
    rng.shuffle(golds)
    golds = golds[:n]
    pairs = []
    for i, gold in enumerate(golds):
        kind = i % 3
        pred = gold if kind == 0 else restyle(gold, rng) if kind == 1 else corrupt(gold, golds, rng)
        pairs.append((rng.choice(WRAPPERS).format(a=pred), gold))
    return pairs


def run_caravan(pairs: list[tuple[str, str]]) -> tuple[list[bool], float, dict]:
    from verifiers import math as vmath

    vmath.check("$\\boxed{x \\ge 1}$", "x \\geq 1")  # start the worker pool (one-off cost)
    pool = vmath.symbolic_pool()
    for _ in range(pool.size):  # and every worker in it
        pool.map([([("x \\le 2", "x\\leq 2")],)] * pool.size)
    start = time.perf_counter()
    results = vmath.check_batch([p for p, _ in pairs], [g for _, g in pairs])
    elapsed = time.perf_counter() - start
    methods: dict[str, int] = {}
    for r in results:
        key = r.method + (" (error)" if r.error else "")
        methods[key] = methods.get(key, 0) + 1
    return [r.correct for r in results], elapsed, methods


def run_math_verify(pairs: list[tuple[str, str]]) -> tuple[list[bool], float]:
    from math_verify import parse, verify

    out = []
    start = time.perf_counter()
    for pred, gold in pairs:
        try:
            out.append(bool(verify(parse(f"${gold}$"), parse(pred))))
        except Exception:  # noqa: BLE001 - count a crash as "not verified"
            out.append(False)
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=15, help="disagreements to print")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"shared data not found at {args.data} (pass --data)")
    pairs = build(args.n, args.seed, args.data)
    ours, t_ours, methods = run_caravan(pairs)
    theirs, t_theirs = run_math_verify(pairs)
    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    n = len(pairs)
    print(f"items: {n} ({sum(theirs)} judged correct by math-verify, {sum(ours)} by caravan)")
    print(f"caravan verifiers.math : {n / t_ours:10.0f} verifications/s ({t_ours:.2f} s)")
    print(f"math-verify 0.9        : {n / t_theirs:10.0f} verifications/s ({t_theirs:.2f} s)")
    print(f"speed-up               : {t_theirs / t_ours:10.1f}x")
    print(f"agreement              : {agree / n:10.2%} ({n - agree} disagreements)")
    print(f"caravan paths          : {methods}")
    shown = 0
    for (pred, gold), a, b in zip(pairs, ours, theirs, strict=True):
        if a != b and shown < args.show:
            tail = pred.rsplit("\n", 1)[-1][-70:]
            print(f"  caravan={a!s:5} math-verify={b!s:5} gold={gold!r} pred=...{tail!r}")
            shown += 1


if __name__ == "__main__":
    main()
