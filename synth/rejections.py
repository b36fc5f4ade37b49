"""Side files for rows that did not make it, with the reason: nothing is dropped silently."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def side_path(output: Path, given: Path | None = None) -> Path:
    """`prompts.parquet` -> `prompts.rejected.jsonl` unless a path was given."""
    return Path(given) if given else output.with_name(output.stem + ".rejected.jsonl")


def write_rejections(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write (atomically) one JSON object per rejected item; every one carries `reason`."""
    from caravan.records.writers import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path


def reason_counts(rows: list[dict[str, Any]]) -> str:
    counts = Counter(r["reason"] for r in rows)
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
