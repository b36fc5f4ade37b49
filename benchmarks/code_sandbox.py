"""Code verifier throughput: the bubblewrap sandbox beside the previous audit-hook runner.

Real HumanEval problems from ../shared/data/eval/humaneval.jsonl, each with an honest right
solution (the dataset's canonical one) and an honest wrong one (the prompt with a trivial
body). Three measurements, each for the current verifiers.code and for the previous
implementation (`git show <anchor>:verifiers/code/...`, copied to a temp dir at run time):

1. HumanEval check() tests per second (one test per problem, the script/proxy path);
2. split asserts per second: the check's `assert candidate(...) == <literal>` lines as
   separate tests (the decomposed path: value computed inside, compared outside);
3. a GRPO step of code rollouts (prompts x 16 samples, half right, scored two responses at a
   time as the `code` verifier does), timed on --grpo-prompts prompts and scaled to 768;
   run twice, the ratio uses the second (warm) step.

Workers are 2 (this machine's cores) for both. The first batch of each implementation is cold
(isolation probe, first sandbox). Prints figures, and pass fractions as a correctness check
(right solutions must pass, wrong ones fail, in both implementations).

    PYTHONPATH=. python benchmarks/code_sandbox.py [--problems 164] [--grpo-prompts 6]
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OLD_FILES = ("__init__.py", "sandbox.py", "bootstrap.py")


def load_previous(anchor: str, into: Path) -> ModuleType:
    """The previous verifiers.code as a package `previous_code` under `into`."""
    pkg = into / "previous_code"
    pkg.mkdir()
    for name in OLD_FILES:
        text = subprocess.run(
            ["git", "show", f"{anchor}:verifiers/code/{name}"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        # The anchor predates the caravan.* namespace: its flat `verifiers` imports move too.
        text = text.replace("verifiers.code.sandbox", "previous_code.sandbox")
        text = text.replace("from verifiers.", "from caravan.verifiers.")
        (pkg / name).write_text(text.replace("caravan.previous_code", "previous_code"))
    sys.path.insert(0, str(into))
    return importlib.import_module("previous_code")


def split_asserts(row: dict, limit: int = 3) -> list[str]:
    """`assert candidate(...) == <literal>` lines of a HumanEval check, as standalone asserts."""
    out = []
    for node in ast.walk(ast.parse(row["test"])):
        if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)):
            continue
        left = node.test.left
        if not (isinstance(left, ast.Call) and getattr(left.func, "id", "") == "candidate"):
            continue
        try:
            ast.literal_eval(node.test.comparators[0])
        except ValueError:
            continue
        left.func = ast.Name(row["entry_point"], ast.Load())
        out.append(ast.unparse(node))
        if len(out) == limit:
            break
    return out


def wrong_solution(row: dict) -> str:
    return row["prompt"] + "    return None\n"


def timed_batch(
    mod: ModuleType, jobs: list[tuple[str, object]], workers: int
) -> tuple[float, float]:
    """(seconds, mean pass fraction) to score every (code, tests) job."""

    def one(job: tuple[str, object]) -> float:
        return mod.run_tests(job[0], job[1], workers=1).pass_fraction

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        fractions = list(ex.map(one, jobs))
    return time.perf_counter() - start, sum(fractions) / len(fractions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=164)
    ap.add_argument("--grpo-prompts", type=int, default=6, help="prompts x 16 rollouts timed")
    ap.add_argument("--anchor", default="bb58aa6", help="git revision of the previous runner")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    path = args.data / "eval" / "humaneval.jsonl"
    if not path.exists():
        sys.exit(f"no HumanEval data at {path}")
    rows = [json.loads(line) for line in path.read_text().splitlines()][: args.problems]

    import caravan.verifiers.code as current
    from caravan.verifiers.code import isolation

    iso = isolation.probe()
    print(f"isolation: {iso.reason}")
    workers = 2
    with tempfile.TemporaryDirectory() as tmp:
        previous = load_previous(args.anchor, Path(tmp))
        impls = {"previous": previous, "current": current}
        right = [(r["prompt"] + r["canonical_solution"], r) for r in rows]
        check = {
            "right": [(c, {"test": r["test"], "entry_point": r["entry_point"]}) for c, r in right],
            "wrong": [
                (wrong_solution(r), {"test": r["test"], "entry_point": r["entry_point"]})
                for r in rows
            ],
        }
        asserts = [(c, split_asserts(r)) for c, r in right if split_asserts(r)]
        wrong_asserts = [(wrong_solution(r), split_asserts(r)) for r in rows if split_asserts(r)]
        n_asserts = sum(len(t) for _, t in asserts)
        print(f"{len(rows)} HumanEval problems; {n_asserts} split asserts from {len(asserts)}")
        results: dict[str, dict[str, float]] = {}
        for name, mod in impls.items():
            res = results.setdefault(name, {})
            secs, frac = timed_batch(mod, check["right"], workers)
            res["check_tps"] = len(rows) / secs
            _, wrong_frac = timed_batch(mod, check["wrong"], workers)
            print(f"[{name}] check(): {len(rows)} tests in {secs:.1f}s = "
                  f"{res['check_tps']:.1f} tests/s; right pass {frac:.3f}, "
                  f"wrong pass {wrong_frac:.3f}")  # fmt: skip
            secs, frac = timed_batch(mod, asserts, workers)
            res["assert_tps"] = n_asserts / secs
            _, wrong_frac = timed_batch(mod, wrong_asserts, workers)
            print(f"[{name}] split asserts: {n_asserts} tests in {secs:.1f}s = "
                  f"{res['assert_tps']:.1f} tests/s; right pass {frac:.3f}, "
                  f"wrong pass {wrong_frac:.3f}")  # fmt: skip
            grpo = []
            for r in rows[: args.grpo_prompts]:
                truth = {"test": r["test"], "entry_point": r["entry_point"]}
                for k in range(16):
                    code = r["prompt"] + r["canonical_solution"] if k % 2 else wrong_solution(r)
                    grpo.append((code, truth))
            for run in ("first", "second"):
                secs, frac = timed_batch(mod, grpo, workers)
                res["grpo_768_s"] = secs / len(grpo) * 768
                print(f"[{name}] GRPO ({run} step): {len(grpo)} rollouts in {secs:.1f}s -> "
                      f"768 rollouts ~{res['grpo_768_s']:.0f}s (mean pass {frac:.2f})")  # fmt: skip
        ratio = results["current"]["grpo_768_s"] / results["previous"]["grpo_768_s"]
        print(
            f"current/previous time: GRPO step x{ratio:.2f} (target <= ~2), "
            f"check() x{results['previous']['check_tps'] / results['current']['check_tps']:.2f}, "
            f"asserts x{results['previous']['assert_tps'] / results['current']['assert_tps']:.2f}"
        )


if __name__ == "__main__":
    main()
