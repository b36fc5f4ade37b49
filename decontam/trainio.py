"""Stream training data in chunks and pick the text that decontamination compares.

Which text (Tülu 3 decontaminates user turns / prompts only): by default the user turns of a
`messages` column, else a `prompt` column (a string, or the user turns of a message list).
`--field COL` picks other columns; `--field COL:ROLE,ROLE` picks turns of a message-list
column (e.g. `messages:user,assistant`), `COL:all` every turn. Several fields are joined
with newlines. Rows are numbered in file order (across the files of a folder, in sorted
order), from 0 inside the scan; the report and `decontam remove` show them counting from 1.

A training row's id (what the report names it by, whatever order an engine runs it in) is
its `id` value when it has one, else the runner's content id of the whole row's non-null
fields (`caravan.runner.row_id`): identical rows share it, and are contaminated alike.

`iter_shards` cuts the data into bounded tables for the runner: Parquet and Arrow record
batches of the compared columns and `id`, JSON Lines as raw lines that the workers parse.
Nothing holds the whole corpus; a matched row without an `id` is read whole afterwards
(`rows_at`) for its content id.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from caravan.records.fingerprint import fingerprint_path
from caravan.records.jsontext import parse_line
from caravan.records.readers import detect_format, open_arrow

from caravan.errors import CaravanError

ALL_ROLES = "all"


@dataclass(frozen=True)
class FieldSpec:
    """A column to take text from; `roles` selects turns when the value is a message list."""

    column: str
    roles: tuple[str, ...] | None = None  # None: every turn / the plain value

    def __str__(self) -> str:
        return self.column + (":" + ",".join(self.roles) if self.roles else "")


def parse_field(spec: str) -> FieldSpec:
    column, _, roles = spec.partition(":")
    if not column.strip():
        raise CaravanError(f"bad --field {spec!r}: expected COLUMN or COLUMN:role,role")
    names = tuple(r.strip() for r in roles.split(",") if r.strip())
    if not roles or names == (ALL_ROLES,):
        return FieldSpec(column.strip(), None)
    return FieldSpec(column.strip(), names)


def resolve_fields(columns: list[str], requested: list[str], source: str) -> list[FieldSpec]:
    """The fields to read: the requested ones (which must exist) or the Tülu default."""
    if requested:
        fields = [parse_field(f) for f in requested]
    elif "messages" in columns:
        fields = [FieldSpec("messages", ("user",))]
    elif "prompt" in columns:
        fields = [FieldSpec("prompt", ("user",))]
    else:
        raise CaravanError(
            f"{source}: no `messages` or `prompt` column to take user text from; choose "
            f"columns with --field (available: {', '.join(columns) or 'none'})"
        )
    missing = [f.column for f in fields if f.column not in columns]
    if missing:
        raise CaravanError(
            f"{source}: no column {', '.join(map(repr, missing))} "
            f"(available: {', '.join(columns) or 'none'})"
        )
    return fields


def field_text(value: Any, roles: tuple[str, ...] | None) -> str:
    """Text of a value: a string, a list of strings, or chat messages filtered by role."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "content" in value:
            if roles is not None and value.get("role") not in roles:
                return ""
            return field_text(value["content"], None)
        raise ValueError("an object without a `content` key")
    if isinstance(value, list):
        return "\n".join(t for t in (field_text(v, roles) for v in value) if t)
    if isinstance(value, (int, float)):
        return str(value)
    raise ValueError(f"cannot take text from a {type(value).__name__} value")


def row_text(row: dict[str, Any], fields: list[FieldSpec]) -> str:
    parts = [field_text(row.get(f.column), f.roles) for f in fields]
    return "\n".join(p for p in parts if p)


@dataclass
class Chunk:
    """A block of consecutive training rows, starting at global row `start`."""

    start: int
    source: str
    table: pa.RecordBatch | None = None
    lines: list[bytes] | None = None
    linenos: list[int] | None = None

    @property
    def num_rows(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.lines or [])


