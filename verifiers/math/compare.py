"""Compare a candidate answer with the gold: strings, structure, then numbers.

`compare` returns True/False when it can tell, None when only symbolic algebra can. The
structure layer handles what MATH answers are made of beyond scalars: tuples and intervals
(ordered; brackets must agree), sets and bare comma lists (unordered), unions of intervals and
matrices (element by element). Scalars go to a pluggable comparator, so the same code runs
in-process with the numeric evaluator and in the worker with sympy behind it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from caravan.verifiers.math.normalize import clean, is_thousands, normalize
from caravan.verifiers.math.numeric import (
    Undecided,
    evaluate,
    numerically_equal,
    proportional,
    variables,
)
from caravan.verifiers.math.numeric import parse as parse_expr

Scalar = Callable[[str, str], bool | None]
_MATRIX = re.compile(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*?)\\end\{\1\}", re.S)
_LITERAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_LONG_DECIMAL = re.compile(r"-?\d+\.\d{6,}")
_BASE = re.compile(r"^(-?[0-9A-Za-z]+)_\{?(\d+)\}?$")  # 10200_3: a numeral in base 3


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside any brackets or braces."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _well_nested(text: str) -> bool:
    """Every bracket closed by its own kind, in order (escaped braces count as braces)."""
    stack: list[str] = []
    for ch in text.replace("\\{", "{").replace("\\}", "}"):
        if ch in "([{":
            stack.append({"(": ")", "[": "]", "{": "}"}[ch])
        elif ch in ")]}" and (not stack or stack.pop() != ch):
            return False
    return not stack


def _balanced(inner: str) -> bool:
    depth = 0
    for ch in inner:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def structure(text: str) -> tuple[str, str, list[str]]:
    """(kind, brackets, elements): kind is scalar, tuple, set, list, union or matrix."""
    bare = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", text).strip().rstrip(".").strip()
    if bare[:1] in "([" and bare[-1:] in ")]" and bare[1:].lstrip().startswith("\\begin"):
        bare = bare[1:-1].strip()  # \left[\begin{array}...\end{array}\right]
    m = _MATRIX.fullmatch(bare)  # the whole answer: -\begin{pmatrix}...\end{pmatrix} is not one
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        cells = [c.strip() for r in rows for c in r.split("&")]
        return "matrix", f"{len(rows)}x{len(cells) // max(len(rows), 1)}", cells
    s = clean(text)
    if "\\cup" in s:
        parts = split_top(s, "\\cup")
        if len(parts) > 1:
            return "union", "", parts
    if s.startswith("\\{") and s.endswith("\\}"):
        return "set", "", [p for p in split_top(s[2:-2]) if p]
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _balanced(s[1:-1]):
        parts = split_top(s[1:-1])
        if len(parts) > 1:
            return "tuple", s[0] + s[-1], parts
    if not is_thousands(s):
        parts = split_top(s)
        if len(parts) > 1 and all(parts):
            return "list", "", parts
    return "scalar", "", [s]


def _base_numeral(norm: str) -> tuple[str, str | None]:
    m = _BASE.match(norm)
    return (m[1].lower(), m[2]) if m else (norm.lower(), None)


def fast_scalar(pred: str, gold: str) -> bool | None:
    """Scalar comparison without sympy: normalised strings, then the numeric evaluator."""
    np_, ng = normalize(pred), normalize(gold)
    if np_ == ng:
        return True
    if _BASE.match(np_) or _BASE.match(ng):
        (dp, bp), (dg, bg) = _base_numeral(np_), _base_numeral(ng)
        return dp == dg and (bp is None or bg is None or bp == bg)
    if "\\infty" in np_ or "\\infty" in ng:
        return False  # written canonically; the evaluator has no infinity
    if not (_well_nested(np_) and _well_nested(ng)):
        return False  # "[x+1)(x-1)" is no expression: nothing can show it equal
    if _LITERAL.fullmatch(np_) and _LITERAL.fullmatch(ng):
        return Decimal(np_) == Decimal(ng)  # 11111111102 is not 11111111100 (no tolerance)
    if _LONG_DECIMAL.fullmatch(np_):
        rounded = _rounds_to(np_, clean(gold))
        if rounded is not None:
            return rounded
    try:
        return numerically_equal(clean(pred), clean(gold))
    except Undecided:
        return None


def _rounds_to(decimal: str, gold: str) -> bool | None:
    """A decimal written to 6+ places equals a constant gold it correctly rounds (0.333333 is
    1/3, as graders with a float tolerance count it; 0.33 is not). None: gold not a constant."""
    try:
        node = parse_expr(gold)
        if variables(node):
            return None
        value = evaluate(node, {})
    except (Undecided, ZeroDivisionError, OverflowError, ValueError):
        return None
    places = len(decimal.split(".", 1)[1])
    if abs(value.imag) > 1e-12:
        return False
    return abs(value.real - float(decimal)) <= 0.5 * 10.0**-places * (1 + 1e-9)


def _unordered(pred: list[str], gold: list[str], scalar: Scalar) -> bool | None:
    if len(pred) != len(gold):
        return False
    remaining = list(gold)
    unsure = False
    for p in pred:
        hit, maybe = None, False
        for j, g in enumerate(remaining):
            verdict = compare(p, g, scalar)
            if verdict:
                hit = j
                break
            maybe = maybe or verdict is None
        if hit is not None:
            del remaining[hit]
        elif maybe:
            unsure = True
        else:
            return False
    return None if unsure else True


_REL_OP = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\ne(?![a-zA-Z])|<|>|=")
# operator -> (canonical operator, sides swapped): a > b is b < a.
_ORIENT = {"=": ("=", False), "\\ne": ("\\ne", False), "<": ("<", False), ">": ("<", True),
           "\\le": ("\\le", False), "\\ge": ("\\le", True)}  # fmt: skip


def split_relation(text: str) -> tuple[list[str], list[str]]:
    """(sides, operators) at the top level (outside brackets)."""
    sides, ops, depth, start, i = [], [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            m = _REL_OP.match(text, i)
            if m and not (ch == "\\" and text[i - 1 : i] == "\\"):
                sides.append(text[start:i].strip())
                ops.append(m.group(0))
                i = start = m.end()
                continue
        i += 1
    sides.append(text[start:].strip())
    return sides, ops


def relation(text: str) -> tuple[str, str, str] | None:
    """(low side, canonical operator, high side) for a single top-level relation, else None."""
    sides, ops = split_relation(clean(text, drop_label=False))
    if len(ops) != 1 or not all(sides):
        return None
    op, swap = _ORIENT[ops[0]]
    return (sides[1], op, sides[0]) if swap else (sides[0], op, sides[1])


def _relation_compare(
    rp: tuple[str, str, str], rg: tuple[str, str, str], scalar: Scalar
) -> bool | None:
    """Relations are equal when their operators agree and high - low of one is a constant
    (positive, for inequalities) multiple of the other's: x < 1 is -x > -1, not x <= 1."""
    (lp, op_p, hp), (lg, op_g, hg) = rp, rg
    if op_p != op_g:
        return False
    symmetric = op_p in ("=", "\\ne")
    if scalar(lp, lg) and scalar(hp, hg):
        return True
    if symmetric and scalar(lp, hg) and scalar(hp, lg):
        return True
    try:
        return proportional(f"({hp})-({lp})", f"({hg})-({lg})", positive=not symmetric)
    except Undecided:
        pass
    verdict = scalar(f"({hp})-({lp})", f"({hg})-({lg})")
    if verdict or not symmetric:
        return verdict
    return scalar(f"({hp})-({lp})", f"({lg})-({hg})")


