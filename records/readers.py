"""Read records from JSONL, JSON, Parquet, Arrow IPC files, folders of them, or a hub id.

A local path always wins over a Hugging Face dataset id of the same spelling. Rows are
validated against their record kind; bad rows are reported with file and row number and
either fail the read or go to a quarantine file, never vanish.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from caravan.errors import CaravanError
from records.errors import RecordValidationError
from records.fingerprint import fingerprint_path
from records.schemas import RecordKind, get_kind
from records.validate import BadRow, RowLocation, validate_rows

OnError = Literal["fail", "quarantine"]

_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_BATCH = 8192


@dataclass
class Loaded:
    """What a read produced: the valid rows as a table, the bad rows, and where from."""

    table: pa.Table
    bad_rows: list[BadRow]
    source: str
    fingerprint: str
    files: list[str] = field(default_factory=list)


@dataclass
class _Raw:
    loc: RowLocation
    row: Any = None
    error: str | None = None
    raw: str | None = None


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise CaravanError(
            f"{path}: cannot tell the format from the file name; "
            f"use one of {', '.join(sorted(_FORMATS))} (optionally .gz for JSON)"
        )
    return fmt


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - caller closes


def _iter_jsonl(path: Path) -> Iterator[_Raw]:
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            loc = RowLocation(str(path), lineno, "line")
            try:
                yield _Raw(loc, json.loads(line))
            except json.JSONDecodeError as exc:
                yield _Raw(loc, error=f"invalid JSON: {exc.msg} at column {exc.colno}", raw=line)


def _json_rows(path: Path, data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if len(lists) == 1 and all(isinstance(x, dict) for x in next(iter(lists.values()))):
            return next(iter(lists.values()))  # {"data": [{...}, ...]} and similar wrappers
        if lists and len(lists) == len(data) and len({len(v) for v in lists.values()}) == 1:
            keys = list(lists)  # columnar: {"col": [...], ...}
            return [
                dict(zip(keys, vals, strict=True)) for vals in zip(*lists.values(), strict=True)
            ]
    raise CaravanError(
        f"{path}: JSON must be a list of row objects, a columnar object of equal-length "
        "lists, or an object holding one list of rows"
    )


def _iter_json(path: Path) -> Iterator[_Raw]:
    with _open_text(path) as fh:
        text = fh.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # many .json files on the hub are JSON Lines
            yield from _iter_jsonl(path)
            return
        raise CaravanError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    for i, row in enumerate(_json_rows(path, data)):
        yield _Raw(RowLocation(str(path), i, "row"), row)


def _iter_table_batches(label: str, batches: Iterator[pa.RecordBatch]) -> Iterator[_Raw]:
    index = 0
    for batch in batches:
        for row in batch.to_pylist():
            yield _Raw(RowLocation(label, index, "row"), row)
            index += 1


def open_arrow(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Schema and record batches of an Arrow IPC file, in file or stream format."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    source = pa.memory_map(str(path), "r")
    if magic == b"ARROW1":
        reader = ipc.open_file(source)
        return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
    reader = ipc.open_stream(source)
    return reader.schema, iter(reader)


def _file_rows(path: Path) -> tuple[pa.Schema | None, Iterator[_Raw]]:
    fmt = detect_format(path)
    try:
        if fmt == "jsonl":
            return None, _iter_jsonl(path)
        if fmt == "json":
            return None, _iter_json(path)
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            return pf.schema_arrow, _iter_table_batches(str(path), pf.iter_batches(_BATCH))
        schema, batches = open_arrow(path)
        return schema, _iter_table_batches(str(path), batches)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CaravanError(f"{path}: cannot read as {fmt}: {exc}") from exc


def _data_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
        and p.name != "README.md"
        and ".quarantine" not in p.name
    ]
    data = []
    for p in files:
        try:
            detect_format(p)
        except CaravanError:
            continue
        data.append(p)
    if not data:
        raise CaravanError(f"{folder}: folder holds no JSONL, JSON, Parquet or Arrow files")
    return data


def _hub_rows(
    name: str, split: str | None, config: str | None
) -> tuple[pa.Schema, Iterator[_Raw], str, str]:
    import datasets

    split = split or "train"
    label = f"hf:{name}" + (f"[{config}]" if config else "") + f"/{split}"
    try:
        ds = datasets.load_dataset(name, name=config, split=split)
    except Exception as exc:  # noqa: BLE001 - hub, network and auth errors all look different
        raise CaravanError(
            f"{name!r} is not a local path, and loading it as a Hugging Face dataset "
            f"(config={config!r}, split={split!r}) failed: {' '.join(str(exc).split())}"
        ) from exc
    table = ds.with_format("arrow")[: len(ds)]
    fingerprint = f"{label}@{getattr(ds, '_fingerprint', 'unknown')}"
    return (
        table.schema,
        _iter_table_batches(label, iter(table.to_batches(_BATCH))),
        label,
        fingerprint,
    )


def _column_array(name: str, values: list[Any], typ: pa.DataType | None, source: str) -> pa.Array:
    if typ is not None:
        try:
            return pa.array(values, type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # files in a folder may disagree; fall back to inference
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CaravanError(
            f"{source}: column `{name}` mixes value types Arrow cannot unify: {exc}"
        ) from exc


def rows_to_table(
    rows: list[dict[str, Any]],
    kind: RecordKind | None = None,
    source_schema: pa.Schema | None = None,
    source: str = "<rows>",
) -> pa.Table:
    """Build a table from row dicts: kind columns with their types, then extra columns.

    Unlike `pa.Table.from_pylist`, keys missing from the first row are kept, not dropped.
    """
    names: dict[str, None] = {}
    if kind is not None:
        names.update(dict.fromkeys(kind.column_names))
    for row in rows:
        names.update(dict.fromkeys(row))
    fields, arrays = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        if kind is not None and name in kind.column_names:
            col = kind.column(name)
            arr = pa.array(values, type=col.type)
            fields.append(pa.field(name, col.type, nullable=not col.required))
        else:
            typ = None
            if source_schema is not None and name in source_schema.names:
                typ = source_schema.field(name).type
            arr = _column_array(name, values, typ, source)
            fields.append(pa.field(name, arr.type))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _collect(raws: Iterator[_Raw], kind: RecordKind | None) -> tuple[list[dict], list[BadRow]]:
    good: list[dict] = []
    bad: list[BadRow] = []
    parsed: list[tuple[RowLocation, Any]] = []
    for raw in raws:
        if raw.error is not None:
            bad.append(BadRow(raw.loc, raw.error, raw=raw.raw))
        elif kind is None and not isinstance(raw.row, dict):
            bad.append(BadRow(raw.loc, f"row must be an object, got {type(raw.row).__name__}"))
        else:
            parsed.append((raw.loc, raw.row))
    if kind is None:
        return [row for _, row in parsed], bad
    for loc, row, err in validate_rows(parsed, kind):
        if err is None:
            good.append(row)
        else:
            bad.append(BadRow(loc, err, row=row if isinstance(row, dict) else None))
    bad.sort(key=lambda b: (b.location.source, b.location.index))
    return good, bad


def load_records(
    source: str | Path,
    kind: str | RecordKind | None = None,
    *,
    split: str | None = None,
    config: str | None = None,
) -> Loaded:
    """Read every row of `source`, split into a table of valid rows and a list of bad ones."""
    kind_ = get_kind(kind) if kind is not None else None
    path = Path(source).expanduser()
    if path.exists():
        files = _data_files(path) if path.is_dir() else [path]
        schema = None
        raws: list[Iterator[_Raw]] = []
        for f in files:
            s, it = _file_rows(f)
            schema = schema or s
            raws.append(it)
        label = str(path)
        fingerprint = fingerprint_path(path)

        def chain() -> Iterator[_Raw]:
            for it in raws:
                yield from it

        good, bad = _collect(chain(), kind_)
        file_names = [str(f) for f in files]
    elif _HUB_ID.match(str(source)) and not str(source).startswith((".", "/", "~")):
        schema, it, label, fingerprint = _hub_rows(str(source), split, config)
        good, bad = _collect(it, kind_)
        file_names = []
    else:
        raise CaravanError(f"no such file or folder: {source}")
    table = rows_to_table(good, kind_, schema, label)
    return Loaded(
        table=table, bad_rows=bad, source=label, fingerprint=fingerprint, files=file_names
    )


def read_records(
    source: str | Path,
    kind: str | RecordKind | None = None,
    *,
    split: str | None = None,
    config: str | None = None,
    on_error: OnError = "fail",
    quarantine: str | Path | None = None,
) -> pa.Table:
    """Read `source` as a table of `kind` records.

    on_error="fail" raises RecordValidationError naming every bad row; "quarantine" writes
    bad rows (with file, row and reason) to the `quarantine` JSONL and returns the rest.
    """
    loaded = load_records(source, kind, split=split, config=config)
    handle_bad_rows(loaded.bad_rows, kind, loaded.source, on_error, quarantine)
    return loaded.table


def handle_bad_rows(
    bad_rows: list[BadRow],
    kind: str | RecordKind | None,
    source: str,
    on_error: OnError,
    quarantine: str | Path | None,
) -> None:
    """Fail on bad rows, or set them aside in a quarantine file; never drop them."""
    if on_error not in ("fail", "quarantine"):
        raise CaravanError(f"on_error must be 'fail' or 'quarantine', not {on_error!r}")
    if on_error == "quarantine" and quarantine is None:
        raise CaravanError("quarantine mode needs a side-file path for the bad rows")
    if not bad_rows:
        return
    kind_name = get_kind(kind).name if kind is not None else "record"
    if on_error == "fail":
        raise RecordValidationError(bad_rows, kind_name, source)
    from records.writers import write_quarantine

    write_quarantine(bad_rows, quarantine)