def chunk_texts(chunk: Chunk, fields: list[FieldSpec]) -> list[str]:
    """The compared text of each row in `chunk` (in the workers, via `shard_texts`)."""
    if chunk.table is not None:
        cols = {f.column: chunk.table.column(f.column) for f in fields}
        typ = cols[fields[0].column].type
        if len(fields) == 1 and (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            return [t or "" for t in cols[fields[0].column].to_pylist()]
        values = {name: col.to_pylist() for name, col in cols.items()}
        out = []
        for i in range(chunk.num_rows):
            try:
                out.append(row_text({k: v[i] for k, v in values.items()}, fields))
            except ValueError as exc:
                raise CaravanError(f"{chunk.source} row {chunk.start + i + 1}: {exc}") from exc
        return out
    out = []
    for raw, lineno in zip(chunk.lines or [], chunk.linenos or [], strict=True):
        row, err = parse_line(raw)
        if err is not None:
            raise CaravanError(f"{chunk.source}: line {lineno}: {err}")
        if not isinstance(row, dict):
            raise CaravanError(f"{chunk.source} line {lineno}: row must be a JSON object")
        try:
            out.append(row_text(row, fields))
        except ValueError as exc:
            raise CaravanError(f"{chunk.source} line {lineno}: {exc}") from exc
    return out


@dataclass
class TrainSource:
    """A training dataset on disk: one file or a folder of files."""

    path: Path
    files: list[Path]
    columns: list[str]

    @property
    def label(self) -> str:
        return str(self.path)

    def fingerprint(self) -> str:
        return fingerprint_path(self.path)

    def num_rows(self) -> int | None:
        total = 0
        for f in self.files:
            fmt = detect_format(f)
            if fmt == "parquet":
                total += pq.ParquetFile(f).metadata.num_rows
            else:
                return None
        return total


def _list_files(path: Path) -> list[Path]:
    if path.is_file():
        detect_format(path)
        return [path]
    files = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).parts
        if not p.is_file() or any(part.startswith((".", "_")) for part in rel):
            continue
        try:
            detect_format(p)
        except CaravanError:
            continue
        files.append(p)
    if not files:
        raise CaravanError(f"{path}: folder holds no JSONL, JSON, Parquet or Arrow files")
    return files


def _open_text(path: Path, mode: str = "rb"):
    return gzip.open(path, mode) if path.suffix.lower() == ".gz" else open(path, mode)  # noqa: SIM115


def _columns_of(path: Path) -> list[str]:
    fmt = detect_format(path)
    try:
        if fmt == "parquet":
            return list(pq.read_schema(path).names)
        if fmt == "arrow":
            return list(open_arrow(path)[0].names)
        if fmt == "json":
            return list(_json_table(path).column_names)
        names: dict[str, None] = {}
        with _open_text(path) as fh:
            seen = 0
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                row, err = parse_line(line)
                if err is not None:
                    raise CaravanError(f"{path}: line {lineno}: {err}")
                if isinstance(row, dict):
                    names.update(dict.fromkeys(row))
                seen += 1
                if seen >= 100:
                    break
        return list(names)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise CaravanError(f"{path}: cannot read as {fmt}: {exc}") from exc


def open_train(path: str | Path) -> TrainSource:
    p = Path(path).expanduser()
    if not p.exists():
        raise CaravanError(f"training data not found: {path}")
    files = _list_files(p)
    return TrainSource(p, files, _columns_of(files[0]))


def _json_table(path: Path) -> pa.Table:
    from caravan.records import load_records

    loaded = load_records(path)
    if loaded.bad_rows:
        bad = loaded.bad_rows[0]
        raise CaravanError(str(bad))
    return loaded.table


def _rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    for b in batches:
        for lo in range(0, b.num_rows, rows):
            yield b.slice(lo, rows)


_BIG_ROW_GROUP = 512 << 20


