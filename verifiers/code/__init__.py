"""Code verifier: run a model's Python against tests in an OS sandbox (verifiers.code.sandbox).

Tests come in two styles: assert-style and stdin/stdout. Each test runs in its own sandbox;
a result gives the pass fraction and every test's outcome. Verdicts never trust what the
candidate can shape:

* stdin/stdout: the candidate's stdout is compared here, outside the sandbox.
* `assert <expr> <op> <literal>` (and `assert <expr>` / `assert not <expr>`): only `<expr>` is
  sent into the sandbox; its value comes back as builtin types (values.py) and is compared
  here with the literal, which the sandbox never sees. Custom classes (an always-true
  `__eq__`) cannot be encoded and fail.
* anything else (HumanEval's `check(candidate)`, multi-line tests) runs in the sandbox's
  harness process, outside the candidate's process: the program's functions become proxies
  that call into the candidate and return builtin values; only the harness, after the test
  code finished, writes "passed" to a channel the candidate cannot reach.
An early `exit(0)`, `os._exit(0)`, excepthook/atexit tricks or printed markers produce no
verdict, so the test fails.

Ground-truth formats accepted (a JSON string or the decoded value):
  ["assert f(1) == 2", ...]                           assert-style, one test per string
  [{"input": "1 2\\n", "output": "3\\n"}, ...]         stdin/stdout
  {"inputs": [...], "outputs": [...]}                 stdin/stdout (APPS/TACO layout)
  {"test": "def check(candidate): ...", "entry_point": "f"}   HumanEval layout
"""

from __future__ import annotations

import ast
import builtins
import json
import operator
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from caravan.verifiers.code.sandbox import (
    Limits,
    RunResult,
    SandboxUnavailable,
    network_isolation,
    run_python,
    set_unsafe_local_exec,
)
from caravan.verifiers.code.values import decode_value
from caravan.verifiers.errors import VerificationError

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
        return [line.rstrip() for line in s.strip().splitlines()]

    return lines(got) == lines(want)


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: operator.contains(b, a),
    ast.NotIn: lambda a, b: not operator.contains(b, a),
}
_SWAPPED = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}


@dataclass(frozen=True)
class _Check:
    """A decomposed assert: `expr` runs in the sandbox, `judge(value)` runs here."""

    expr: str
    judge: Callable[[Any], bool]


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _candidate_call(node: ast.expr) -> bool:
    """A direct call of the program's own function: its result leaves the sandbox as is.

    Anything else (`abs(f(x) - 2)`, `len(f(x))`, `f(x)[0]`) would run operators of the
    candidate's objects inside the sandbox, with test literals as operands, so it is left
    to the harness, which computes on builtin values only.
    """
    if not isinstance(node, ast.Call):
        return False
    root = node.func
    while isinstance(root, ast.Attribute | ast.Call | ast.Subscript):
        root = root.func if isinstance(root, ast.Call) else root.value
    return isinstance(root, ast.Name) and not hasattr(builtins, root.id)


