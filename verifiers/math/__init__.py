"""MATH answer checking ("flex"): extraction, a fast string/numeric path, then sympy.

Public API::

    is_correct(response, gold) -> bool
    check(response, gold) -> MathResult            # verdict, extracted answer, method, error
    is_correct_batch(responses, golds) -> list[bool]
    check_batch(responses, golds) -> list[MathResult]
    await is_correct_async(response, gold)
    extract_candidates(response) / extract_answer(response)

Answers are read the way Math-Verify reads them (see `extract` and `forms`): every LaTeX
display form, the last boxed answer (all of them when the gold is a set), relations and
inequalities compared as relations, chained equalities, labelled values such as `(p,q)=(3,2)`,
intervals written as inequalities, percent words, units, JSON-doubled backslashes.

The fast path (normalised strings, then a safe numeric evaluator) runs in the caller and
settles most items. Only what it cannot settle goes to sympy in a worker process pool with a
per-item timeout; a hung worker is killed and replaced, so a call never hangs and hostile
LaTeX cannot crash or stall the caller. The first call starts one worker in the background
and goes on with the fast path, so it does not wait for an interpreter start unless its own
items need sympy. Safe from threads and asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from caravan.verifiers.errors import VerificationError
from caravan.verifiers.math.compare import compare
from caravan.verifiers.math.extract import (
    all_boxed,
    extract_answer,
    extract_candidates,
    gold_answer,
)
from caravan.verifiers.math.forms import forms, is_list, join_answers
from caravan.verifiers.procpool import TimeoutPool, shared_pool

DEFAULT_TIMEOUT = 5.0
_MAX_PENDING = 12  # (reading, gold) pairs sent to sympy for one response


@dataclass(frozen=True)
class MathResult:
    """One verdict. `error` is set when sympy timed out or failed and nothing else matched."""

    correct: bool
    extracted: str | None
    method: str  # "fast", "symbolic" or "none"
    error: str | None = None


def symbolic_pool() -> TimeoutPool:
    """The process-wide sympy worker pool (created on first use)."""
    return shared_pool(
        "math",
        lambda: TimeoutPool(
            "caravan.verifiers.math.symbolic:symbolic_equal",
            warm_up="caravan.verifiers.math.symbolic:warm_up",
            timeout=DEFAULT_TIMEOUT,
        ),
    )


def _fast(response: str, gold: str) -> tuple[MathResult | None, list[tuple[str, str]]]:
    symbolic_pool().prestart()
    response = str(response)
    candidates = extract_candidates(response)
    golds = forms(gold_answer(str(gold)), gold=True)
    if any(is_list(g) for g in golds):  # a set-valued gold: several boxes are one answer
        boxes = all_boxed(response)
        if len(boxes) > 1:
            candidates.append(join_answers(boxes))
    first = candidates[0] if candidates else None
    pending: list[tuple[str, str]] = []
    for cand in candidates:
        for reading in forms(cand):
            for g in golds:
                verdict = compare(reading, g)
                if verdict:
                    return MathResult(True, cand, "fast"), []
                if verdict is None and len(pending) < _MAX_PENDING:
                    pending.append((reading, g))
    if not pending:
        return MathResult(False, first, "fast" if candidates else "none"), []
    return None, pending


def _from_outcome(outcome, extracted: str | None) -> MathResult:
    if outcome.ok:
        return MathResult(bool(outcome.value), extracted, "symbolic")
    return MathResult(False, extracted, "symbolic", f"symbolic check failed: {outcome.error}")


def check(response: str, gold: str, *, timeout: float | None = None) -> MathResult:
    """Judge one response against a gold answer (or a gold solution with a \\boxed{})."""
    if not str(gold).strip():
        return MathResult(False, None, "none", "empty gold answer")
    result, pending = _fast(response, gold)
    if result is not None:
        return result
    return _from_outcome(symbolic_pool().call(pending, timeout=timeout), pending[0][0])


def check_batch(
    responses: Sequence[str], golds: Sequence[str], *, timeout: float | None = None
) -> list[MathResult]:
    """Judge many responses; the items the fast path cannot settle run across all workers."""
    if len(responses) != len(golds):
        raise VerificationError(
            f"check_batch got {len(responses)} responses but {len(golds)} gold answers"
        )
    results: list[MathResult | None] = []
    todo: list[tuple[int, list[tuple[str, str]]]] = []
    for i, (resp, gold) in enumerate(zip(responses, golds, strict=True)):
        if not str(gold).strip():
            results.append(MathResult(False, None, "none", "empty gold answer"))
            continue
        result, pending = _fast(resp, gold)
        results.append(result)
        if result is None:
            todo.append((i, pending))
    if todo:
        outcomes = symbolic_pool().map([(pending,) for _, pending in todo], timeout=timeout)
        for (i, pending), outcome in zip(todo, outcomes, strict=True):
            results[i] = _from_outcome(outcome, pending[0][0])
    return [r for r in results if r is not None]


def is_correct(response: str, gold: str, *, timeout: float | None = None) -> bool:
    """True when any extracted candidate equals the gold answer."""
    return check(response, gold, timeout=timeout).correct


def is_correct_batch(
    responses: Sequence[str], golds: Sequence[str], *, timeout: float | None = None
) -> list[bool]:
    return [r.correct for r in check_batch(responses, golds, timeout=timeout)]


async def is_correct_async(response: str, gold: str, *, timeout: float | None = None) -> bool:
    """`is_correct` without blocking the event loop."""
    return await asyncio.to_thread(is_correct, response, gold, timeout=timeout)


def score(response: str, ground_truth: str, *, timeout: float | None = None) -> float:
    """1.0 or 0.0; raises VerificationError when the check itself failed."""
    result = check(response, ground_truth, timeout=timeout)
    if result.error and not result.correct:
        raise VerificationError(result.error)
    return 1.0 if result.correct else 0.0


__all__ = [
    "DEFAULT_TIMEOUT",
    "MathResult",
    "check",
    "check_batch",
    "extract_answer",
    "extract_candidates",
    "is_correct",
    "is_correct_async",
    "is_correct_batch",
    "score",
    "symbolic_pool",
]