def _parquet_batches(path: Path, columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
    """One row group at a time, released before the next: memory stays at one row group.

    (`ParquetFile.iter_batches` over a whole file was measured to keep growing its
    allocations with pyarrow 26.) Row groups over 512 MB are streamed in batches instead.
    """
    pf = pq.ParquetFile(path)
    for rg in range(pf.metadata.num_row_groups):
        if pf.metadata.row_group(rg).total_byte_size > _BIG_ROW_GROUP:
            yield from pf.iter_batches(batch_size=rows, row_groups=[rg], columns=columns)
            continue
        table = pf.read_row_group(rg, columns=columns)
        yield from table.to_batches(rows)
        del table


def file_batches(
    path: Path, columns: list[str] | None, rows: int
) -> Iterator[pa.RecordBatch | tuple[list[bytes], list[int]]]:
    """Record batches (Parquet/Arrow/JSON) or (raw lines, line numbers) blocks (JSONL)."""
    fmt = detect_format(path)
    try:
        if fmt == "parquet":
            yield from _parquet_batches(path, columns, rows)
        elif fmt == "arrow":
            schema, batches = open_arrow(path)
            for b in _rebatch(batches, rows):
                yield b.select(columns) if columns else b
        elif fmt == "json":
            table = _json_table(path)
            yield from (table.select(columns) if columns else table).to_batches(rows)
        else:
            with _open_text(path) as fh:
                lines: list[bytes] = []
                linenos: list[int] = []
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    lines.append(line)
                    linenos.append(lineno)
                    if len(lines) >= rows:
                        yield lines, linenos
                        lines, linenos = [], []
                if lines:
                    yield lines, linenos
    except (pa.ArrowInvalid, OSError) as exc:
        raise CaravanError(f"{path}: cannot read as {fmt}: {exc}") from exc


# Columns a shard carries besides the data's own (whose `id`, if any, moves to ORIG_ID: the
# runner's `id` is the row's position, unique whatever the data holds).
ROW = "_decontam_row"  # 0-based row of the training dataset
FILE = "_decontam_file"
LINE = "_decontam_line"  # JSON Lines: 1-based line of FILE
RAW = "_decontam_json"  # JSON Lines: the raw line, parsed by the worker
ORIG_ID = "_decontam_id"
PRIVATE = (ROW, FILE, LINE, RAW, ORIG_ID)


def train_id(row: dict[str, Any]) -> str:
    """The id a report names a training row by: its `id`, else the runner's content id of
    its non-null fields (so a JSON line without a key and a Parquet row with a null there
    get the same id)."""
    value = row.get("id")
    if value not in (None, ""):
        return str(value)
    from caravan.runner import row_id

    return row_id({k: v for k, v in row.items() if v is not None})


def _shard(start: int, file: str, data: dict[str, pa.Array]) -> pa.Table:
    n = len(next(iter(data.values())))
    rows = pa.array(np.arange(start, start + n, dtype=np.int64))
    files = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([file]))
    ids = pc.cast(rows, pa.string())
    return pa.table({"id": ids, ROW: rows, FILE: files, **data})


def _arrow_shard(start: int, file: Path, batches: list[pa.RecordBatch]) -> pa.Table:
    table = pa.Table.from_batches(batches)
    data = {(ORIG_ID if c == "id" else c): table.column(c) for c in table.column_names}
    return _shard(start, str(file), data)


def iter_shards(
    src: TrainSource, fields: list[FieldSpec], rows: int
) -> Iterator[tuple[Path, int, pa.Table]]:
    """(file, the file's first dataset row, shard): consecutive blocks of at most `rows`
    training rows (never across files) as tables for the runner, with the compared
    columns and `id` (JSON Lines: the raw lines) plus the private ones. A row without an
    `id` is named by the content id of the whole row: see `rows_at`."""
    wanted = sorted({f.column for f in fields} | {"id"})
    start = 0
    for f in src.files:
        first = start
        columns = None
        if detect_format(f) != "jsonl":
            names = _columns_of(f)
            missing = [c for c in wanted if c not in names and c != "id"]
            if missing:
                raise CaravanError(f"{f}: no column {', '.join(map(repr, missing))}")
            columns = [c for c in wanted if c in names]
        pending: list[pa.RecordBatch] = []
        size = 0
        for b in file_batches(f, columns, rows):
            if isinstance(b, tuple):
                lines, linenos = b
                yield f, first, _shard(start, str(f), {LINE: pa.array(linenos, pa.int64()),
                                                       RAW: pa.array(lines, pa.binary())})  # fmt: skip
                start += len(lines)
                continue
            if size + b.num_rows > rows and pending:
                yield f, first, _arrow_shard(start, f, pending)
                start, pending, size = start + size, [], 0
            pending.append(b)
            size += b.num_rows
        if pending:
            yield f, first, _arrow_shard(start, f, pending)
            start += size


