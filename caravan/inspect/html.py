"""Tiny HTML helpers: escaped text and plain tables (no template engine needed)."""

from __future__ import annotations

import html
from typing import Any

STYLE = (
    "<style>table.cv{border-collapse:collapse;font:13px sans-serif}"
    "table.cv td,table.cv th{border:1px solid #ddd;padding:4px 6px;vertical-align:top;"
    "text-align:left;white-space:pre-wrap;max-width:40em}"
    "mark{background:#ffd54f}</style>"
)


def escape(text: str | None, max_chars: int | None = None) -> str:
    """HTML-escaped text, cut at `max_chars` with an ellipsis (so cells stay readable)."""
    s = "" if text is None else str(text)
    if max_chars is not None and len(s) > max_chars:
        s = s[:max_chars] + " …"
    return html.escape(s)


def table_html(columns: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (then the caller escaped them already)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else escape(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"{STYLE}<table class='cv'><tr>{head}</tr>{body}</table>"
