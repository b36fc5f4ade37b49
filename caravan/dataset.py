"""What a stage returns: the rows, the rejected rows with reasons, counters, and lineage.

`write()` stores the rows with the provenance of the whole chain of stages that made them
(every stage's settings and the original inputs' fingerprints), and the rejected rows of
the chain in one side file beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from caravan.stage import REJECTED_SCHEMA


def empty_rejected() -> pa.Table:
    return REJECTED_SCHEMA.empty_table()


def rejected_path_for(path: Path) -> Path:
    """`sft.parquet` -> `sft.rejected.jsonl`."""
    return path.with_name(path.stem + ".rejected.jsonl")


@dataclass
class Dataset:
    table: pa.Table
    rejected: pa.Table = field(default_factory=empty_rejected)
    stats: dict[str, int] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)  # lineage, oldest first
    inputs: dict[str, str] = field(default_factory=dict)  # source -> fingerprint

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        chain = " -> ".join(s["stage"] for s in self.steps) or "input"
        return f"Dataset({self.table.num_rows} rows, {self.rejected.num_rows} rejected; {chain})"

    def to_list(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    def provenance_config(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"steps": self.steps, "stats": dict(self.stats), **(extra or {})}

    def write(
        self,
        path: str | Path,
        kind: str | None = None,
        *,
        rejected: str | Path | None = None,
        config: dict[str, Any] | None = None,
        command: list[str] | None = None,
        card: bool = True,
    ) -> Path:
        """Validate and write the rows (Parquet or Arrow) with the chain's provenance, and
        every rejected row of the chain to `<stem>.rejected.jsonl` (or `rejected`)."""
        from caravan.records import Provenance, write_records

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        prov = Provenance.capture(
            config=self.provenance_config(config), inputs=self.inputs, command=command
        )
        write_records(self.table, path, kind, provenance=prov, card=card)
        write_rejected(self.rejected, Path(rejected) if rejected else rejected_path_for(path))
        return path


def write_rejected(table: pa.Table, path: Path) -> Path:
    """The one rejected-rows side file: JSON Lines of id, stage, reason, details, row."""
    from caravan.records.writers import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, "w") as fh:
        for rec in table.to_pylist():
            row = rec.get("row")
            rec["row"] = json.loads(row) if row else None
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    return path
