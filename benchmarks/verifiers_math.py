"""MATH verification: caravan's verifiers.math vs math-verify, agreement and speed side by side.

Inputs are model-style responses built from the real MATH answers in ../shared/data
(tests/fixtures/math_cases.py): each gold answer as written, re-spelled the way models write it
(\\dfrac, \\cfrac, units, "x =", chains, {,} separators, JSON-doubled backslashes, ...) or
deliberately wrong, inside a chain of thought in one of eight display forms (boxed, Minerva
"Final Answer", $..$, \\[..\\], $$..$$, \\(..\\), two boxes). Both checkers judge the same pairs.

    python benchmarks/verifiers_math.py --n 1200

Prints, for both checkers:
- warm speed: verifications/s with everything imported (caravan's worker pool started);
- cold speed: a fresh interpreter's first call (one item) and first batch, imports and any
  worker start included, measured in subprocesses;
- agreement, and the disagreements by category (who accepts, case kind, spelling, display);
- MATH-500 accuracy as each grader would report it (Qwen2.5-Math-eval style: one response per
  problem, share judged correct) for a simulated model whose true accuracy is known by
  construction (two thirds right as written or re-spelled, one third wrong), with false
  accepts / false rejects.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fixtures.math_cases

from tests.fixtures.math_cases import Case, build_cases, math_verify_verdicts  # noqa: E402
from tests.fixtures.shared_data import SHARED_DATA  # noqa: E402

_COLD = r"""
import json, sys, time
t0 = time.perf_counter()
which, path = sys.argv[1], sys.argv[2]
items = json.load(open(path))
if which == "caravan":
    from caravan.verifiers import math as vmath
    first = vmath.is_correct(items[0][0], items[0][1])
    t1 = time.perf_counter()
    vmath.is_correct_batch([r for r, _ in items[1:]], [g for _, g in items[1:]])
