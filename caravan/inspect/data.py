"""Loading files for inspection, in one place.

Every notebook reads through `read`, so when the stage API (`cv.read`) lands the
notebooks switch over here, not cell by cell.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from caravan.errors import CaravanError


def env_param(name: str, default: Any) -> Any:
    """A notebook parameter: `CARAVAN_NB_<NAME>` from the environment, else `default`.

    Values are cast to the default's type (int/float/bool), so a row cap stays a number.
    """
    raw = os.environ.get(f"CARAVAN_NB_{name.upper()}")
    if raw is None or default is None or isinstance(default, str):
        return default if raw is None else raw
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    try:
        return type(default)(raw)
    except ValueError as exc:
        raise CaravanError(
            f"CARAVAN_NB_{name.upper()}={raw!r}: expected {type(default).__name__}"
        ) from exc


def read_rows(path: str | Path, kind: str | None = None, limit: int | None = None) -> list[dict]:
    """Rows of any file Caravan reads or writes (records, side tables, JSONL side files)."""
    from caravan.records import read_records

    p = Path(path)
    if not p.exists():
        raise CaravanError(f"{p}: no such file")
    rows = read_records(p, kind).to_pylist()
    return rows[:limit] if limit else rows


def read(path: str | Path, kind: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """`read_rows` as a polars DataFrame (what the notebooks show)."""
    rows = read_rows(path, kind, limit)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def text_of(messages: Any) -> str:
    """The text of a message list (or a plain string): contents joined by blank lines."""
    if messages is None:
        return ""
    if isinstance(messages, str):
        return messages
    return "\n\n".join(str(m.get("content") or "") for m in messages)
