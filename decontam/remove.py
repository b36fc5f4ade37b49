"""`decontam remove`: drop the training rows a check report names, keep everything else.

The cleaned file has the input's columns and row order. Every dropped row goes to a side
file with the eval item(s) it overlapped, so `clean + removed` is the original dataset
(the round trip is tested). Reports name matched rows by training id (the row's `id`, else
its content id: `trainio.train_id`), and rows carrying a named id are dropped, wherever
they sit; reports written before ids name 1-based rows instead.
The training file must be byte-identical to the one checked: its fingerprint is compared
with the report's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from caravan.decontam.trainio import file_batches, open_train, train_id
from caravan.records.jsontext import parse_line

from caravan.errors import CaravanError

_BATCH = 8192
MATCH_COLUMNS = ("decontam_eval", "decontam_eval_row", "decontam_coverage", "decontam_eval_text")


@dataclass
class RemoveResult:
    output: Path
    removed_path: Path
    kept: int
    removed: int


def removed_path_for(output: Path) -> Path:
    name = output.name
    for suffix in (".parquet", ".arrow", ".jsonl"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return output.with_name(name + ".removed.parquet")


def _load_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CaravanError(f"{path}: not a readable decontam report: {exc}") from exc
    if not isinstance(report, dict) or "results" not in report or "train" not in report:
        raise CaravanError(f"{path}: not a decontam report (no `results` / `train`)")
    return report


def _train_entry(report: dict, report_path: Path, train: Path, fingerprint: str) -> dict:
    entries = report["train"]
    same = [e for e in entries if Path(e["path"]).resolve() == train.resolve()]
    if not same:
        same = [e for e in entries if e.get("fingerprint") == fingerprint]
    if not same:
        raise CaravanError(
            f"{report_path} has no results for {train} (it checked: "
            f"{', '.join(e['path'] for e in entries)})"
        )
    entry = same[0]
    if entry.get("fingerprint") != fingerprint:
        raise CaravanError(
            f"{train} changed since {report_path} was written (fingerprint "
            f"{fingerprint} != {entry.get('fingerprint')}); run `decontam check` again"
        )
    return entry


@dataclass
class Drops:
    """What a report names for removal: matches by training id and by 0-based row."""

    by_id: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_row: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_id) + len(self.by_row)

    def get(self, row: int, tid: str | None) -> list[dict[str, Any]]:
        """The matches of a training row, best first (exact by coverage, then semantic)."""
        found = [*self.by_id.get(tid, []), *self.by_row.get(row, [])] if tid is not None else (
            self.by_row.get(row, []))  # fmt: skip
        return sorted(found, key=lambda m: (m["method"] != "exact",
                                            -(m["coverage"] or m["similarity"])))  # fmt: skip


def rows_to_remove(
    report: dict, train_label: str, only_contaminated: bool, semantic: bool = False
) -> Drops:
    """The rows a report names, by `train_id` (reports written before ids: by `train_row`):
    exact matches, then, with `semantic`, the flagged pairs of the report's semantic section
    (a pair the judge called "different" is kept).

    Reports name rows from 1 (`rows_count_from`); reports written before that count from 0.
    """
    base = int(report.get("rows_count_from", 0))
    out = Drops()

    def add(m: dict[str, Any], match: dict[str, Any]) -> None:
        if m.get("train_id") is not None:  # else: a report written before ids
            out.by_id.setdefault(str(m["train_id"]), []).append(match)
        else:
            out.by_row.setdefault(int(m["train_row"]) - base, []).append(match)

    for r in report["results"]:
        if r["train"] != train_label or (only_contaminated and not r["contaminated"]):
            continue
        for m in r["matches"]:
            add(m, {"eval": r["eval"], "eval_row": int(m["eval_row"]), "method": "exact",
                    "coverage": m["coverage"], "similarity": None, "judge": None})  # fmt: skip
    if semantic:
        for r in report["semantic"]["results"]:
            if r["train"] != train_label or (only_contaminated and not r["contaminated"]):
                continue
            for m in r["matches"]:
                if m["flagged"]:
                    add(m, {"eval": r["eval"], "eval_row": int(m["eval_row"]),
                            "method": "semantic", "coverage": None,
                            "similarity": float(m["similarity"]), "judge": m.get("judge")})  # fmt: skip
    return out


def _eval_texts(report: dict, report_path: Path, train_label: str) -> dict[tuple[str, int], str]:
    """Eval texts of the matches, from the check's matches file (beside the report)."""
    path = Path(report.get("matches_file", ""))
    if not path.is_file():
        path = report_path.parent / path.name
    if not path.is_file():
        return {}
    table = pq.read_table(path, columns=["train", "eval", "eval_row", "eval_text"])
    out = {}
    for row in table.to_pylist():
        if row["train"] == train_label:
            out[(row["eval"], row["eval_row"])] = row["eval_text"]
    return out


