"""`decontam check`: scan training datasets against eval sets and write the report.

The eval sets are indexed once (cached on disk). Each training dataset is cut into bounded
shards (`trainio.iter_shards`) that the runner passes through the `Check` stage
(`caravan.cli_run.run_steps`): in local worker processes (`--workers`) or on Ray's actors
(`--executor ray`), which both get the index once and scan their batches in parallel. The
stage returns only matched rows, named by their training id, so memory is the index plus
a shard or two, whatever the corpus size. Each finished shard is journaled beside the
report, so an interrupted check resumes where it stopped.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from caravan.decontam.evalsets import EvalSet
from caravan.decontam.index import EvalIndex, cached_index, default_cache_dir, merge_indexes

from caravan.errors import CaravanError

MATCH_SCHEMA = pa.schema(
    [
        ("train", pa.string()),
        ("train_row", pa.int64()),
        ("train_id", pa.string()),  # the row's `id`, else its content id (trainio.train_id)
        ("eval", pa.string()),
        ("eval_row", pa.int64()),
        ("coverage", pa.float64()),
        ("train_text", pa.string()),
        ("eval_text", pa.string()),
        ("method", pa.string()),  # "exact" (8-gram) or "semantic" (embeddings)
        ("similarity", pa.float64()),  # semantic: cosine similarity; exact: null
        ("judge", pa.string()),  # semantic with --semantic-judge: same / different / error
    ]
)
SHARD_BATCHES = {"local": 32, "ray": 256}  # batches per shard: Ray pays a pool start per shard


@dataclass
class CheckConfig:
    ngram: int = 8
    instance_threshold: float = 0.5
    dataset_threshold: float = 0.02
    fields: list[str] = field(default_factory=list)
    workers: int = 0  # local processes; 0: one per available core
    batch_rows: int = 2048
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    progress: bool = True
    resume: bool = True  # replay the journal of an interrupted identical check

    def validate(self) -> None:
        if self.ngram < 1:
            raise CaravanError(f"--ngram must be at least 1, not {self.ngram}")
        for name, v in (
            ("--instance-threshold", self.instance_threshold),
            ("--dataset-threshold", self.dataset_threshold),
        ):
            if not 0.0 <= v < 1.0:
                raise CaravanError(f"{name} must be in [0, 1), not {v}")
        if self.batch_rows < 1:
            raise CaravanError("--batch-rows must be at least 1")

    def num_workers(self) -> int:
        if self.workers > 0:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not on Linux
            return max(1, os.cpu_count() or 1)


@dataclass
class EvalCatalog:
    """The merged index and, for each global item id, its eval set and row."""

    sets: list[EvalSet]
    index: EvalIndex
    offsets: np.ndarray  # first item id of each set, plus the total
    cache_hits: int = 0

    def locate(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.searchsorted(self.offsets, items, side="right") - 1
        rows = np.array(
            [self.sets[k].rows[i - self.offsets[k]] for k, i in zip(s, items, strict=True)],
            dtype=np.int64,
        )
        return s, rows


def build_catalog(sets: list[EvalSet], n: int, cache_dir: Path | None) -> EvalCatalog:
    parts, hits = [], 0
    for s in sets:
        idx, hit = cached_index(s.texts, n, cache_dir)
        parts.append(idx)
        hits += hit
    offsets = np.cumsum([0] + [len(s.texts) for s in sets])
    return EvalCatalog(sets, merge_indexes(parts), offsets, hits)


@dataclass
class TrainScan:
    """What one training dataset produced; `matches` hold 0-based rows (as `Check` marks)."""

    path: str
    fingerprint: str
    fields: list[str]
    rows: int = 0
    tokens: int = 0
    rows_without_text: int = 0
    rows_without_text_examples: list[int] = field(default_factory=list)
    resumed_rows: int = 0
    matches: list[dict[str, Any]] = field(default_factory=list)


def shard_key(run: dict[str, Any], train: str, start: int, rows: int) -> str:
    """A finished shard's journal key: the run's settings, eval sets and training file
    content, and where the shard lies in it (a changed file or setting scans afresh)."""
    import hashlib
    import json

    parts = {**run, "train": train, "start": start, "rows": rows}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _shard_result(ds: Any, label: str) -> Any:
    """The Check step's output for one shard, as the journal stores it."""
    from caravan.stage import StageResult

    prefix = f"{label}."
    counters = Counter({k[len(prefix) :]: v for k, v in ds.stats.items() if k.startswith(prefix)})
    return StageResult(rows=ds.table.to_pylist(), counters=counters)


