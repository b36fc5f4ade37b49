"""`decontam check`: scan training datasets against eval sets and write the report.

The eval sets are indexed once (cached on disk); each training dataset is streamed in
chunks through a pool of worker processes (one per core by default). Workers are forked
before any training data is read (spawned where fork is unavailable or other threads
exist) and get the index through their initializer; every hash is deterministic, so
either way they agree. At most two chunks per worker are in flight, so
memory is the eval index plus a few chunks, whatever the corpus size. Finished chunks are
logged beside the report, so an interrupted check resumes (see `decontam.progress`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from caravan.decontam.evalsets import EvalSet
from caravan.decontam.index import EvalIndex, cached_index, default_cache_dir, merge_indexes
from caravan.decontam.match import scan_texts
from caravan.decontam.trainio import (
    Chunk,
    FieldSpec,
    chunk_texts,
    iter_chunks,
    open_train,
    resolve_fields,
)

from caravan.errors import CaravanError

MATCH_SCHEMA = pa.schema(
    [
        ("train", pa.string()),
        ("train_row", pa.int64()),
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


@dataclass
class CheckConfig:
    ngram: int = 8
    instance_threshold: float = 0.5
    dataset_threshold: float = 0.02
    fields: list[str] = field(default_factory=list)
    workers: int = 0  # 0: one per available core
    batch_rows: int = 2048
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    progress: bool = True
    resume: bool = True  # replay the progress log of an interrupted identical check

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
    """What one training dataset produced."""

    path: str
    fingerprint: str
    fields: list[str]
    rows: int = 0
    tokens: int = 0
    rows_without_text: int = 0
    rows_without_text_examples: list[int] = field(default_factory=list)
    train_row: list[int] = field(default_factory=list)
    item: list[int] = field(default_factory=list)
    coverage: list[float] = field(default_factory=list)


# ---- worker side -------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init_worker(index: EvalIndex, threshold: float) -> None:
    _STATE.update(index=index, threshold=threshold)


def _ready() -> int:
    return os.getpid()


def _scan_chunk(
    chunk: Chunk, fields: list[FieldSpec]
) -> tuple[int, int, int, list[int], list[tuple]]:
    texts = chunk_texts(chunk, fields)
    res = scan_texts(texts, _STATE["index"], _STATE["threshold"])
    matches = [
        (chunk.start + m.train_index, m.eval_index, m.coverage, texts[m.train_index])
        for m in res.matches
    ]
    return chunk.start, len(texts), res.tokens, [chunk.start + i for i in res.empty], matches


def start_workers(index: EvalIndex, config: CheckConfig) -> ProcessPoolExecutor | None:
    """A started worker pool holding the index, or None to scan in this process.

    On Linux the workers are forked before any training data is read and share the index
    copy-on-write; if this process already runs other threads (forking those is unsafe),
    or fork does not exist, they are spawned and receive the index pickled. Hashes are
    deterministic, so both give identical results.
    """
    workers = config.num_workers()
    _init_worker(index, config.instance_threshold)
    if workers <= 1:
        return None
    import threading

    can_fork = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
    method = "fork" if can_fork else "spawn"
    ex = ProcessPoolExecutor(
        workers,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(index, config.instance_threshold),
    )
    for f in [ex.submit(_ready) for _ in range(workers)]:
        f.result()
    return ex


def _results(
    chunks: Iterator[Chunk], fields: list[FieldSpec], ex: ProcessPoolExecutor | None
) -> Iterator[tuple[int, int, int, list[int], list[tuple]]]:
    """Scan chunks in order, with at most 2 chunks per worker in flight."""
    if ex is None:
        for c in chunks:
            yield _scan_chunk(c, fields)
        return
    window = 2 * getattr(ex, "_max_workers", 2)
    pending: deque[Future] = deque()
    for c in chunks:
        pending.append(ex.submit(_scan_chunk, c, fields))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# ---- driver ----------------------------------------------------------------------------


def scan_train(
    path: str | Path,
    catalog: EvalCatalog,
    config: CheckConfig,
    on_matches: Callable[[str, list[tuple]], None] | None = None,
    executor: ProcessPoolExecutor | None = None,
    log: Any = None,
    fingerprint: str | None = None,
) -> TrainScan:
    """Stream one training dataset past the eval index (in `executor`'s workers if given).

    With a `decontam.progress.ProgressLog`, chunks it already holds are replayed instead
    of scanned, and each newly scanned chunk is appended to it.
    """
    src = open_train(path)
    fields = resolve_fields(src.columns, config.fields, src.label)
    scan = TrainScan(src.label, fingerprint or src.fingerprint(), [str(f) for f in fields])
    total = src.num_rows()
    from caravan.progress import StepProgress

    bar = StepProgress(f"scan {src.path.name}", total, enabled=config.progress, unit="rows")
    if executor is None:
        _init_worker(catalog.index, config.instance_threshold)
    done = log.done.get(src.label) if log is not None else None
    replay = [
        (c["start"], c["rows"], c["tokens"], c["empty"], [tuple(m) for m in c["matches"]])
        for c in (done.chunks if done else [])
    ]
    skip = sum(r[1] for r in replay)

    def results() -> Iterator[tuple[int, int, int, list[int], list[tuple]]]:
        yield from replay
        chunks = (c for c in iter_chunks(src, fields, config.batch_rows) if c.start >= skip)
        for res in _results(chunks, fields, executor):
            if log is not None:
                log.append(src.label, *res)
            yield res

    with bar:
        for _start, nrows, ntok, empty, matches in results():
            scan.rows += nrows
            scan.tokens += ntok
            scan.rows_without_text += len(empty)
            room = 10 - len(scan.rows_without_text_examples)
            scan.rows_without_text_examples.extend(empty[: max(room, 0)])
            for row, item, cov, _text in matches:
                scan.train_row.append(row)
                scan.item.append(item)
                scan.coverage.append(cov)
            if matches and on_matches is not None:
                on_matches(src.label, matches)
            bar.advance(nrows, info=f"{len(scan.train_row)} matches")
    if scan.rows > 0 and scan.rows_without_text == scan.rows:
        raise CaravanError(
            f"{src.label}: none of its {scan.rows} rows has text in field(s) "
            f"{', '.join(scan.fields)}; choose other columns with --field"
        )
    return scan


class MatchWriter:
    """Streams every match, with both texts, to a Parquet file."""

    def __init__(self, catalog: EvalCatalog, writer: pq.ParquetWriter) -> None:
        self.catalog, self.writer, self.count = catalog, writer, 0

    def __call__(self, train: str, matches: list[tuple]) -> None:
        items = np.array([m[1] for m in matches], dtype=np.int64)
        sets, rows = self.catalog.locate(items)
        table = pa.table(
            {
                "train": [train] * len(matches),
                "train_row": [m[0] + 1 for m in matches],  # 1-based, as every row we name
                "eval": [self.catalog.sets[s].name for s in sets],
                "eval_row": np.asarray(rows) + 1,
                "coverage": [m[2] for m in matches],
                "train_text": [m[3] for m in matches],
                "eval_text": [self.catalog.index.texts[i] for i in items],
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
    items = np.asarray(scan.item, dtype=np.int64)
    rows = np.asarray(scan.train_row, dtype=np.int64)
    cov = np.asarray(scan.coverage, dtype=np.float64)
    sets, eval_rows = catalog.locate(items) if items.size else (items, items)
    out = []
    for k, es in enumerate(catalog.sets):
        sel = np.flatnonzero(sets == k)
        order = sel[np.lexsort((rows[sel], -cov[sel], eval_rows[sel]))]
        matches = [
            {
                "eval_row": int(eval_rows[i]) + 1,  # 1-based, as every row we name
                "train_row": int(rows[i]) + 1,
                "coverage": float(cov[i]),
            }
            for i in order
        ]
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
) -> dict[str, Any]:
    """Check every training dataset against every eval set; write report + matches file.

    `fuzzy` is an optional `decontam.fuzzy.FuzzyConfig`; its result goes under "fuzzy".
    `semantic` is an optional `decontam.semantic.SemanticConfig`; its result goes under
    "semantic" and its pairs into the matches file with method "semantic".
    """
    import json
    from datetime import UTC, datetime

    from caravan.decontam.tokens import TOKENIZER_VERSION
    from caravan.records.provenance import METADATA_KEY, Provenance
    from caravan.records.writers import atomic_path

    from caravan import __version__

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
    scans: list[TrainScan] = []
    from caravan.decontam.index import content_key
    from caravan.decontam.progress import ProgressLog, progress_path_for, run_key

    fingerprints = [open_train(p).fingerprint() for p in train_paths]  # hashed once
    key = run_key(
        {
            "settings": settings,
            "batch_rows": config.batch_rows,
            "evals": [(s.name, content_key(s.texts, config.ngram)) for s in eval_sets],
            "train": [str(p) for p in train_paths],
            "fingerprints": fingerprints,
        }
    )
    log = ProgressLog(progress_path_for(report_path), key, resume=config.resume)
    finished = False
    executor = start_workers(catalog.index, config)
    try:
        with (
            atomic_path(matches_path) as fh,
            pq.ParquetWriter(fh, schema, compression="zstd") as w,
        ):
            writer = MatchWriter(catalog, w)
            for p, fp in zip(train_paths, fingerprints, strict=True):
                scans.append(scan_train(p, catalog, config, writer, executor, log, fp))
            if executor is not None:  # the embedding model gets the cores
                executor.shutdown(wait=True, cancel_futures=True)
                executor = None
            sem_run = None
            if semantic is not None:
                from caravan.decontam.semantic import run_semantic

                sem_run = run_semantic(list(train_paths), catalog, config, semantic)
                writer.write_semantic(sem_run.candidates)
        finished = True
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if not finished:
            log.close(finished=False)  # kept: the next identical check resumes from it
    results = [r for s in scans for r in pair_results(s, catalog, config)]
    report: dict[str, Any] = {
        "tool": f"caravan {__version__} decontam",
        "rows_count_from": 1,  # train_row / eval_row are 1-based (reports without it: 0)
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
        "resumed_rows": {lbl: d.rows for lbl, d in log.done.items()},
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
    log.close(finished=finished)
    return report