def _input_batches(path: Path) -> Iterator[pa.RecordBatch | tuple[list[bytes], list[int]]]:
    yield from file_batches(path, None, _BATCH)


class _Sink:
    """Writes kept rows to .parquet / .arrow (streaming) or .jsonl, atomically."""

    def __init__(self, path: Path, metadata: dict[bytes, bytes]) -> None:
        from caravan.records.writers import atomic_path

        self.path, self.metadata = path, metadata
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".arrow", ".jsonl"):
            raise CaravanError(f"{path}: write the cleaned data to .parquet, .arrow or .jsonl")
        self.fmt = suffix[1:]
        self._ctx = atomic_path(path, "wb")
        self._fh = self._ctx.__enter__()
        self._writer: Any = None
        self.rows = 0

    def write_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            self._fh.write(line if line.endswith(b"\n") else line + b"\n")
        self.rows += len(lines)

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self.fmt == "jsonl":
            rows = batch.to_pylist()
            self.write_lines(
                [json.dumps(r, ensure_ascii=False, default=str).encode() for r in rows]
            )
            return
        if self._writer is None:
            schema = batch.schema.with_metadata({**(batch.schema.metadata or {}), **self.metadata})
            if self.fmt == "parquet":
                self._writer = pq.ParquetWriter(self._fh, schema, compression="zstd")
            else:
                self._writer = ipc.new_stream(self._fh, schema)
            self._schema = schema
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self._writer.write_table(table.replace_schema_metadata(self._schema.metadata))
        self.rows += batch.num_rows

    def close(self, ok: bool, empty_schema: pa.Schema | None) -> None:
        import sys

        if ok and self._writer is None and self.fmt != "jsonl" and empty_schema is not None:
            self.write_batch(empty_schema.empty_table())
        if self._writer is not None:
            self._writer.close()
        exc = None if ok else sys.exc_info()
        self._ctx.__exit__(*(exc or (None, None, None)))


