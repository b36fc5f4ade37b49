"""Row-level validation: every problem names its file and row, nothing is dropped silently."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from caravan.records.schemas import PREFERENCE, RLVR, ROLES, SFT, RecordKind


@dataclass
class RowLocation:
    """Where a row lives: `line` (JSONL line) or `row` (table or JSON list position).

    Both count from 1, the way editors and `sed -n Np` do.
    """

    source: str
    index: int
    unit: str = "row"

    def __str__(self) -> str:
        return f"{self.source}: {self.unit} {self.index}"


@dataclass
class BadRow:
    location: RowLocation
    error: str
    row: dict[str, Any] | None = None
    raw: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.error}"


def _check_str(row: dict, name: str, *, required: bool, nonempty: bool = True) -> str | None:
    value = row.get(name)
    if value is None:
        return f"missing `{name}`" if required else None
    if not isinstance(value, str):
        return f"`{name}` must be a string, got {type(value).__name__}"
    if required and nonempty and not value.strip():
        return f"`{name}` is empty"
    return None


def _check_messages(value: Any, name: str) -> str | None:
    if value is None:
        return f"missing `{name}`"
    if not isinstance(value, list):
        return f"`{name}` must be a list of {{role, content}}, got {type(value).__name__}"
    if not value:
        return f"`{name}` is an empty list"
    for i, msg in enumerate(value):
        where = f"`{name}[{i}]`"
        if not isinstance(msg, dict):
            return f"{where} must be an object with role and content, got {type(msg).__name__}"
        extra = sorted(set(msg) - {"role", "content"})
        if extra:
            return f"{where} has unsupported keys {extra}; records carry role and content only"
        role = msg.get("role")
        if role not in ROLES:
            return f"{where}.role is {role!r}, expected one of {list(ROLES)}"
        content = msg.get("content")
        if not isinstance(content, str):
            return f"{where}.content must be a string, got {type(content).__name__}"
    return None


def _check_score(row: dict, name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{name}` must be a number, got {type(value).__name__}"
    if math.isnan(value):
        return f"`{name}` is NaN"
    return None


def _sft_errors(row: dict) -> str | None:
    err = _check_messages(row.get("messages"), "messages") or _check_str(
        row, "source", required=True
    )
    if err:
        return err
    if not any(m["role"] == "assistant" for m in row["messages"]):
        return "`messages` has no assistant turn to train on"
    return None


def _preference_errors(row: dict) -> str | None:
    for name in ("prompt", "chosen", "rejected"):
        err = _check_messages(row.get(name), name)
        if err:
            return err
    if row["prompt"][-1]["role"] != "user":
        return "`prompt` must end with a user turn"
    for name in ("chosen", "rejected"):
        if row[name][-1]["role"] != "assistant":
            return f"`{name}` must end with an assistant turn"
    if row["chosen"] == row["rejected"]:
        return "`chosen` and `rejected` are identical"
    for name in ("score_chosen", "score_rejected"):
        err = _check_score(row, name)
        if err:
            return err
    sc, sr = row.get("score_chosen"), row.get("score_rejected")
    if sc is not None and sr is not None and sc < sr:
        return f"`score_chosen` ({sc}) is below `score_rejected` ({sr}): columns swapped?"
    return None


def _rlvr_errors(row: dict) -> str | None:
    err = _check_messages(row.get("messages"), "messages")
    if err:
        return err
    if row["messages"][-1]["role"] != "user":
        return "`messages` must end with a user turn (the prompt to answer)"
    for name, required in (
        ("ground_truth", True),
        ("dataset", True),
        ("constraint_type", False),
        ("constraint", False),
    ):
        err = _check_str(row, name, required=required)
        if err:
            return err
    return None


_ROW_CHECKS = {SFT.name: _sft_errors, PREFERENCE.name: _preference_errors, RLVR.name: _rlvr_errors}


def row_error(row: Any, kind: RecordKind) -> str | None:
    """The first problem with one row, or None if it is a valid `kind` record."""
    if not isinstance(row, dict):
        return f"row must be a JSON object, got {type(row).__name__}"
    return _check_str(row, "id", required=True) or _ROW_CHECKS[kind.name](row)


def validate_rows(
    rows: Iterable[tuple[RowLocation, dict[str, Any]]],
    kind: RecordKind,
) -> Iterator[tuple[RowLocation, dict[str, Any], str | None]]:
    """Yield each row with its error (None when valid); duplicate ids are errors too."""
    seen: dict[str, RowLocation] = {}
    for loc, row in rows:
        err = row_error(row, kind)
        if err is None:
            first = seen.get(row["id"])
            if first is not None:
                err = f"duplicate id {row['id']!r} (first at {first.unit} {first.index})"
            else:
                seen[row["id"]] = loc
        yield loc, row, err
