"""Symbolic equality with sympy. Runs only inside pool workers (see verifiers.procpool).

sympy can hang or eat memory on hostile input (10^{10^{10}}, deep nesting), so this module is
never called in the caller's process: the pool enforces a per-item timeout and a memory limit.
sympy's LaTeX parser needs antlr4-python3-runtime 4.11.x (pinned in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from caravan.verifiers.math.compare import compare, fast_scalar
from caravan.verifiers.math.normalize import clean

_TOL = 1e-8


def warm_up() -> None:
    """Import sympy and its LaTeX parser once, before the first real item."""
    parse("1+x")


def parse(text: str) -> Any:
    import sympy
    from sympy.parsing.latex import parse_latex

    expr = parse_latex(clean(text))
    # The parser reads \\pi as a plain symbol; sin(\\pi) must be 0, not sin(pi).
    return expr.subs(sympy.Symbol("pi"), sympy.pi) if hasattr(expr, "subs") else expr


def _expr_equal(a: Any, b: Any) -> bool:
    import sympy

    if a == b:
        return True
    try:
        diff = sympy.simplify(a - b)
    except TypeError:
        return False
    if diff == 0:
        return True
    if diff.is_Rational:
        return False  # exact and non-zero: 10^{12}+1 is not 10^{12}, however large
    if diff.is_number:
        # In sympy's own floats: Python floats overflow to inf for 7^{4950}, and inf <= inf.
        value = abs(diff.evalf())
        scale = sympy.Max(1, abs(a.evalf())) if a.is_number else sympy.Integer(1)
        if not (value.is_finite and scale.is_finite):
            return False
        return bool(value <= _TOL * scale)
    return False


def _relation_equal(a: Any, b: Any) -> bool:
    import sympy

    if type(a) is not type(b):
        return False
    da, db = a.lhs - a.rhs, b.lhs - b.rhs
    if _expr_equal(da, db):
        return True
    return isinstance(a, sympy.Eq) and _expr_equal(da, -db)


def sympy_scalar(pred: str, gold: str) -> bool | None:
    """Fast path first; then parse both with sympy and compare."""
    import sympy

    verdict = fast_scalar(pred, gold)
    if verdict is not None:
        return verdict
    try:
        a, b = parse(pred), parse(gold)
    except Exception:  # noqa: BLE001 - any parse failure means "not shown equal"
        return False
    rel_a = isinstance(a, sympy.core.relational.Relational)
    rel_b = isinstance(b, sympy.core.relational.Relational)
    if rel_a and rel_b:
        return _relation_equal(a, b)
    if rel_a and isinstance(a, sympy.Eq) and a.lhs.is_Symbol:
        a = a.rhs
    if rel_b and isinstance(b, sympy.Eq) and b.lhs.is_Symbol:
        b = b.rhs
    if isinstance(a, sympy.core.relational.Relational) or isinstance(
        b, sympy.core.relational.Relational
    ):
        return False
    return _expr_equal(a, b)


def symbolic_equal(pairs: list[tuple[str, str]]) -> bool:
    """True when any (candidate, gold) pair is equal; the worker entry point."""
    return any(compare(p, g, sympy_scalar) for p, g in pairs)