def decompose_assert(code: str) -> _Check | None:
    """Split a one-line `assert` into a sandboxed expression and a comparison done here."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    negate = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negate = test.operand, True
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = type(test.ops[0]), test.left, test.comparators[0]
        ok_right, expected = _literal(right)
        if not ok_right and op in (ast.Eq, ast.NotEq, *_SWAPPED):
            ok_left, expected = _literal(left)
            if ok_left:
                left, op = right, _SWAPPED.get(op, op)
                ok_right = True
        if ok_right and op in _COMPARE and _candidate_call(left):
            if op in (ast.Is, ast.IsNot) and expected not in (None, True, False):
                return None
            fn = _COMPARE[op]
            return _Check(ast.unparse(left), lambda v: bool(fn(v, expected)) != negate)
        return None
    if _candidate_call(test):
        return _Check(ast.unparse(test), lambda v: bool(v) != negate)
    return None


def _tail(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


def _failure(index: int, test: TestCase, run: RunResult) -> TestOutcome | None:
    """The outcome when the run itself went wrong (limits, crash, no verdict)."""
    if run.timed_out:
        return TestOutcome(index, test.kind, False, "timeout", "wall-clock limit")
    killed = run.killed_by
    if killed in ("SIGXCPU", "SIGKILL"):
        return TestOutcome(index, test.kind, False, "timeout", f"killed by {killed}")
    err = _tail(run.stderr)
    if "MemoryError" in err:
        return TestOutcome(index, test.kind, False, "memory", err[:200])
    if killed is not None:
        return TestOutcome(index, test.kind, False, "killed", f"killed by {killed}")
    return None


def _judge(index: int, test: TestCase, run: RunResult, check: _Check | None) -> TestOutcome:
    verdict = next((v for v in run.verdicts if "exit" not in v), None)
    if test.kind == "stdio":
        failed = _failure(index, test, run)
        if failed:
            return failed
        code = run.exit.get("code")
        if code != 0:
            return TestOutcome(index, test.kind, False, "error", _tail(run.stderr)[:200])
        if _same_output(run.stdout, test.output):
            return TestOutcome(index, test.kind, True, "passed")
        return TestOutcome(index, test.kind, False, "wrong_answer", run.stdout[-200:])
    if verdict is None or "gone" in verdict:
        failed = _failure(index, test, run)
        if failed:
            return failed
        detail = _tail(run.stderr) or (verdict or {}).get("gone", "no verdict from the harness")
        status = "failed" if detail.startswith(("AssertionError", "SystemExit")) else "error"
        if verdict and not run.stderr.strip():
            status = "failed"  # exited early without an error: the tests never ran
        return TestOutcome(index, test.kind, False, status, str(detail)[:200])
    if "failed" in verdict:
        return TestOutcome(index, test.kind, False, "failed", str(verdict["failed"])[:200])
    if "error" in verdict:
        detail = str(verdict["error"])
        status = "memory" if "MemoryError" in detail else "error"
        return TestOutcome(index, test.kind, False, status, detail[:200])
    if check is not None and "value" in verdict:
        try:
            value = decode_value(str(verdict["value"]))
            ok = check.judge(value)
        except Exception as exc:  # noqa: BLE001 - unorderable/malformed values fail the test
            return TestOutcome(index, test.kind, False, "error", f"{type(exc).__name__}: {exc}")
        if ok:
            return TestOutcome(index, test.kind, True, "passed")
        return TestOutcome(index, test.kind, False, "failed", f"got {value!r}"[:200])
    if check is None and verdict.get("passed") is True:
        return TestOutcome(index, test.kind, True, "passed")
    return TestOutcome(index, test.kind, False, "error", "unexpected verdict")


def _run_one(
    index: int, code: str, test: TestCase, limits: Limits | None, unsafe: bool | None
) -> TestOutcome:
    check = None
    if test.kind == "assert":
        check = decompose_assert(test.code)
        job = (
            {"mode": "eval", "expr": check.expr} if check else {"mode": "script", "code": test.code}
        )
        run = run_python(code, limits=limits, test=job, unsafe_local_exec=unsafe)
    else:
        run = run_python(code, stdin=test.input, limits=limits, unsafe_local_exec=unsafe)
    return _judge(index, test, run, check)


def run_tests(
    code: str,
    tests: Sequence[TestCase] | Any,
    *,
    limits: Limits | None = None,
    workers: int | None = None,
    unsafe_local_exec: bool | None = None,
) -> CodeResult:
    """Run every test in its own sandbox; the pass fraction and each outcome.

    Raises SandboxUnavailable where the machine offers no OS isolation, unless
    `unsafe_local_exec=True` (or `set_unsafe_local_exec(True)`) says to run it anyway.
    """
    cases = list(tests) if tests and isinstance(next(iter(tests)), TestCase) else parse_tests(tests)
    if not cases:
        raise VerificationError("code verifier got no tests")
    n = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=min(n, len(cases))) as ex:
        outcomes = list(
            ex.map(
                lambda it: _run_one(it[0], code, it[1], limits, unsafe_local_exec),
                enumerate(cases),
            )
        )
    passed = sum(o.passed for o in outcomes)
    return CodeResult(passed / len(outcomes), outcomes)


def score(response: str, ground_truth: Any) -> float:
    """Fraction of tests the response's code passes (0.0 .. 1.0)."""
    return run_tests(extract_code(response), parse_tests(ground_truth)).pass_fraction


__all__ = [
    "CodeResult",
    "Limits",
    "SandboxUnavailable",
    "TestCase",
    "TestOutcome",
    "decompose_assert",
    "extract_code",
    "network_isolation",
    "parse_tests",
    "run_python",
    "run_tests",
    "score",
    "set_unsafe_local_exec",
]
