"""Read one extracted answer the way people write it: the forms worth comparing.

An answer string can mean several comparable things: `x = 2+3 = 5` is the value 5; `(p,q) =
(3,2)` is the tuple (3,2); `x \\approx 1.33` is 1.33; `2 \\text{ and } 5` and `$21,16$ or $11$`
are lists; `-2 < x \\le 7` is the interval (-2, 7]. `forms` returns those readings, most literal
first; the comparison accepts when a reading of the answer equals a reading of the gold. A
reading never invents a value: each one is a side, an element or a rewriting of the text.
"""

from __future__ import annotations

import re

from caravan.verifiers.math.compare import split_relation, split_top
from caravan.verifiers.math.normalize import is_thousands, relations, undouble

_MAX_FORMS = 8
_GROUPED_THOUSANDS = re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3})")  # 11,\! 111 is 11,111
_LIST_WORDS = re.compile(
    r"\\text\{\s*(?:and|or)\s*\}|\\(?:quad|qquad)\s*(?:and|or)?\s*\\(?:quad|qquad)"
    r"|(?<=[\s$)}\]])(?:and|or)(?=[\s$({\[\\])"
)
_SPACING = re.compile(r"(?<!\\)\\(?:q?quad(?![a-zA-Z])|[,;: !])")
_PM = re.compile(r"\\pm(?![a-zA-Z])|±")
_FUNCTION = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc|arc\w+|log|ln|exp|sqrt)(?![a-zA-Z])")
_GREEK = re.compile(
    r"\\(?:alpha|beta|gamma|delta|epsilon|theta|lambda|mu|phi|varphi|psi|omega|rho|sigma|tau)"
    r"(?![a-zA-Z])"
)
_APPROX = re.compile(r"\\approx|≈|\\simeq")
_SUBSCRIPT = re.compile(r"_\{[^{}]*\}|_\w")
_INEQ = {"<": ("<", False), ">": ("<", True), "\\le": ("\\le", False), "\\ge": ("\\le", True)}


def _strip_delimiters(text: str) -> str:
    s = text.strip().rstrip(".").strip()
    for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left) : len(s) - len(right)].strip()
    return s.replace("$", " ").strip()


def is_label(text: str) -> bool:
    """A name rather than a value: `x`, `(p,q)`, `f(x)`, `|AB|`, `V_{1}:V_{2}`, `\\frac{NO}{BO}`.

    No digits outside subscripts and no arithmetic, so `2x+4y-3` (an equation side) is not one.
    """
    s = _SUBSCRIPT.sub("", text.strip())
    if not s or len(s) > 30 or re.search(r"[\d+\-^*/=]|\\infty|\\pi", s) or _FUNCTION.search(s):
        return False  # \\tan\\theta is an expression, not a name
    return bool(re.search(r"[A-Za-z]", s))


