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
from caravan.records.errors import RecordValidationError
from caravan.records.fingerprint import fingerprint_path
from caravan.records.jsontext import BOM, decode_text, loads_strict, not_json_constant, parse_line
from caravan.records.schemas import RecordKind, get_kind
from caravan.records.validate import BadRow, RowLocation, validate_rows

from caravan.errors import CaravanError
from caravan.hub import looks_like_path, require_hub

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
    locations: list[RowLocation] = field(default_factory=list)  # of each table row


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


def _open_bytes(path: Path) -> io.BufferedIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - caller closes


def _iter_jsonl(path: Path) -> Iterator[_Raw]:
    with _open_bytes(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.strip() == BOM:
                continue
            loc = RowLocation(str(path), lineno, "line")
            value, err = parse_line(line)
            if err is None:
                yield _Raw(loc, value)
            else:
                yield _Raw(loc, error=err, raw=line.decode("utf-8", errors="replace"))


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


def _line_of_bad_byte(data: bytes) -> int:
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return data[: exc.start].count(b"\n") + 1
    return 1


def _iter_json(path: Path) -> Iterator[_Raw]:
    with _open_bytes(path) as fh:
        data = fh.read()
    text, err = decode_text(data)
    if text is None:
        raise CaravanError(f"{path}: line {_line_of_bad_byte(data)}: {err}")
    value, err, constants = loads_strict(text)
    if err is not None:
        if "Extra data" in err:  # many .json files on the hub are JSON Lines
            yield from _iter_jsonl(path)
            return
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise CaravanError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
        except RecursionError:
            pass
        raise CaravanError(f"{path}: {err}")
    for i, row in enumerate(_json_rows(path, value), start=1):
        loc = RowLocation(str(path), i, "row")
        bad = not_json_constant(row) if constants else None
        yield _Raw(loc, error=bad) if bad else _Raw(loc, row)


def _iter_table_batches(label: str, batches: Iterator[pa.RecordBatch]) -> Iterator[_Raw]:
    index = 1
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
    split = split or "train"
    label = f"hf:{name}" + (f"[{config}]" if config else "") + f"/{split}"
    require_hub(name)
    import datasets

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


def _first_failing(values: list[Any]) -> int:
    """Index of the first value that Arrow cannot put in one column with those before it."""
    lo, hi = 1, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            pa.array(values[:mid])
            lo = mid + 1
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            hi = mid
    return lo - 1


def _column_array(
    name: str,
    values: list[Any],
    typ: pa.DataType | None,
    source: str,
    locations: list[RowLocation] | None = None,
) -> pa.Array:
    if typ is not None:
        try:
            return pa.array(values, type=typ)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # files in a folder may disagree; fall back to inference
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        i = _first_failing(values)
        where = str(locations[i]) if locations else f"{source}: row {i + 1}"
        raise CaravanError(
            f"{where}: column `{name}` holds a value whose type does not fit the rows "
            f"before it ({exc}); fix the row or quarantine it (--quarantine PATH)"
        ) from exc


def rows_to_table(
    rows: list[dict[str, Any]],
    kind: RecordKind | None = None,
    source_schema: pa.Schema | None = None,
    source: str = "<rows>",
    locations: list[RowLocation] | None = None,
) -> pa.Table:
    """Build a table from row dicts: kind columns with their types, then extra columns.

    Unlike `pa.Table.from_pylist`, keys missing from the first row are kept, not dropped.
    With no rows, the columns of `kind` or `source_schema` are kept, so an empty table
    still says what it would hold.
    """
    names: dict[str, None] = {}
    if kind is not None:
        names.update(dict.fromkeys(kind.column_names))
    if not rows and source_schema is not None:
        names.update(dict.fromkeys(source_schema.names))
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
            arr = _column_array(name, values, typ, source, locations)
            fields.append(pa.field(name, arr.type))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _type_class(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _mixed_type_error(
    row: dict[str, Any], skip: set[str], first: dict[str, tuple[str, RowLocation]], loc: RowLocation
) -> str | None:
    """A column whose value here has another type than in the first row that had it."""
    for key, value in row.items():
        if value is None or key in skip:
            continue
        cls = _type_class(value)
        seen = first.get(key)
        if seen is None:
            first[key] = (cls, loc)
        elif seen[0] != cls:
            return f"column `{key}` is {cls} here but {seen[0]} at {seen[1]}"
    return None


@dataclass
class _FileStats:
    rows: int = 0
    objects: int = 0
    good: int = 0
    keys: set[str] = field(default_factory=set)


def _wrong_kind_error(stats: dict[str, _FileStats], kind: RecordKind) -> str | None:
    """One message for a file of another shape, instead of one per row."""
    wanted = [c for c in kind.required if c != "id"]
    for source, st in stats.items():
        if st.objects == 0 or st.good or st.keys & set(wanted):
            continue
        from caravan.records.schemas import KINDS

        others = [k.name for k in KINDS.values() if k is not kind and set(k.required) <= st.keys]
        guess = f"; it looks like {others[0]} records" if others else ""
        cols = ", ".join(sorted(st.keys)[:12]) or "none"
        return (
            f"{source}: not {kind.name} records: none of its {st.objects} rows has "
            f"{', '.join(f'`{c}`' for c in wanted)} (its columns: {cols}){guess}. "
            f"Convert it first (see `verify build-rlvr`) or pick the right --kind."
        )
    return None


def _collect(
    raws: Iterator[_Raw], kind: RecordKind | None
) -> tuple[list[dict], list[BadRow], list[RowLocation]]:
    """Split rows into good and bad; the good rows' locations come back alongside."""
    bad: list[BadRow] = []
    parsed: list[tuple[RowLocation, Any]] = []
    stats: dict[str, _FileStats] = {}
    for raw in raws:
        st = stats.setdefault(raw.loc.source, _FileStats())
        st.rows += 1
        if raw.error is not None:
            bad.append(BadRow(raw.loc, raw.error, raw=raw.raw))
        elif not isinstance(raw.row, dict):
            bad.append(BadRow(raw.loc, f"row must be a JSON object, got {type(raw.row).__name__}"))
        else:
            st.objects += 1
            if len(st.keys) < 64:
                st.keys.update(raw.row)
            parsed.append((raw.loc, raw.row))
    checked: Iterator[tuple[RowLocation, Any, str | None]]
    if kind is None:
        checked = ((loc, row, None) for loc, row in parsed)
    else:
        checked = validate_rows(parsed, kind)
    skip = set(kind.column_names) if kind is not None else set()
    first: dict[str, tuple[str, RowLocation]] = {}
    good: list[dict] = []
    locs: list[RowLocation] = []
    for loc, row, err in checked:
        err = err or _mixed_type_error(row, skip, first, loc)
        if err is None:
            good.append(row)
            locs.append(loc)
            stats[loc.source].good += 1
        else:
            bad.append(BadRow(loc, err, row=row))
    if kind is not None:
        wrong = _wrong_kind_error(stats, kind)
        if wrong:
            raise CaravanError(wrong)
    bad.sort(key=lambda b: (b.location.source, b.location.index))
    return good, bad, locs


def load_records(
    source: str | Path,
    kind: str | RecordKind | None = None,
    *,
    split: str | None = None,
    config: str | None = None,
    allow_empty: bool = False,
) -> Loaded:
    """Read every row of `source`, split into a table of valid rows and a list of bad ones.

    A source without a single row is an error unless `allow_empty`: a pipeline fed nothing
    would otherwise write empty outputs and exit 0.
    """
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

        good, bad, locs = _collect(chain(), kind_)
        file_names = [str(f) for f in files]
    elif looks_like_path(source) or not _HUB_ID.match(str(source)):
        raise CaravanError(f"no such file or folder: {source}")
    else:
        schema, it, label, fingerprint = _hub_rows(str(source), split, config)
        good, bad, locs = _collect(it, kind_)
        file_names = []
    if not good and not bad and not allow_empty:
        raise CaravanError(f"{label}: holds no rows; an empty input is an error")
    table = rows_to_table(good, kind_, schema, label, locs)
    return Loaded(
        table=table,
        bad_rows=bad,
        source=label,
        fingerprint=fingerprint,
        files=file_names,
        locations=locs,
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
    from caravan.records.writers import write_quarantine

    assert quarantine is not None  # checked above, before any row was looked at
    write_quarantine(bad_rows, quarantine)
