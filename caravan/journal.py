"""Resume by batch: each finished batch's result is journaled under a key of the stage's
settings and the batch's content, so a rerun skips every batch it already did.

One file per batch, written atomically: a killed run loses at most the batches in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from caravan.stage import Rejection, StageResult


def batch_key(stage_label: str, settings: dict[str, Any], batch: pa.Table) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([stage_label, settings], sort_keys=True, default=str).encode())
    h.update(json.dumps(batch.to_pylist(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def result_data(result: StageResult) -> dict[str, Any]:
    """A StageResult as plain JSON-able data (the journal's format, and what Ray workers
    send back to the driver)."""
    return {
        "rows": result.rows,
        "rejected": [
            {"id": r.id, "reason": r.reason, "details": r.details, "row": r.row}
            for r in result.rejected
        ],
        "counters": dict(result.counters),
    }


def result_from_data(data: dict[str, Any]) -> StageResult:
    return StageResult(
        rows=data["rows"],
        rejected=[Rejection(**r) for r in data["rejected"]],
        counters=Counter(data["counters"]),
    )


class Journal:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> StageResult | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # a torn file: redo the batch
        return result_from_data(data)

    def put(self, key: str, result: StageResult) -> None:
        from caravan.records.writers import atomic_path

        data = result_data(result)
        with atomic_path(self._path(key), "w") as fh:
            json.dump(data, fh, ensure_ascii=False, default=str)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))
