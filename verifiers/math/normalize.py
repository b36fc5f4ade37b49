"""Hendrycks-style string normalisation of MATH answers (the cheap first comparison).

Two answers that normalise to the same string are equal without any algebra. The rules
follow the MATH paper's evaluation: drop spacing commands, \\left/\\right, degree signs,
dollar and percent signs, unit words in \\text{}, a short "x =" prefix; write \\dfrac and
\\tfrac as \\frac; add the braces in \\frac12 and \\sqrt2; add a leading zero to ".5".
"""

from __future__ import annotations

import re
from collections.abc import Callable

_SPACING = re.compile(r"\\[,;:> ]|\\q?quad|~")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textnormal|textrm|textsf|mathrm|mathbf|mbox|operatorname)"
    r"\s*\{([^{}]*)\}"
)
_UNIT_TAIL = re.compile(
    r"(?<=[\d}.)])\s*\\(?:text|textnormal|textrm|textbf|textit|mbox|mathrm)\s*"
    r"\{\s*[a-zA-Z][a-zA-Z\s.]*\}(?:\^\{?\d\}?)?$"
)
_UNIT_WORDS = re.compile(
    r"(?<=\d)\s+(?:units?|cm|m|km|mm|inches|inch|in|feet|ft|foot|meters?|miles?|degrees?|"
    r"cents?|dollars?|hours?|minutes?|seconds?|days?|sq\.?\s*units?|square\s+\w+)\.?$"
    r"|(?<=\d)\s*(?:percent(?:age)?|pct)\.?$"
)
_THOUSANDS_BRACE = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)")  # 14{,}916, 14 {, }916
# Relations written every way models and datasets write them, to one spelling each.
_RELATIONS = (
    (re.compile(r"\\geqslant|\\geq(?![a-zA-Z])|\\ge(?![a-zA-Z])|>=|≥"), " \\ge "),
    (re.compile(r"\\leqslant|\\leq(?![a-zA-Z])|\\le(?![a-zA-Z])|<=|≤"), " \\le "),
    (re.compile(r"\\neq(?![a-zA-Z])|\\ne(?![a-zA-Z])|!=|≠"), " \\ne "),
    (re.compile(r"\\lt(?![a-zA-Z])"), " < "),
    (re.compile(r"\\gt(?![a-zA-Z])"), " > "),
)
_DOUBLED = re.compile(r"\\\\[a-zA-Z]")
_SINGLE_CMD = re.compile(r"(?<!\\)\\[a-zA-Z]")


def undouble(text: str) -> str:
    """JSON-escaped data writes every backslash twice (`\\\\frac`): halve them, but only when
    no command is written with a single one (a matrix row break `\\\\` stays)."""
    if _DOUBLED.search(text) and not _SINGLE_CMD.search(text.replace("\\\\", "")):
        return text.replace("\\\\", "\\")
    return text


def relations(text: str) -> str:
    """One spelling per relation: \\le, \\ge, \\ne, <, > (after \\left/\\right are gone)."""
    for pattern, repl in _RELATIONS:
        text = pattern.sub(_verbatim(repl), text)
    return text


def _verbatim(repl: str) -> Callable[[re.Match[str]], str]:
    """A replacement used as is: as a template, `\\ge` would read as a group reference."""
    return lambda _match: repl


_IN_SET = re.compile(r"^\s*[a-zA-Z]\s*\\in\s*")  # "x \in [2, 5)" -> "[2, 5)"
_SHORT_LHS = re.compile(r"^\s*[a-zA-Z](?:_\{?\w+\}?)?\s*=(?!=)")
_FRAC_SHORT = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\d|[a-zA-Z])")
_FRAC_HALF = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[a-zA-Z])")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])")
_SIMPLE_SLASH = re.compile(r"^(-?\d+)/(\d+)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def is_thousands(text: str) -> bool:
    """`10,080` is one number; `32, 349` (a space after the comma) is a list of two."""
    return bool(_THOUSANDS.match(text.replace(" ", ""))) and not re.search(r",\s", text)


def _unwrap_text(s: str) -> str:
    prev = None
    while prev != s:
        prev = s
        s = _TEXT_CMD.sub(r"\1", s)
    return s


def clean(answer: str, *, drop_label: bool = True) -> str:
    """`answer` with presentation removed but spaces kept (input to the expression parser).

    `drop_label` removes a short "x =" in front (off when the caller compares relations)."""
    s = undouble(str(answer).strip())
    s = s.replace("\n", " ")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = _THOUSANDS_BRACE.sub("", s)
    s = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3})", ",", s)  # 11,\! 111
    s = s.replace("{,}", "").replace("\\!", "")
    s = s.replace("\\left", "").replace("\\right", "")
    s = relations(s)
    s = s.replace("\\displaystyle", "")
    s = _SPACING.sub(" ", s)
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("°", "")
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "").replace("%", "")
    s = _UNIT_TAIL.sub("", s)
    s = _unwrap_text(s)
    s = _UNIT_WORDS.sub("", s.strip())
    s = s.strip().rstrip(".").strip()
    if drop_label and _SHORT_LHS.match(s) and s.count("=") == 1:
        s = s.split("=", 1)[1]
    s = _IN_SET.sub("", s)
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    s = s.strip()
    if s.startswith("."):
        s = "0" + s
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac\1{\2}", s)
    s = s.replace("+\\infty", "\\infty").strip()
    if is_thousands(s):
        s = s.replace(" ", "").replace(",", "")
    return s


def normalize(answer: str) -> str:
    """A canonical string for `answer`; equal strings mean equal answers."""
    s = clean(answer).replace(" ", "")
    if s == "0.5":
        s = "\\frac{1}{2}"
    m = _SIMPLE_SLASH.match(s)
    if m:
        s = f"\\frac{{{m[1]}}}{{{m[2]}}}"
    s = re.sub(r"^\\frac\{-(\d+)\}", r"-\\frac{\1}", s)
    return s
