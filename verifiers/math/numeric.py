"""A small, safe evaluator for the LaTeX expressions MATH answers are made of.

It settles most comparisons in-process in microseconds: both sides are evaluated as complex
numbers (at a few fixed points when they contain variables) and compared with a tolerance.
Anything it does not understand (an unknown command, \\infty, relations, deep nesting, an
overflow) raises `Undecided`, and the caller falls back to sympy in a worker process. It never
executes the input and every loop is bounded by the input length.
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Callable
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<cmd>\\[a-zA-Z]+|\\[{}|])|(?P<var>[a-zA-Z])"
    r"|(?P<sym>[-+*/^_(){}\[\]!,|'=<>&]))"
)
_MAX_TOKENS = 400
_MAX_DEPTH = 60
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon",
    "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma",
    "Phi", "Psi", "Omega",
}  # fmt: skip
_FUNCS: dict[str, Callable[[complex], complex]] = {
    "sin": cmath.sin,
    "cos": cmath.cos,
    "tan": cmath.tan,
    "sec": lambda z: 1 / cmath.cos(z),
    "csc": lambda z: 1 / cmath.sin(z),
    "cot": lambda z: 1 / cmath.tan(z),
    "arcsin": cmath.asin,
    "arccos": cmath.acos,
    "arctan": cmath.atan,
    "ln": cmath.log,
    "log": cmath.log,
    "exp": cmath.exp,
}
_MUL = {"*", "\\cdot", "\\times"}
_DIV = {"/", "\\div"}
# Fixed, irrational-looking sample points: deterministic across runs and processes.
_POINTS = (
    (0.7315, 1.4142, 2.2361, 0.5772, 1.7321, 2.7183, 1.3247, 0.9135),
    (1.9021, 0.6180, 1.2599, 2.0794, 0.8862, 1.5708, 2.4495, 1.1447),
    (2.6458, 1.0986, 0.4343, 1.6487, 2.3026, 0.8415, 1.4427, 2.9957),
)


# Above this, a relative tolerance could equate integers that differ by 1 (10^{12}+1 vs 10^{12}).
_EXACT_ABOVE = 1e7


class Undecided(Exception):
    """The evaluator cannot judge this input; ask sympy."""


Node = tuple[Any, ...]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Undecided(f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or "sym"
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if len(tokens) > _MAX_TOKENS:
            raise Undecided("expression too long")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise Undecided("unexpected end")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise Undecided(f"expected {value!r}")

    def parse(self) -> Node:
        node = self.expr()
        trailing = self.peek()
        if trailing is not None:
            raise Undecided(f"trailing {trailing[1]!r}")
        return node

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise Undecided("nested too deeply")
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in ("+", "-"):
            self.take()
            node = ("add" if tok[1] == "+" else "sub", node, self.term())
        self.depth -= 1
        return node

    def _starts_atom(self, tok: tuple[str, str]) -> bool:
        kind, val = tok
        if kind in ("num", "var"):
            return True
        if kind == "cmd":
            return val not in _MUL | _DIV and val not in ("\\}", "\\|")
        return val in ("(", "{", "[")

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None:
            if tok[1] in _MUL:
                self.take()
                node = ("mul", node, self.unary())
            elif tok[1] in _DIV:
                self.take()
                node = ("div", node, self.unary())
            elif self._starts_atom(tok):
                node = ("mul", node, self.power())
            else:
                break
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok[1] == "-":
            self.take()
            return ("neg", self.unary())
        if tok is not None and tok[1] == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        tok = self.peek()
        if tok is not None and tok[1] == "^":
            self.take()
            return ("pow", base, self.exponent())
        return base

    def exponent(self) -> Node:
        tok = self.peek()
        if tok is not None and tok[1] == "{":
            return self.group()
        if tok is not None and tok[1] == "-":
            self.take()
            return ("neg", self.postfix())
        return self.postfix()

    def postfix(self) -> Node:
        node = self.atom()
        while (tok := self.peek()) is not None and tok[1] == "!":
            self.take()
            node = ("fact", node)
        return node

    def group(self) -> Node:
        tok = self.peek()
        if tok is not None and tok[1] == "{":
            self.take()
            node = self.expr()
            self.expect("}")
            return node
        return self.atom()

    def atom(self) -> Node:
        kind, val = self.take()
        if kind == "num":
            return ("num", complex(float(val)))
        if kind == "var":
            name = val
            if (tok := self.peek()) is not None and tok[1] == "_":
                self.take()
                sub = self.take()
                if sub[1] == "{":
                    parts = []
                    while (t := self.take())[1] != "}":
                        parts.append(t[1])
                    name += "_" + "".join(parts)
                else:
                    name += "_" + sub[1]
            return ("var", name)
        if val in ("(", "[", "{"):
            close = {"(": ")", "[": "]", "{": "}"}[val]
            node = self.expr()
            self.expect(close)
            return node
        if kind == "cmd":
            return self.command(val[1:])
        raise Undecided(f"unexpected {val!r}")

    def command(self, name: str) -> Node:
        if name == "frac":
            return ("div", self.group(), self.group())
        if name == "sqrt":
            index: Node = ("num", complex(2))
            if (tok := self.peek()) is not None and tok[1] == "[":
                self.take()
                index = self.expr()
                self.expect("]")
            return ("root", self.group(), index)
        if name == "pi":
            return ("num", complex(math.pi))
        if name in _GREEK:
            return ("var", name)
        if name in _FUNCS:
            power = None
            if (tok := self.peek()) is not None and tok[1] == "^":
                self.take()
                power = self.exponent()
            tok = self.peek()
            arg = self.atom() if tok is not None and tok[1] in ("(", "{") else self.power()
            node: Node = ("func", name, arg)
            return ("pow", node, power) if power is not None else node
        raise Undecided(f"unsupported command \\{name}")


def parse(text: str) -> Node:
    """Parse `text` into a small expression tree, or raise Undecided."""
    try:
        return _Parser(tokenize(text)).parse()
    except RecursionError as exc:
        raise Undecided("nested too deeply") from exc


def variables(node: Node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n[0] == "var":
            out.add(n[1])
        else:
            stack.extend(c for c in n[1:] if isinstance(c, tuple))
    return out


def evaluate(node: Node, env: dict[str, complex]) -> complex:
    op = node[0]
    if op == "num":
        return node[1]
    if op == "var":
        return env[node[1]]
    if op == "neg":
        return -evaluate(node[1], env)
    if op == "fact":
        v = evaluate(node[1], env)
        if abs(v.imag) > 1e-12 or v.real < 0 or v.real > 170 or v.real != int(v.real):
            raise Undecided("factorial of a non-integer")
        return complex(math.factorial(int(v.real)))
    if op == "func":
        return _FUNCS[node[1]](evaluate(node[2], env))
    a = evaluate(node[1], env)
    b = evaluate(node[2], env)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "pow":
        if abs(b) > 4096:
            raise Undecided("huge exponent")
        if b.imag == 0 and b.real == int(b.real) and abs(b.real) <= 64:
            return a ** int(b.real)
        return a**b
    if op == "root":
        if b.imag == 0 and b.real == int(b.real) and int(b.real) % 2 == 1 and a.imag == 0:
            root = abs(a.real) ** (1 / b.real)
            return complex(math.copysign(root, a.real))  # real odd root, as written
        return a ** (1 / b)
    raise Undecided(f"unknown node {op}")


def _close(a: complex, b: complex, rel: float) -> bool:
    if not (cmath.isfinite(a) and cmath.isfinite(b)):
        raise Undecided("not finite")
    # Relative, so 1/23426 and 1/23430 differ. Below 1e-12 floats cannot tell rounding noise
    # (sin(pi) vs 0) from a tiny exact value (2^{-98} vs 2^{-104}): sympy decides those.
    diff = abs(a - b)
    if diff <= rel * max(abs(a), abs(b)):
        return True
    if diff <= 1e-12:
        raise Undecided("too close to zero to judge in floating point")
    return False


def numerically_equal(pred: str, gold: str, rel: float = 1e-8) -> bool:
    """Equal as functions (or numbers), judged at fixed sample points; raises Undecided."""
    a, b = parse(pred), parse(gold)
    names = sorted(variables(a) | variables(b))
    if len(names) > len(_POINTS[0]):
        raise Undecided("too many variables")
    decided = undefined_pred = 0
    points = _POINTS if names else _POINTS[:1]
    for point in points:
        env = {n: complex(point[i]) for i, n in enumerate(names)}
        try:
            vb = evaluate(b, env)
        except (ZeroDivisionError, OverflowError, ValueError):
            continue
        try:
            va = evaluate(a, env)
        except ZeroDivisionError:
            undefined_pred += 1  # e.g. \frac101 (1/0): undefined where the gold is not
            continue
        except (OverflowError, ValueError):
            continue
        if not _close(va, vb, rel):
            return False
        if not names and va != vb and max(abs(va), abs(vb)) > _EXACT_ABOVE:
            raise Undecided("large values that differ in the last digits: check exactly")
        decided += 1
    if decided == 0:
        if undefined_pred == len(points):
            return False
        raise Undecided("no point where both sides are defined")
    return True


def proportional(a_text: str, b_text: str, *, positive: bool) -> bool:
    """True when `a` is a constant multiple of `b` as functions (the multiple > 0 when
    `positive`): the test for equal equations (`2x+4y-3=0` vs `y=...`) and inequalities.
    Raises Undecided when it cannot judge."""
    a, b = parse(a_text), parse(b_text)
    names = sorted(variables(a) | variables(b))
    if not names:
        raise Undecided("constants: any two are proportional, compare them instead")
    if len(names) > len(_POINTS[0]):
        raise Undecided("too many variables")
    ratio: complex | None = None
    for point in _POINTS:
        env = {n: complex(point[i]) for i, n in enumerate(names)}
        try:
            va, vb = evaluate(a, env), evaluate(b, env)
        except (ZeroDivisionError, OverflowError, ValueError):
            continue
        if not (cmath.isfinite(va) and cmath.isfinite(vb)):
            raise Undecided("not finite")
        zero_a, zero_b = abs(va) <= 1e-12, abs(vb) <= 1e-12
        if zero_a or zero_b:
            if zero_a != zero_b:
                return False
            continue
        r = va / vb
        if ratio is None:
            ratio = r
        elif not _close(r, ratio, 1e-8):
            return False
    if ratio is None:
        raise Undecided("no point where the sides differ")
    return not positive or (abs(ratio.imag) <= 1e-12 and ratio.real > 0)
