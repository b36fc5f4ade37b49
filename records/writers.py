"""Write records atomically (temp file + rename) with provenance and a dataset card.

A crash mid-write leaves the previous file (or nothing) in place, never a half file. Temp
files start with a dot so `datasets` and our folder reader ignore them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from caravan.records.provenance import METADATA_KEY, Provenance
from caravan.records.readers import _collect, _Raw, handle_bad_rows, rows_to_table
from caravan.records.schemas import RecordKind, get_kind
from caravan.records.validate import BadRow, RowLocation

from caravan.errors import CaravanError

Format = Literal["parquet", "arrow"]
_ROW_GROUP = 65_536


@contextmanager
def atomic_path(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a hidden temp file beside `path`; rename it over `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; data files should be shareable
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _format_for(path: Path, fmt: Format | None) -> Format:
    if fmt is not None:
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".arrow", ".arrows", ".ipc"):
        return "arrow"
    raise CaravanError(f"{path}: write to a .parquet or .arrow file (or pass format=)")


def _as_table(data: pa.Table | list[dict[str, Any]], kind: RecordKind | None) -> pa.Table:
    """Validate against `kind` (a writer never stores a bad row) and fix column types."""
    if kind is None:
        return data if isinstance(data, pa.Table) else rows_to_table(list(data))
    rows = data.to_pylist() if isinstance(data, pa.Table) else list(data)
    source_schema = data.schema if isinstance(data, pa.Table) else None
    raws = (_Raw(RowLocation("<data to write>", i), row) for i, row in enumerate(rows, start=1))
    good, bad, locs = _collect(raws, kind)
    handle_bad_rows(bad, kind, "the data to write", "fail", None)
    return rows_to_table(good, kind, source_schema, locations=locs)


def write_records(
    data: pa.Table | list[dict[str, Any]],
    path: str | Path,
    kind: str | RecordKind | None = None,
    *,
    provenance: Provenance | None = None,
    format: Format | None = None,
    card: bool = True,
) -> Path:
    """Validate, then write `data` atomically as Parquet (or Arrow IPC stream).

    Provenance goes into the schema metadata under b"caravan"; a README.md card beside the
    file tells `datasets` users what they hold.
    """
    path = Path(path)
    kind_ = get_kind(kind) if kind is not None else None
    fmt = _format_for(path, format)
    table = _as_table(data, kind_)
    prov = provenance or Provenance.capture()
    prov.kind = kind_.name if kind_ else prov.kind
    prov.rows = table.num_rows
    metadata = {
        k: v for k, v in (table.schema.metadata or {}).items() if k not in (b"huggingface",)
    }
    metadata[METADATA_KEY] = prov.to_json().encode()
    table = table.replace_schema_metadata(metadata)
    with atomic_path(path) as fh:
        if fmt == "parquet":
            with pq.ParquetWriter(fh, table.schema, compression="zstd") as writer:
                for batch in table.to_batches(_ROW_GROUP):
                    writer.write_batch(batch)
        else:
            with ipc.new_stream(fh, table.schema) as writer:
                for batch in table.to_batches(_ROW_GROUP):
                    writer.write_batch(batch)
    if card:
        from caravan.records.card import write_card

        write_card(path.parent)
    return path


def write_quarantine(bad_rows: list[BadRow], path: str | Path) -> Path:
    """Write bad rows as JSONL: where each came from, why it failed, and the row itself."""
    path = Path(path)
    with atomic_path(path, "w") as fh:
        for bad in bad_rows:
            record = {
                "source": bad.location.source,
                bad.location.unit: bad.location.index,
                "error": bad.error,
                "row": bad.row,
                "raw": bad.raw,
            }
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return path
