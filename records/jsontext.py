"""Strict JSON decoding of raw bytes: every failure becomes a short reason, never a traceback.

Files come from many tools: some write a UTF-8 byte-order mark, some write `NaN` (not JSON),
some hold stray Latin-1 bytes or absurdly deep nesting. Each of these is a reason a line is
bad, reported with its place so the line can be fixed or quarantined.
"""

from __future__ import annotations

import json
from typing import Any

BOM = b"\xef\xbb\xbf"


class _NotJson:
    """Stands in for NaN/Infinity while decoding, so the row holding it can be named."""

    def __init__(self, text: str) -> None:
        self.text = text


def _find_not_json(value: Any) -> str | None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _NotJson):
            return v.text
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def decode_text(data: bytes) -> tuple[str | None, str | None]:
    """(text, None), or (None, reason) when `data` is not UTF-8; a leading BOM is dropped."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 4]
        return None, f"not UTF-8: byte {bad[:1].hex()} at byte {exc.start + 1} ({bad!r})"


def loads_strict(text: str) -> tuple[Any, str | None, bool]:
    """(value, error, has_constants): JSON text to a value, or a reason it is not JSON.

    `has_constants` is True when NaN/Infinity stand-ins are inside the value; callers that
    split a document into rows use `not_json_constant` to name the offending row.
    """
    seen: list[str] = []

    def constant(name: str) -> _NotJson:
        seen.append(name)
        return _NotJson(name)

    try:
        value = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}", False
    except RecursionError:
        return None, "invalid JSON: nested deeper than the parser allows", False
    return value, None, bool(seen)


def not_json_constant(value: Any) -> str | None:
    """The reason `value` (decoded with `loads_strict`) is not valid JSON, if it holds NaN."""
    found = _find_not_json(value)
    if found is None:
        return None
    return f"{found} is not valid JSON (write null, or a number)"


def parse_line(data: bytes) -> tuple[Any, str | None]:
    """One JSON Lines record from raw bytes: (value, None) or (None, reason)."""
    text, err = decode_text(data)
    if text is None:  # not UTF-8: `err` says why
        return None, err
    value, err, constants = loads_strict(text)
    if err is None and constants:
        err = not_json_constant(value)
    return (None, err) if err else (value, None)