else:
    from math_verify import parse, verify
    def one(r, g):
        try:
            return bool(verify(parse(f"${g}$"), parse(r)))
        except Exception:
            return False
    first = one(*items[0])
    t1 = time.perf_counter()
    [one(r, g) for r, g in items[1:]]
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "batch": t2 - t0}))
"""


# Answers only sympy can settle (commands the fast evaluator does not know): right and wrong.
HARD = [
    ("\\binom{5}{2}", "10"),
    ("\\lfloor 7.5 \\rfloor", "8"),
    ("\\log_2 8", "3"),
]


def with_hard_items(cases: list[Case]) -> list[Case]:
    """The cold batch with the hard items spread through it (one of them first)."""
    out = list(cases)
    for k, (pred, gold) in enumerate(HARD):
        hard = Case(
            f"So the answer is $\\boxed{{{pred}}}$.", gold, "hard", "boxed", "sympy", "hard"
        )
        out.insert(k * len(cases) // len(HARD), hard)
    return out


def run_caravan_warm(cases: list[Case]) -> tuple[list[bool], float, dict[str, int]]:
    from caravan.verifiers import math as vmath

    pool = vmath.symbolic_pool()
    pool.map([([("x \\le 2", "x\\leq 2")],)] * pool.size)  # every worker started and warm
    start = time.perf_counter()
    results = vmath.check_batch([c.response for c in cases], [c.gold for c in cases])
    elapsed = time.perf_counter() - start
    methods: dict[str, int] = collections.Counter(
        r.method + (" (error)" if r.error else "") for r in results
    )
    return [r.correct for r in results], elapsed, dict(methods)


def run_math_verify_warm(cases: list[Case]) -> tuple[list[bool], float]:
    math_verify_verdicts(cases[:1])  # imports done
    start = time.perf_counter()
    verdicts = math_verify_verdicts(cases)
    return verdicts, time.perf_counter() - start


def run_cold(which: str, cases: list[Case]) -> dict[str, float]:
    """A fresh interpreter: the first call (one item), then the rest of the batch."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump([[c.response, c.gold] for c in cases], fh)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _COLD, which, fh.name],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=ROOT,
            check=True,
        )
    finally:
        Path(fh.name).unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def grader_accuracy(data: Path, seed: int) -> list[str]:
    """MATH-500 accuracy as each grader reports it (Qwen2.5-Math-eval style: one response per
    problem, the share judged correct), against the truth known by construction."""
    from caravan.verifiers import math as vmath

    cases = build_cases(data, 500, seed, sources=("math500",))
    truth = [c.kind != "wrong" for c in cases]
    ours = vmath.is_correct_batch([c.response for c in cases], [c.gold for c in cases])
    lines = [
        f"  truth (by construction) : {sum(truth) / len(cases):7.2%}  ({len(cases)} responses)"
    ]
    for name, verdicts in (("caravan", ours), ("math-verify", math_verify_verdicts(cases))):
        false_acc = sum(a and not t for a, t in zip(verdicts, truth, strict=True))
        false_rej = sum(t and not a for a, t in zip(verdicts, truth, strict=True))
        lines.append(
            f"  {name:24}: {sum(verdicts) / len(cases):7.2%}  (false accepts {false_acc}, "
            f"false rejects {false_rej})"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold-n", type=int, default=200, help="items in the cold first batch")
    ap.add_argument("--show", type=int, default=12, help="disagreements to print")
    ap.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"shared data not found at {args.data} (pass --data)")
    cases = build_cases(args.data, args.n, args.seed)
    n = len(cases)
    print(f"items: {n} model-style responses from shared MATH-500 + MATH train answers")

    print("cold (fresh interpreter, imports and worker start included):", flush=True)
    cold_cases = cases[: args.cold_n + 1]
    hard_cases = with_hard_items(cold_cases[: -len(HARD)])
    cold = {w: run_cold(w, cold_cases) for w in ("caravan", "math-verify")}
    hard = {w: run_cold(w, hard_cases) for w in ("caravan", "math-verify")}
    rows = (
        ("first call (1 item)", cold, "first"),
        (f"first {len(cold_cases)}", cold, "batch"),
        ("first call, sympy item", hard, "first"),
        (f"first {len(hard_cases)}, {len(HARD)} sympy", hard, "batch"),
    )
    for label, runs, key in rows:
        a, b = runs["caravan"][key], runs["math-verify"][key]
        print(f"  {label:24}: caravan {a:6.3f} s  math-verify {b:6.3f} s  -> {b / a:5.1f}x")

    ours, t_ours, methods = run_caravan_warm(cases)
    theirs, t_theirs = run_math_verify_warm(cases)
    print("warm (imports done, caravan's pool started):")
    print(f"  caravan verifiers.math : {n / t_ours:9.0f} verifications/s ({t_ours:.2f} s)")
    print(f"  math-verify            : {n / t_theirs:9.0f} verifications/s ({t_theirs:.2f} s)")
    print(f"  speed-up               : {t_theirs / t_ours:9.1f}x")
    print(f"  caravan paths          : {methods}")

    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"agreement: {agree / n:.2%} ({n - agree} disagreements)")
    by: collections.Counter[str] = collections.Counter()
    for case, a, b in zip(cases, ours, theirs, strict=True):
        if a != b:
            who = "caravan accepts" if a else "math-verify accepts"
            by[f"{who:19} {case.kind:8} {case.style:15} {case.display}"] += 1
    for what, count in by.most_common():
        print(f"  {count:4d}  {what}")
    print("MATH-500 accuracy as each grader reports it:")
    for line in grader_accuracy(args.data, args.seed):
        print(line)
    shown = 0
    for case, a, b in zip(cases, ours, theirs, strict=True):
        if a != b and shown < args.show:
            tail = case.response.rsplit("\n", 1)[-1][-70:]
            print(f"  caravan={a!s:5} math-verify={b!s:5} gold={case.gold!r} pred=...{tail!r}")
            shown += 1


if __name__ == "__main__":
    main()