def scan_train(
    path: str | Path,
    stage: Any,
    config: CheckConfig,
    run: dict[str, Any],
    journal: Any = None,
    executor: Any = None,
    on_matches: Any = None,
) -> TrainScan:
    """Stream one training dataset through `stage` shard by shard; a shard `journal`
    holds is replayed instead of scanned, and each newly scanned one is added to it."""
    from caravan.decontam.trainio import iter_shards, open_train, resolve_fields

    from caravan.cli_run import run_steps
    from caravan.runner import BatchPool

    src = open_train(path)
    fields = resolve_fields(src.columns, config.fields, src.label)
    stage.fields = [str(f) for f in fields]
    scan = TrainScan(src.label, run["fingerprint"], [str(f) for f in fields])
    kind = executor.executor if executor is not None else "local"
    workers = config.num_workers() if kind == "local" else 1
    rows = src.num_rows()
    pool = None  # local worker processes: started once per file (they hold its fields),
    if workers > 1 and (rows is None or rows > config.batch_rows):  # before it is read
        pool = BatchPool(stage, workers)
    try:
        for file, first, shard in iter_shards(src, fields, config.batch_rows * SHARD_BATCHES[kind]):
            start = shard.column("_decontam_row")[0].as_py()
            key = shard_key(run, src.label, start, shard.num_rows)
            result = journal.get(key) if journal is not None else None
            if result is not None:
                scan.resumed_rows += shard.num_rows
            else:
                label = f"scan {src.path.name}" + (f" from row {start + 1:,}" if start else "")
                ds = run_steps([stage], shard, executor=executor, progress=config.progress,
                               batch_size=config.batch_rows, workers=pool, labels=[label])  # fmt: skip
                result = _shard_result(ds, label)
                _content_ids(result.rows, file, first)
                if journal is not None:
                    journal.put(key, result)
            _add(scan, result, on_matches)
    finally:
        if pool is not None:
            pool.close()
    if scan.rows > 0 and scan.rows_without_text == scan.rows:
        raise CaravanError(
            f"{src.label}: none of its {scan.rows} rows has text in field(s) "
            f"{', '.join(scan.fields)}; choose other columns with --field"
        )
    return scan


def _content_ids(rows: list[dict[str, Any]], file: Path, first: int) -> None:
    """Matched rows the shard could not name (no `id`): the content id of the whole row."""
    from caravan.decontam.trainio import rows_at, train_id

    todo = [r for r in rows if not r.get("no_text") and r.get("train_id") is None]
    whole = rows_at(file, [r["train_row"] - first for r in todo]) if todo else {}
    for r in todo:
        r["train_id"] = train_id(whole[r["train_row"] - first])


def _add(scan: TrainScan, result: Any, on_matches: Any) -> None:
    """One shard's counts and matches, into its dataset's scan."""
    from caravan.decontam.stages import MARK

    scan.rows += result.counters["rows"]
    scan.tokens += result.counters["tokens"]
    scan.rows_without_text += result.counters["rows_without_text"]
    found = []
    for row in result.rows:
        if row.get("no_text"):
            if len(scan.rows_without_text_examples) < 10:
                scan.rows_without_text_examples.append(row["train_row"])
            continue
        for m in row[MARK]:
            found.append({"train_row": row["train_row"], "train_id": row["train_id"],
                          "eval": m["eval"], "eval_row": m["eval_row"],
                          "coverage": m["coverage"], "text": row["text"]})  # fmt: skip
    scan.matches.extend(found)
    if found and on_matches is not None:
        on_matches(scan.path, found)


