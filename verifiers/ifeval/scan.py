"""Linear-time equivalents of the reference's backtracking patterns.

The reference counts bullets, placeholders and titles with patterns such as
``^\\s*-.*$`` or ``\\[.*?\\]``. On degenerate model output (thousands of newlines,
a long run of '[') Python's backtracking engine takes quadratic time: 20,000
newlines cost seconds per check, enough to stall an RL step. These scans return
exactly the same counts (property-tested against the patterns) in one pass.
"""

from __future__ import annotations

import re

_NON_SPACE = re.compile(r"\S")


def _line_start_at_or_after(text: str, pos: int) -> int:
    if pos == 0 or text[pos - 1] == "\n":
        return pos
    nl = text.find("\n", pos)
    return -1 if nl < 0 else nl + 1


def count_line_leaders(text: str, marker: str, *, forbid_next: str | None = None) -> int:
    """Matches of ``^\\s*<marker>.*$`` (MULTILINE), or of ``^\\s*<marker>[^<forbid_next>].*$``.

    A match starts at a line start whose first non-space character (possibly on a
    later line) is `marker`; it ends at the end of the line where `.*` stops. Failed
    line starts inside the same whitespace run fail alike, so each run is scanned once.
    """
    n = len(text)
    count, pos = 0, 0
    while pos <= n:
        start = _line_start_at_or_after(text, pos)
        if start < 0:
            break
        found = _NON_SPACE.search(text, start)
        if found is None:
            break
        q = found.start()
        if text[q] == marker and (
            forbid_next is None or (q + 1 < n and text[q + 1] != forbid_next)
        ):
            count += 1
            rest = (
                q + 1 if forbid_next is None else q + 2
            )  # `.*` starts after the marker (and [^*])
            end = text.find("\n", rest)
            pos = n if end < 0 else end
            if pos == n:
                break
        else:
            pos = q + 1
    return count


def count_bracket_pairs(text: str, open_: str = "[", close: str = "]") -> int:
    """Matches of ``\\[.*?\\]``: an opener, then the nearest closer on the same line."""
    count = 0
    for line in text.split("\n"):
        pos = 0
        while True:
            i = line.find(open_, pos)
            if i < 0:
                break
            j = line.find(close, i + len(open_))
            if j < 0:
                break
            count += 1
            pos = j + len(close)
    return count


def titles(text: str) -> list[str]:
    """Matches of ``<<[^\\n]+>>``: per line, the first '<<' up to the last '>>' that
    leaves at least one character between them (greedy), else none on that line."""
    out = []
    for line in text.split("\n"):
        i = line.find("<<")
        if i < 0:
            continue
        k = line.rfind(">>")
        if k >= i + 3:
            out.append(line[i : k + 2])
    return out


def has_bracketed(text: str, open_: str, close: str) -> bool:
    """Whether ``<open>.*?<close>`` matches anywhere (same line, possibly empty inside)."""
    for line in text.split("\n"):
        i = line.find(open_)
        if i >= 0 and line.find(close, i + len(open_)) >= 0:
            return True
    return False
