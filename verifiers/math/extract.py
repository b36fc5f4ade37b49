"""Pull candidate final answers out of a model's MATH-style response.

Order (the "flex" scheme used by open-instruct, widened the way Math-Verify reads answers):
the last \\boxed{...} or \\fbox{...} (braces matched, so nested fractions survive) and the
Minerva form "Final Answer: The final answer is X. I hope it is correct."; without a box, also
the math span that ends last in any display form (`\\[...\\]`, `$$...$$`, `\\(...\\)`, or the
text between the last two `$`), so a stray `$n = 2$` in the reasoning never stands in for a
wrong boxed answer. With neither box nor Minerva sentence: the value a "Final Answer:" line
ends with and, when there is no math at all, the last plain number and the whole output.
Several boxed answers are also available together (`all_boxed`) for golds that are sets.
"""

from __future__ import annotations

import re

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_MINERVA = re.compile(
    r"final answer is\s*(.+?)\s*\.?\s*I hope it is correct", re.IGNORECASE | re.DOTALL
)
_MAX_CANDIDATE = 2_000
_MINERVA_WINDOW = 6_000
_MATH_WINDOW = 20_000
_MAX_BOXES = 32
_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PLAIN_NUMBER = re.compile(r"(?<![A-Za-z\d.,])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|"
                           r"(?<![A-Za-z\d.,])-?\d+(?:\.\d+)?(?:/\d+)?(?![\d])")  # fmt: skip


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


def all_boxed(text: str) -> list[str]:
    """Every \\boxed{...} / \\fbox{...} content, in order (unclosed ones skipped)."""
    out: list[str] = []
    text = text[-_MATH_WINDOW:]  # the answers end a response; bounds the work on long ones
    for tries, m in enumerate(_BOX_START.finditer(text)):
        if tries >= _MAX_BOXES:  # each try scans to its closing brace: bound the work
            break
        found = _braced(text, m.end() - 1)
        if found is not None and found[0].strip():
            out.append(found[0].strip())
    return out


def final_line_answer(text: str) -> str | None:
    """The value a "Final Answer: ..." line ends with ("The largest $n$ is 34." -> 34)."""
    low = text[-_MINERVA_WINDOW:]
    at = low.lower().rfind("final answer")
    if at < 0:
        return None
    tail = re.split(r"I hope it is correct|<\|", low[at + len("final answer") :])[0]
    numbers = list(_PLAIN_NUMBER.finditer(tail))
    last_num = numbers[-1] if numbers else None
    span_end = tail.rfind("$")
    if last_num is not None and last_num.start() > span_end:
        return last_num.group(0)
    return last_span(tail) or (last_num.group(0) if last_num else None)


def last_number(text: str) -> str | None:
    """The last number in plain text (`2/3`, `1,000.99`, `-5`), not one glued to letters before."""
    numbers = list(_PLAIN_NUMBER.finditer(text[-_MINERVA_WINDOW:]))
    return numbers[-1].group(0) if numbers else None


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


def last_span(text: str) -> str | None:
    """The math span that ends last: a display form (`\\[..\\]`, `$$..$$`, `\\(..\\)`) or the
    text between the last two `$` (flex's rule, which pairs currency signs sensibly)."""
    window = text[-_MATH_WINDOW:]
    display = None
    for opener, closer in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)")):
        end = window.rfind(closer)
        if end < 0:
            continue
        start = window.rfind(opener, 0, end if opener != closer else end)
        if start < 0 or (opener == closer and start + len(opener) > end):
            continue
        inner = window[start + len(opener) : end].strip()
        if inner and (display is None or end > display[0]):
            display = (end, inner)
    dollars = [m.start() for m in re.finditer(r"(?<!\\)\$", window)]
    if display is not None and (len(dollars) < 2 or display[0] >= dollars[-1] - 1):
        return display[1]
    return last_dollar(window)


def extract_candidates(response: str) -> list[str]:
    """Candidate answers in priority order, de-duplicated; plain-text readings last.

    A boxed answer wins over any other math in the text (Math-Verify reads it that way), so
    a stray `$n = 2$` in the reasoning never stands in for a wrong boxed answer."""
    found: list[str] = []
    boxed = last_boxed(response)
    minerva = minerva_answer(response)
    spans = [] if boxed is not None else [last_span(response)]
    for value in (boxed, minerva, *spans):
        if value is not None and value is not boxed and "\\boxed" in value:
            value = last_boxed(value)  # "$\\boxed{7}$": the box is the answer
        if value is not None and value not in found:
            found.append(value[:_MAX_CANDIDATE])
    if boxed is not None or minerva is not None:
        return found
    # No box and no Minerva sentence: a "Final Answer:" line; with no math at all, the last
    # plain number and (flex's last resort, e.g. a bare "\\frac{1}{2}") the whole output.
    extra = [final_line_answer(response)]
    if not found:
        extra += [last_number(response), response.strip()[-_MAX_CANDIDATE:]]
    for value in extra:
        if value and value not in found:
            found.append(value)
    return found


def extract_answer(response: str) -> str | None:
    """The first (highest-priority) candidate, for display and logging."""
    candidates = extract_candidates(response)
    return candidates[0] if candidates else None


def gold_answer(gold: str) -> str:
    """A gold label may be a full solution; use its boxed answer when it has one, and all of
    them, as a list, when it has several (`\\boxed{1} and \\boxed{-2}`); else its Minerva
    "The final answer is X. I hope it is correct." sentence."""
    boxes = all_boxed(gold)
    if len(boxes) > 1:
        return ", ".join(dict.fromkeys(boxes))
    boxed = last_boxed(gold)
    if boxed is not None:
        return boxed
    minerva = minerva_answer(gold) if "hope it is correct" in gold else None
    return minerva if minerva is not None else gold.strip()