class MatchWriter:
    """Streams every match, with both texts, to a Parquet file."""

    def __init__(self, catalog: EvalCatalog, writer: pq.ParquetWriter) -> None:
        self.catalog, self.writer, self.count = catalog, writer, 0
        self.eval_text = {(s.name, r): t for s in catalog.sets
                          for r, t in zip(s.rows, s.texts, strict=True)}  # fmt: skip

    def __call__(self, train: str, matches: list[dict[str, Any]]) -> None:
        table = pa.table(
            {
                "train": [train] * len(matches),
                "train_row": [m["train_row"] + 1 for m in matches],  # 1-based, as every row
                "train_id": [m["train_id"] for m in matches],
                "eval": [m["eval"] for m in matches],
                "eval_row": [m["eval_row"] + 1 for m in matches],
                "coverage": [m["coverage"] for m in matches],
                "train_text": [m["text"] for m in matches],
                "eval_text": [self.eval_text[(m["eval"], m["eval_row"])] for m in matches],
                "method": ["exact"] * len(matches),
                "similarity": [None] * len(matches),
                "judge": [None] * len(matches),
            },
            schema=self.writer.schema,
        )
        self.writer.write_table(table)
        self.count += len(matches)

    def write_semantic(self, candidates: list) -> None:
        """Rows for `decontam.semantic` candidate pairs (method "semantic", no coverage)."""
        if not candidates:
            return
        items = np.array([c.item for c in candidates], dtype=np.int64)
        sets, rows = self.catalog.locate(items)
        table = pa.table(
            {
                "train": [c.train for c in candidates],
                "train_row": [c.train_row + 1 for c in candidates],
                "train_id": [c.train_id for c in candidates],
                "eval": [self.catalog.sets[s].name for s in sets],
                "eval_row": np.asarray(rows) + 1,
                "coverage": [None] * len(candidates),
                "train_text": [c.train_text for c in candidates],
                "eval_text": [self.catalog.index.texts[i] for i in items],
                "method": ["semantic"] * len(candidates),
                "similarity": [float(c.similarity) for c in candidates],
                "judge": [c.verdict for c in candidates],
            },
            schema=self.writer.schema,
        )
        self.writer.write_table(table)


def pair_results(scan: TrainScan, catalog: EvalCatalog, config: CheckConfig) -> list[dict]:
    """Per eval set: totals, the Tülu dataset-level decision, best and all matches."""
    out = []
    for es in catalog.sets:
        matches = sorted(
            (
                {
                    "eval_row": m["eval_row"] + 1,  # 1-based, as every row we name
                    "train_id": m["train_id"],
                    "train_row": m["train_row"] + 1,
                    "coverage": float(m["coverage"]),
                }
                for m in scan.matches
                if m["eval"] == es.name
            ),
            key=lambda m: (m["eval_row"], -m["coverage"], m["train_row"]),
        )
        best, seen = [], set()
        for m in matches:  # sorted by eval row, then coverage desc, then train row
            if m["eval_row"] not in seen:
                seen.add(m["eval_row"])
                best.append(m)
        total = len(es.texts)
        fraction = len(best) / total if total else 0.0
        out.append(
            {
                "train": scan.path,
                "eval": es.name,
                "eval_instances": total,
                "overlapped": len(best),
                "fraction": fraction,
                "contaminated": fraction > config.dataset_threshold,
                "best_matches": best,
                "matches": matches,
            }
        )
    return out


def matches_path_for(report: Path) -> Path:
    return report.with_name(report.stem + ".matches.parquet")


