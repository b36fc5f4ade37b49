"""Code verifier: run a model's Python against tests in the sandbox (verifiers.code.sandbox).

Tests come in two styles: assert-style (test code appended to the solution; passes when the
program runs to the end: an early `exit(0)` does not count) and stdin/stdout (the solution
reads the input, its output must match line by line, trailing whitespace ignored). Each test
runs in its own sandboxed process; a result gives the pass fraction and every test's outcome.

Ground-truth formats accepted (a JSON string or the decoded value):
  ["assert f(1) == 2", ...]                           assert-style, one test per string
  [{"input": "1 2\\n", "output": "3\\n"}, ...]         stdin/stdout
  {"inputs": [...], "outputs": [...]}                 stdin/stdout (APPS/TACO layout)
  {"test": "def check(candidate): ...", "entry_point": "f"}   HumanEval layout
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from verifiers.code.sandbox import Limits, RunResult, network_isolation, run_python
from verifiers.errors import VerificationError

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class TestCase:
    kind: str  # "assert" or "stdio"
    code: str = ""
    input: str = ""
    output: str = ""


@dataclass(frozen=True)
class TestOutcome:
    index: int
    kind: str
    passed: bool
    status: str  # passed, failed, wrong_answer, error, timeout, memory, killed
    detail: str = ""


@dataclass
class CodeResult:
    pass_fraction: float
    outcomes: list[TestOutcome] = field(default_factory=list)

    @property
    def all_passed(self) -> bool:
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)


def extract_code(response: str) -> str:
    """The last fenced Python block of a response, or the whole response if it has none."""
    blocks = _FENCE.findall(response)
    return blocks[-1] if blocks else response


def parse_tests(ground_truth: Any) -> list[TestCase]:
    """Read tests from any of the accepted layouts; raise VerificationError otherwise."""
    data = ground_truth
    if isinstance(ground_truth, str):
        try:
            data = json.loads(ground_truth)
        except json.JSONDecodeError:
            return [TestCase("assert", code=ground_truth)]
    if isinstance(data, str):
        return [TestCase("assert", code=data)]
    if isinstance(data, dict):
        if "test" in data:
            entry = data.get("entry_point")
            code = data["test"] + (f"\n\ncheck({entry})\n" if entry else "")
            return [TestCase("assert", code=code)]
        if "inputs" in data and "outputs" in data:
            ins, outs = data["inputs"], data["outputs"]
            if len(ins) != len(outs):
                raise VerificationError(f"code tests: {len(ins)} inputs but {len(outs)} outputs")
            fn = data.get("fn_name")
            if fn:
                return [
                    TestCase("assert", code=f"assert {fn}(*{i!r}) == {o!r}")
                    for i, o in zip(ins, outs, strict=True)
                ]
            return [
                TestCase("stdio", input=str(i), output=str(o))
                for i, o in zip(ins, outs, strict=True)
            ]
    if isinstance(data, list) and data:
        tests = []
        for i, item in enumerate(data):
            if isinstance(item, str):
                tests.append(TestCase("assert", code=item))
            elif isinstance(item, dict) and "input" in item and "output" in item:
                tests.append(
                    TestCase("stdio", input=str(item["input"]), output=str(item["output"]))
                )
            else:
                raise VerificationError(
                    f"code tests: item {i} is neither an assert nor input/output"
                )
        return tests
    raise VerificationError(
        "code tests must be a list of asserts, a list of {input, output}, "
        "{inputs, outputs} or {test, entry_point}"
    )


def _same_output(got: str, want: str) -> bool:
    def lines(s: str) -> list[str]:
        out = [line.rstrip() for line in s.strip().splitlines()]
        return out

    return lines(got) == lines(want)


def _judge(index: int, test: TestCase, run: RunResult) -> TestOutcome:
    err_tail = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    if run.timed_out:
        return TestOutcome(index, test.kind, False, "timeout", "wall-clock limit")
    if run.killed_by in ("SIGXCPU", "SIGKILL"):
        return TestOutcome(index, test.kind, False, "timeout", f"killed by {run.killed_by}")
    if "MemoryError" in err_tail:
        return TestOutcome(index, test.kind, False, "memory", err_tail[:200])
    if run.killed_by is not None:
        return TestOutcome(index, test.kind, False, "killed", f"killed by {run.killed_by}")
    if run.returncode != 0:
        status = "failed" if err_tail.startswith("AssertionError") else "error"
        return TestOutcome(index, test.kind, False, status, err_tail[:200])
    if test.kind == "assert":
        if not run.token_seen:
            return TestOutcome(
                index, test.kind, False, "failed", "program exited before the tests ran"
            )
        return TestOutcome(index, test.kind, True, "passed")
    if _same_output(run.stdout, test.output):
        return TestOutcome(index, test.kind, True, "passed")
    return TestOutcome(index, test.kind, False, "wrong_answer", run.stdout[-200:])


def _run_one(index: int, code: str, test: TestCase, limits: Limits | None) -> TestOutcome:
    if test.kind == "assert":
        run = run_python(code + "\n\n" + test.code + "\n", limits=limits, expect_token=True)
    else:
        run = run_python(code, stdin=test.input, limits=limits)
    return _judge(index, test, run)


def run_tests(
    code: str,
    tests: Sequence[TestCase] | Any,
    *,
    limits: Limits | None = None,
    workers: int | None = None,
) -> CodeResult:
    """Run every test in its own sandboxed process; the pass fraction and each outcome."""
    cases = list(tests) if tests and isinstance(next(iter(tests)), TestCase) else parse_tests(tests)
    if not cases:
        raise VerificationError("code verifier got no tests")
    n = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=min(n, len(cases))) as ex:
        outcomes = list(ex.map(lambda it: _run_one(it[0], code, it[1], limits), enumerate(cases)))
    passed = sum(o.passed for o in outcomes)
    return CodeResult(passed / len(outcomes), outcomes)


def score(response: str, ground_truth: Any) -> float:
    """Fraction of tests the response's code passes (0.0 .. 1.0)."""
    return run_tests(extract_code(response), parse_tests(ground_truth)).pass_fraction


__all__ = [
    "CodeResult",
    "Limits",
    "TestCase",
    "TestOutcome",
    "extract_code",
    "network_isolation",
    "parse_tests",
    "run_python",
    "run_tests",
    "score",
]
