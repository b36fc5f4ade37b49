"""The linear scans count exactly what the reference's backtracking patterns count."""

from __future__ import annotations

import random
import re

from caravan.verifiers.ifeval import check_instructions, scan

PIECES = [
    "*",
    "-",
    "**",
    "\n",
    " ",
    "\t",
    "a",
    "[",
    "]",
    "<<",
    ">>",
    "<",
    ">",
    "\n\n",
    "  \n",
    "\u2028",
    "x y",
    "- item",
    "* item",
]


def _texts(n: int) -> list[str]:
    rng = random.Random(0)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25))) for _ in range(n)]


def test_scans_equal_the_patterns():
    for t in _texts(4000):
        assert scan.count_line_leaders(t, "*", forbid_next="*") == len(
            re.findall(r"^\s*\*[^\*].*$", t, re.M)
        ), t
        assert scan.count_line_leaders(t, "-") == len(re.findall(r"^\s*-.*$", t, re.M)), t
        assert scan.count_bracket_pairs(t) == len(re.findall(r"\[.*?\]", t)), t
        assert scan.count_bracket_pairs(t, "*", "*") == len(re.findall(r"\*(.*?)\*", t)), t
        assert scan.titles(t) == re.findall(r"<<[^\n]+>>", t), t
        assert scan.has_bracketed(t, "<<", ">>") == bool(re.search(r"<<(.*?)>>", t)), t


def test_degenerate_output_is_checked():
    """Long blank or bracket runs (quadratic for the reference patterns) still work."""
    blank = "\n" * 50_000 + "- last"
    ids = [
        "detectable_format:number_bullet_lists",
        "detectable_content:postscript",
        "detectable_format:title",
    ]
    kws = [{"num_bullets": 1}, {"postscript_marker": "P.S."}, {}]
    assert check_instructions(blank, ids, kws) == [True, False, False]
    brackets = "[" * 50_000 + "<<" * 20_000
    assert check_instructions(
        brackets, ["detectable_content:number_placeholders"], [{"num_placeholders": 1}]
    ) == [False]


def test_absurdly_nested_json_is_rejected_not_crashing():
    deep = "[" * 100_000 + "]" * 100_000
    assert check_instructions(deep, ["detectable_format:json_format"], [{}]) == [False]