def run_check(
    train_paths: list[str | Path],
    eval_sets: list[EvalSet],
    config: CheckConfig,
    report_path: str | Path,
    matches_path: str | Path | None = None,
    fuzzy: Any = None,
    semantic: Any = None,
    executor: Any = None,
) -> dict[str, Any]:
    """Check every training dataset against every eval set; write report + matches file.

    `fuzzy` is an optional `decontam.fuzzy.FuzzyConfig`; its result goes under "fuzzy".
    `semantic` is an optional `decontam.semantic.SemanticConfig`; its result goes under
    "semantic" and its pairs into the matches file with method "semantic".
    `executor` is a `caravan.cli_run.ExecutorArgs` (default: local processes).
    """
    import json
    from datetime import UTC, datetime

    from caravan.decontam.index import content_key
    from caravan.decontam.stages import Check
    from caravan.decontam.tokens import TOKENIZER_VERSION
    from caravan.decontam.trainio import open_train
    from caravan.records.provenance import METADATA_KEY, Provenance
    from caravan.records.writers import atomic_path

    from caravan import __version__
    from caravan.cli_run import journal_for
    from caravan.journal import Journal

    config.validate()
    if semantic is not None:
        semantic.validate()
    if not train_paths:
        raise CaravanError("no training data given (--train)")
    if not eval_sets:
        raise CaravanError("no eval sets given (--eval)")
    report_path = Path(report_path)
    matches_path = Path(matches_path) if matches_path else matches_path_for(report_path)
    catalog = build_catalog(eval_sets, config.ngram, config.cache_dir)
    settings = {
        "ngram": config.ngram,
        "instance_threshold": config.instance_threshold,
        "dataset_threshold": config.dataset_threshold,
        "tokenizer": TOKENIZER_VERSION,
        "fields": list(config.fields),
    }
    prov = Provenance.capture(config=settings)
    schema = MATCH_SCHEMA.with_metadata({METADATA_KEY: prov.to_json().encode()})
    fingerprints = [open_train(p).fingerprint() for p in train_paths]  # hashed once
    evals = [(s.name, content_key(s.texts, config.ngram)) for s in eval_sets]
    stage = Check([s.name for s in eval_sets], ngram=config.ngram,
                  instance_threshold=config.instance_threshold, only_matched=True)  # fmt: skip
    stage.use_shared_state(catalog)  # the sets are loaded; workers get this index
    jpath = journal_for(report_path)
    if not config.resume:
        shutil.rmtree(jpath, ignore_errors=True)
    journal = Journal(jpath)
    scans: list[TrainScan] = []
    with (
        atomic_path(matches_path) as fh,
        pq.ParquetWriter(fh, schema, compression="zstd") as w,
    ):
        writer = MatchWriter(catalog, w)
        for p, fp in zip(train_paths, fingerprints, strict=True):
            run = {"settings": settings, "batch_rows": config.batch_rows, "evals": evals,
                   "fingerprint": fp}  # fmt: skip
            scans.append(scan_train(p, stage, config, run, journal, executor, writer))
        sem_run = None
        if semantic is not None:
            from caravan.decontam.semantic import run_semantic

            sem_run = run_semantic(list(train_paths), catalog, config, semantic)
            writer.write_semantic(sem_run.candidates)
    results = [r for s in scans for r in pair_results(s, catalog, config)]
    report: dict[str, Any] = {
        "tool": f"caravan {__version__} decontam",
        "rows_count_from": 1,  # train_row / eval_row are 1-based (reports without it: 0)
        "rows_named_by": "train_id",  # the row's `id`, else its content id
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "train": [
            {
                "path": s.path,
                "fingerprint": s.fingerprint,
                "fields": s.fields,
                "rows": s.rows,
                "tokens": s.tokens,
                "rows_without_text": s.rows_without_text,
                "rows_without_text_examples": [r + 1 for r in s.rows_without_text_examples],
            }
            for s in scans
        ],
        "eval": [s.to_json() for s in eval_sets],
        "eval_index_cache_hits": catalog.cache_hits,
        "resumed_rows": {s.path: s.resumed_rows for s in scans if s.resumed_rows},
        "results": results,
        "contaminated": [
            {"train": r["train"], "eval": r["eval"]} for r in results if r["contaminated"]
        ],
        "matches_file": str(matches_path),
        "match_count": writer.count,
    }
    if fuzzy is not None:
        from caravan.decontam.fuzzy import run_fuzzy

        report["fuzzy"] = run_fuzzy(train_paths, catalog, config, fuzzy)
    if sem_run is not None:
        report["semantic"] = {
            **sem_run.section,
            "match_count": len(sem_run.candidates),
        }
    with atomic_path(report_path, "w") as fh:
        json.dump(report, fh, indent=1)
        fh.write("\n")
    shutil.rmtree(jpath, ignore_errors=True)  # finished: nothing to resume
    return report