def run_remove(
    train: str | Path,
    report_path: str | Path,
    output: str | Path,
    removed_path: str | Path | None = None,
    only_contaminated: bool = False,
    semantic: bool = False,
) -> RemoveResult:
    """Write `train` without the rows `report_path` found overlapping eval instances.

    With `semantic`, the rows the report's semantic section flagged go too.
    """
    from caravan.records.card import write_card
    from caravan.records.provenance import METADATA_KEY, Provenance
    from caravan.records.writers import write_records

    report_path, output = Path(report_path), Path(output)
    src = open_train(train)
    fingerprint = src.fingerprint()
    report = _load_report(report_path)
    entry = _train_entry(report, report_path, src.path, fingerprint)
    if semantic and not report.get("semantic"):
        raise CaravanError(
            f"{report_path} has no semantic results; run `decontam check --semantic` first"
        )
    drop = rows_to_remove(report, entry["path"], only_contaminated, semantic)
    removed_path = Path(removed_path) if removed_path else removed_path_for(output)
    if output.resolve() in {f.resolve() for f in src.files}:
        raise CaravanError(f"{output}: refusing to overwrite the input; choose another --output")
    texts = _eval_texts(report, report_path, entry["path"])
    prov = Provenance.capture(
        config={
            "only_contaminated": only_contaminated,
            "semantic": semantic,
            "removed_rows": len(drop),
        },
        inputs={src.label: fingerprint, str(report_path): "decontam report"},
    )
    meta = {METADATA_KEY: prov.to_json().encode()}
    sink = _Sink(output, meta)
    removed_rows: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    row = 0
    schema: pa.Schema | None = None
    json_rows: list[dict[str, Any]] = []  # JSONL -> Parquet/Arrow: one table at the end
    ok = False
    try:
        for f in src.files:
            for b in _input_batches(f):
                if isinstance(b, tuple):  # raw JSONL lines
                    keep_lines = []
                    for line, lineno in zip(b[0], b[1], strict=True):
                        rec = parse_line(line)[0] if drop.by_id or row in drop.by_row else None
                        tid = train_id(rec) if drop.by_id and isinstance(rec, dict) else None
                        matches = drop.get(row, tid)
                        if matches:
                            if not isinstance(rec, dict):
                                raise CaravanError(f"{f}: line {lineno}: not a JSON object")
                            seen_ids.add(str(tid))
                            removed_rows.append(_removed(rec, row, tid, matches, texts))
                        else:
                            keep_lines.append(line)
                        row += 1
                    if sink.fmt == "jsonl":
                        sink.write_lines(keep_lines)
                    else:
                        json_rows.extend(json.loads(x) for x in keep_lines)
                    continue
                if json_rows:  # keep file order when a folder mixes JSON and Arrow files
                    sink.write_batch(_json_table(json_rows))
                    json_rows = []
                schema = schema or b.schema
                tids = _batch_ids(b) if drop.by_id else [None] * b.num_rows
                hits = {i: m for i, tid in enumerate(tids) if (m := drop.get(row + i, tid))}
                if hits:
                    for i, matches in hits.items():
                        rec = b.slice(i, 1).to_pylist()[0]
                        seen_ids.add(str(tids[i]))
                        removed_rows.append(_removed(rec, row + i, tids[i], matches, texts))
                    b = b.filter(pa.array([i not in hits for i in range(b.num_rows)]))
                row += b.num_rows + len(hits)
                if b.num_rows:
                    sink.write_batch(b)
        if json_rows:
            sink.write_batch(_json_table(json_rows))
        ok = True
    finally:
        sink.close(ok, schema)
    gone = {r["decontam_row"] - 1 for r in removed_rows}
    named = [str(r + 1) for r in sorted(set(drop.by_row) - gone)]
    named += sorted(set(drop.by_id) - seen_ids)
    if named:
        raise CaravanError(
            f"{report_path} names rows {named[:5]} that {src.label} does not have ({row} rows)"
        )
    if sink.fmt != "jsonl":
        write_card(output.parent)
    write_records(
        _removed_table(removed_rows, schema),
        removed_path,
        provenance=Provenance.capture(
            config={"removed_from": src.label}, inputs={str(report_path): "decontam report"}
        ),
    )
    return RemoveResult(output, removed_path, sink.rows, len(removed_rows))


def _json_table(rows: list[dict[str, Any]]) -> pa.Table:
    from caravan.records import rows_to_table

    return rows_to_table(rows)


def _batch_ids(batch: pa.RecordBatch) -> list[str]:
    """The training id of every row of a record batch (`trainio.train_id`)."""
    if "id" in batch.schema.names:
        given = batch.column("id").to_pylist()
        if all(v not in (None, "") for v in given):
            return [str(v) for v in given]
    return [train_id(r) for r in batch.to_pylist()]


def _removed(
    rec: dict[str, Any], row: int, tid: str | None, matches: list[dict[str, Any]], texts: dict
) -> dict[str, Any]:
    best = matches[0]
    out = dict(rec)
    out.update(
        decontam_row=row + 1,  # 1-based, like the report
        decontam_train_id=tid if tid is not None else train_id(rec),
        decontam_eval=best["eval"],
        decontam_eval_row=best["eval_row"],
        decontam_coverage=None if best["coverage"] is None else float(best["coverage"]),
        decontam_eval_text=texts.get((best["eval"], best["eval_row"])),
        decontam_method=best["method"],
        decontam_similarity=best["similarity"],
        decontam_matches=[
            {
                "eval": m["eval"],
                "eval_row": m["eval_row"],
                "method": m["method"],
                "coverage": None if m["coverage"] is None else float(m["coverage"]),
                "similarity": m["similarity"],
                "judge": m["judge"],
            }
            for m in matches
        ],
    )
    return out


def _removed_table(rows: list[dict[str, Any]], schema: pa.Schema | None) -> pa.Table:
    from caravan.records import rows_to_table

    if rows:
        return rows_to_table(rows, source_schema=schema)
    fields = list(schema) if schema is not None else []
    fields += [
        pa.field("decontam_row", pa.int64()),
        pa.field("decontam_train_id", pa.string()),
        pa.field("decontam_eval", pa.string()),
        pa.field("decontam_eval_row", pa.int64()),
        pa.field("decontam_coverage", pa.float64()),
        pa.field("decontam_eval_text", pa.string()),
        pa.field("decontam_method", pa.string()),
        pa.field("decontam_similarity", pa.float64()),
    ]
    return pa.schema(fields).empty_table()
