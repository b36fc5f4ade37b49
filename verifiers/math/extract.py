"""Pull candidate final answers out of a model's MATH-style response.

Order (the "flex" scheme used by open-instruct): the last \\boxed{...} or \\fbox{...}
(braces matched, so nested fractions survive), the Minerva form "Final Answer: The final
answer is X. I hope it is correct.", the text between the last two `$`; the whole output only
when none of those exists.
"""

from __future__ import annotations

import re

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_MINERVA = re.compile(
    r"final answer is\s*(.+?)\s*\.?\s*I hope it is correct", re.IGNORECASE | re.DOTALL
)
_MAX_CANDIDATE = 2_000
_MINERVA_WINDOW = 6_000


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the {...} group opening at text[start], and the index after it."""
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "\\":
            continue
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} (or `\\boxed 5`), None if absent/unclosed."""
    best = -1
    command = ""
    for cmd in _BOX_COMMANDS:
        idx = text.rfind(cmd)
        if idx > best:
            best, command = idx, cmd
    if best < 0:
        return None
    rest = best + len(command)
    while rest < len(text) and text[rest] == " ":
        rest += 1
    if rest < len(text) and text[rest] == "{":
        found = _braced(text, rest)
        return found[0].strip() if found else None
    if command == "\\boxed" and rest > best + len(command):  # "\boxed 5" form
        m = re.match(r"[^\s$]+", text[rest:])
        return m.group(0) if m else None
    return None


def minerva_answer(text: str) -> str | None:
    """X from "The final answer is X. I hope it is correct.", if the response uses that form."""
    tail = text[-_MINERVA_WINDOW:]  # the form ends a response; bounds the regex work
    matches = list(_MINERVA.finditer(tail))
    if not matches:
        return None
    answer = matches[-1].group(1).strip()
    if len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
        answer = answer.strip("$").strip()
    return answer or None


def last_dollar(text: str) -> str | None:
    """The text between the last two unescaped `$` signs."""
    positions = [m.start() for m in re.finditer(r"(?<!\\)\$", text)]
    if len(positions) < 2:
        return None
    inner = text[positions[-2] + 1 : positions[-1]].strip()
    return inner or None


def extract_candidates(response: str) -> list[str]:
    """Candidate answers in priority order, de-duplicated; the whole output as a last resort."""
    found: list[str] = []
    for getter in (last_boxed, minerva_answer, last_dollar):
        value = getter(response)
        if value is not None and getter is not last_boxed and "\\boxed" in value:
            value = last_boxed(value)  # "$\\boxed{7}$": the box is the answer
        if value is not None and value not in found:
            found.append(value[:_MAX_CANDIDATE])
    if not found and response.strip():
        found.append(response.strip()[-_MAX_CANDIDATE:])
    return found


def extract_answer(response: str) -> str | None:
    """The first (highest-priority) candidate, for display and logging."""
    candidates = extract_candidates(response)
    return candidates[0] if candidates else None


def gold_answer(gold: str) -> str:
    """A gold label may be a full solution; use its boxed answer when it has one."""
    boxed = last_boxed(gold)
    return boxed if boxed is not None else gold.strip()