def _has_variable(text: str) -> bool:
    """Letters outside LaTeX commands: `2x+4y-3` has variables, `\\frac{1}{2}` has none."""
    if _GREEK.search(text):
        return True
    return bool(re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", text)))


def _value_forms(element: str, gold: bool = False) -> list[str]:
    """Readings of one element: a chain's last side, a labelled value, an interval.

    A response's `\\frac{1}{2} = 0.5` also reads as its last side; a gold's `7 = 11a+c` does
    not (only a label or a chain of several `=` gives way to its last side there)."""
    parts = [p.strip() for p in _APPROX.split(element) if p.strip()]
    if len(parts) > 2:  # `1 \\approx 2 \\approx 3` must not match every gold in it
        parts = [parts[0], parts[-1]]
    if gold and len(parts) > 1:
        parts = parts[:1]  # a gold's `\\frac23 \\approx 0.67` is 2/3; 0.67 is only a hint
    out: list[str] = []
    for part in parts or [element]:
        sides, ops = split_relation(part)
        if not ops:
            out.append(part)
            continue
        if any(not s for s in sides):
            out.append(part)
            continue
        if all(op == "=" for op in ops):
            if len(ops) == 1 and not is_label(sides[0]) and (gold or _has_variable(sides[0])):
                out.append(part)  # an equation such as 2x+4y-3=0: compared as a relation
            else:
                out.append(sides[-1])  # x = 3, x = 2+3 = 5: the value is the last side
            continue
        if len(ops) == 2 and is_label(sides[1]) and ops[0] in _INEQ and ops[1] in _INEQ:
            (a, flip_a), (b, flip_b) = _INEQ[ops[0]], _INEQ[ops[1]]
            if flip_a == flip_b:
                low, high = (sides[2], sides[0]) if flip_a else (sides[0], sides[2])
                first, last = (b, a) if flip_a else (a, b)
                out.append(
                    f"{'(' if first == '<' else '['}{low}, {high}{')' if last == '<' else ']'}"
                )
        out.append(part)
    return out


def _elements(text: str) -> list[str]:
    """Top-level list elements: commas, semicolons and the words "and"/"or"."""
    if is_thousands(text):
        return [text]
    s = _LIST_WORDS.sub(",", text)
    if ";" in s:
        s = s.replace(";", ",")
    return [e for e in split_top(s) if e]


def forms(answer: str, *, gold: bool = False) -> list[str]:
    """The readings of `answer` worth comparing, most literal first, de-duplicated."""
    s = relations(undouble(_strip_delimiters(answer)))
    s = _GROUPED_THOUSANDS.sub(",", s)
    s = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", s)
    out = [s]
    if len(s) > 2 and s[0] == "{" and s[-1] == "}" and _balanced_braces(s[1:-1]):
        out.append(f"\\{{{s[1:-1]}\\}}")  # {1, 2, 3} written without backslashes: a set
    elements = _elements(_SPACING.sub(" ", s))
    if len(elements) > 1:
        per = [_value_forms(e, gold) for e in elements]
        values = ", ".join(f[-1] if len(f) == 1 else _pick_value(f) for f in per)
        out.append(values)
        if all(_labelled(e) for e in elements):  # x = 1, y = 2 names the point (1, 2)
            pairs = sorted(
                (split_relation(e)[0][0].replace(" ", ""), _pick_value(f))
                for e, f in zip(elements, per, strict=True)
            )
            out.append(f"({', '.join(v for _, v in pairs)})")  # coordinates in label order
    else:
        out.extend(_value_forms(s, gold))
    out.extend(_plus_minus(f) for f in list(out) if _PM.search(f))
    seen: list[str] = []
    for f in out:
        f = f.strip()
        if f and f not in seen:
            seen.append(f)
    return seen[:_MAX_FORMS]


def _labelled(element: str) -> bool:
    sides, ops = split_relation(element)
    return ops == ["="] and is_label(sides[0])


def _plus_minus(reading: str) -> str:
    """`1 \\pm \\sqrt{19}` is the pair `1 + \\sqrt{19}, 1 - \\sqrt{19}` (one \\pm only)."""
    sides, _ = split_relation(reading)
    value = sides[-1]
    if len(_PM.findall(value)) != 1:
        return reading
    return f"{_PM.sub('+', value)}, {_PM.sub('-', value)}"


def _pick_value(readings: list[str]) -> str:
    """For a list element, the reading that is a value: the last side of `x = 3` is 3."""
    for r in reversed(readings):
        if not split_relation(r)[1]:
            return r
    return readings[-1]


def _balanced_braces(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def is_list(answer: str) -> bool:
    """True when `answer` holds several top-level elements (a set or list of values)."""
    if answer.startswith("\\{") and answer.endswith("\\}"):
        answer = answer[2:-2]
    return len(_elements(answer)) > 1


def join_answers(answers: list[str]) -> str:
    """Several boxed answers read as one list: `\\boxed{1}, \\boxed{2}` is `1, 2`."""
    return ", ".join(a.strip() for a in answers if a.strip())
