"""Any record file at a glance: provenance, which record kind it is, turns per row,
characters per role, rows per source or verifier."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from caravan.inspect import figures


def provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance a Caravan writer stored in the file's schema (None if none)."""
    from dataclasses import asdict

    import pyarrow.parquet as pq

    from caravan.records.provenance import Provenance
    from caravan.records.readers import open_arrow

    p = Path(path)
    if p.suffix == ".parquet":
        meta = pq.read_schema(p).metadata
    elif p.suffix in (".arrow", ".arrows", ".ipc", ".feather"):
        meta = open_arrow(p)[0].metadata
    else:
        return None
    prov = Provenance.from_metadata(meta)
    return asdict(prov) if prov else None


def kinds(columns: list[str]) -> list[str]:
    """Record kinds whose required columns the file has."""
    from caravan.records.schemas import KINDS

    return [k.name for k in KINDS.values() if set(k.required) <= set(columns)]


def conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The message list of a row: `messages`, else prompt + chosen."""
    if isinstance(row.get("messages"), list):
        return row["messages"]
    out = []
    for col in ("prompt", "chosen"):
        if isinstance(row.get(col), list):
            out += row[col]
    return out


def turn_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Turns per row, and turns / mean characters per role."""
    chars: dict[str, list[int]] = defaultdict(list)
    turns = []
    for r in rows:
        conv = conversation(r)
        turns.append(len(conv))
        for m in conv:
            chars[str(m.get("role"))].append(len(m.get("content") or ""))
    return {
        "turns_per_row": dict(sorted(Counter(turns).items())),
        "roles": [
            {
                "role": role,
                "turns": len(v),
                "mean_chars": round(sum(v) / len(v), 1),
                "max_chars": max(v),
            }
            for role, v in sorted(chars.items())
        ],  # fmt: skip
        "chars": dict(chars),
    }


def group_counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Rows per value of whichever grouping columns exist (source, dataset, task, ...)."""
    out = {}
    for col in ("source", "dataset", "task", "origin", "constraint_type"):
        values = [r.get(col) for r in rows if col in r]
        if values and any(v is not None for v in values):
            out[col] = dict(Counter(str(v) for v in values).most_common(20))
    return out


def overview_figure(rows: list[dict[str, Any]]) -> Any:
    stats = turn_stats(rows)
    groups = group_counts(rows)
    fig, axes = figures.grid(3, cols=3, cell=(4.0, 3.0))
    t = stats["turns_per_row"]
    if t:
        axes[0].bar([str(k) for k in t], list(t.values()), color="#4c72b0")
        axes[0].set_title("turns per row")
    else:
        figures.empty(axes[0], "turns per row", "no message column")
    if stats["chars"]:
        roles = sorted(stats["chars"])
        axes[1].hist([stats["chars"][r] for r in roles], bins=20, label=roles)
        axes[1].set_title("characters per turn")
        axes[1].legend(fontsize=7)
    else:
        figures.empty(axes[1], "characters per turn")
    col = next(iter(groups), None)
    if col:
        items = list(groups[col].items())
        figures.barh(axes[2], [k for k, _ in items], [v for _, v in items], f"rows per {col}")
    else:
        figures.empty(axes[2], "rows per source")
    return fig