def rows_at(path: Path, positions: list[int]) -> dict[int, dict[str, Any]]:
    """The whole rows at 0-based `positions` of a Parquet, Arrow or JSON file, for content
    ids of matched rows (shards carry only the compared columns); reads only the row
    groups holding them, and no further than the last."""
    want = sorted(set(positions))
    out: dict[int, dict[str, Any]] = {}

    def take(batch: pa.RecordBatch, lo: int) -> None:
        for p in want:
            if lo <= p < lo + batch.num_rows:
                out[p] = batch.slice(p - lo, 1).to_pylist()[0]

    if not want:
        return out
    if detect_format(path) == "parquet":
        pf = pq.ParquetFile(path)
        start = 0
        for rg in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            inside = [p for p in want if start <= p < start + n]
            lo = start
            for batch in pf.iter_batches(batch_size=4096, row_groups=[rg]) if inside else ():
                take(batch, lo)
                lo += batch.num_rows
                if lo > inside[-1]:
                    break
            start += n
            if start > want[-1]:
                break
        return out
    lo = 0
    for batch in file_batches(path, None, 65536):
        if isinstance(batch, tuple):
            raise CaravanError(f"{path}: JSON Lines rows travel whole; rows_at is not needed")
        take(batch, lo)
        lo += batch.num_rows
        if lo > want[-1]:
            break
    return out


def shard_texts(shard: pa.Table, fields: list[FieldSpec]) -> list[str]:
    """The compared text of each row of a shard (runs in the workers)."""
    if not shard.num_rows:
        return []
    file = str(shard.column(FILE)[0])
    start = shard.column(ROW)[0].as_py()
    if RAW in shard.column_names:
        lines = [v.as_py() for v in shard.column(RAW)]
        chunk = Chunk(start, file, lines=lines, linenos=shard.column(LINE).to_pylist())
        return chunk_texts(chunk, fields)
    stored = {f.column: ORIG_ID if f.column == "id" else f.column for f in fields}
    missing = [c for c, name in stored.items() if name not in shard.column_names]
    if missing:
        raise CaravanError(f"{file}: no column {', '.join(map(repr, missing))}")
    cols = pa.table({c: shard.column(name) for c, name in stored.items()})
    return chunk_texts(Chunk(start, file, table=cols.combine_chunks().to_batches()[0]), fields)


def shard_train_id(shard: pa.Table, i: int) -> str | None:
    """The training id of row `i` of a shard: from its `id`, or from the whole row when
    the shard holds it (a JSON line); None: the driver reads the row (`rows_at`)."""
    if RAW in shard.column_names:
        row, _ = parse_line(shard.column(RAW)[i].as_py())
        return train_id(row) if isinstance(row, dict) else None
    if ORIG_ID in shard.column_names:
        value = shard.column(ORIG_ID)[i].as_py()
        if value not in (None, ""):
            return str(value)
    return None


def iter_chunks(src: TrainSource, fields: list[FieldSpec], rows: int) -> Iterator[Chunk]:
    """Consecutive row blocks of the whole source, carrying only the needed columns."""
    columns = sorted({f.column for f in fields})
    start = 0
    for f in src.files:
        for b in file_batches(f, columns, rows):
            if isinstance(b, tuple):
                chunk = Chunk(start, str(f), lines=b[0], linenos=b[1])
            else:
                missing = [c for c in columns if c not in b.schema.names]
                if missing:
                    raise CaravanError(f"{f}: no column {', '.join(map(repr, missing))}")
                chunk = Chunk(start, str(f), table=b)
            start += chunk.num_rows
            yield chunk