def _dedupe(items: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(normalize(item), item)
    return list(seen.values())


def compare(pred: str, gold: str, scalar: Scalar = fast_scalar) -> bool | None:
    """True/False when decided, None when the scalar comparator could not tell."""
    if pred.strip() == gold.strip() or normalize(pred) == normalize(gold):
        return True
    rp, rg = relation(pred), relation(gold)
    if rp is not None and rg is not None:
        return _relation_compare(rp, rg, scalar)
    one = rp or rg
    if one is not None and one[1] != "=":
        return False  # an inequality never equals a value
    kp, bp, ep = structure(pred)
    kg, bg, eg = structure(gold)
    if kp == "scalar" and kg == "scalar":
        if (relation(ep[0]) is None) != (relation(eg[0]) is None):
            return False  # "-x = 12" (an equation once "x =" labels are gone) vs "12"
        return scalar(ep[0], eg[0])
    unordered = {"set", "list"}
    if kp != kg and not (kp in unordered and kg in unordered):
        return False
    if kp in unordered or kp == "union":
        if kp in unordered and len(set(map(normalize, eg))) == len(eg):
            ep = _dedupe(ep)  # the gold is a set: a repeated element counts once
        return _unordered(ep, eg, scalar)
    if bp != bg or len(ep) != len(eg):
        return False
    verdicts = [compare(p, g, scalar) for p, g in zip(ep, eg, strict=True)]
    if any(v is False for v in verdicts):
        return False
    return True if all(verdicts) else None
