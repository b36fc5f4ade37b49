"""Semantic decontamination: rephrased eval items that 8-gram matching cannot see.

A rephrased benchmark item (new wording, names, number formats) shares almost no 8-grams
with the original, so the exact check finds none of them (Yang et al. 2023). Here every eval
item and every training row (the same text the exact check compares) is embedded with a
sentence-embedding model (default all-MiniLM-L6-v2); for each training row the top-k eval
items by cosine similarity are found by exact search (a batched matrix product: eval sets
are thousands of items, so no approximate index is needed), and pairs at or above the
threshold are candidates. An optional LLM judge (`decontam.semantic_judge`) then decides
each candidate; without one, every candidate is flagged.

Default threshold 0.7, calibrated with all-MiniLM-L6-v2 on rephrasings of shared GSM8K,
MATH-500 and HumanEval items (hand-written and rule-based, `tests/fixtures/rephrase.py`)
planted among 1000 unplanted rows of the T0 prompt corpus (benchmarks/decontam_semantic.py):
at 0.7, 54 of 56 planted pairs found (exact 8-grams: 1) and no unplanted row flagged; at 0.6
all 56 but one unplanted row flagged; at 0.8, 49 of 56. The closest unplanted T0 rows score
about 0.6 against GSM8K (same-topic word problems). With a judge, a lower threshold (e.g. 0.6)
finds more rephrasings and the judge drops the extra false candidates.

Limits: a training row is embedded from its first `max_length` tokens (256 for MiniLM), so an
eval item buried deep in a long document is the exact check's job; an English-only model
does not match translations (use a multilingual model via --embed-model, plus the judge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from caravan.decontam.embed import (
    DEFAULT_EMBED_MODEL,
    POOLING,
    Embedder,
    RowProgress,
    cached_embeddings,
)
from caravan.decontam.semantic_judge import DIFFERENT, JudgeSettings, judge_pairs

from caravan.errors import CaravanError

DEFAULT_THRESHOLD = 0.7
_SIM_ROWS = 1024  # training rows per similarity block: bounds the block to 1024 x eval items


@dataclass
class SemanticConfig:
    model: str = DEFAULT_EMBED_MODEL
    threshold: float = DEFAULT_THRESHOLD
    top_k: int = 3
    batch_size: int = 64
    chunk_rows: int = 8192  # training rows read and embedded at a time
    max_length: int | None = None  # None: the model's own (sentence-transformers config)
    device: str | None = None  # None: cuda when available, else cpu
    judge: JudgeSettings | None = None
    progress: str = "off"  # "bar" on a terminal, "lines" (plain, periodic) or "off"

    def validate(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise CaravanError(f"--semantic-threshold must be in [-1, 1], not {self.threshold}")
        if self.top_k < 1:
            raise CaravanError("--semantic-top-k must be at least 1")
        if self.batch_size < 1 or self.chunk_rows < 1:
            raise CaravanError("--semantic-batch-size must be at least 1")

    def params(self, embedder: Embedder | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": "sentence embeddings, cosine similarity, exact top-k",
            "embed_model": self.model,
            "pooling": POOLING,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "judge": self.judge.params() if self.judge else None,
        }
        if embedder is not None:
            out.update(
                model_fingerprint=embedder.fingerprint,
                max_length=embedder.max_length,
                device=embedder.device,
            )
        return out


def top_k_pairs(
    train: np.ndarray, evals: np.ndarray, k: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train index, eval index, similarity) of each row's top-k eval items >= threshold.

    Vectors are unit length, so the dot product is the cosine similarity.
    """
    k = min(k, evals.shape[0])
    rows, items, sims = [], [], []
    for lo in range(0, train.shape[0] if k else 0, _SIM_ROWS):
        s = train[lo : lo + _SIM_ROWS] @ evals.T
        if k < s.shape[1]:
            top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:  # every eval item is in the top k
            top = np.broadcast_to(np.arange(s.shape[1]), s.shape)
        ts = np.take_along_axis(s, top, axis=1)
        r, c = np.nonzero(ts >= threshold)
        rows.append(r + lo)
        items.append(top[r, c])
        sims.append(ts[r, c])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(rows), np.concatenate(items), np.concatenate(sims)


def find_semantic(
    train_texts: list[str],
    eval_texts: list[str],
    model: str = DEFAULT_EMBED_MODEL,
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = 3,
) -> list[tuple[int, int, float]]:
    """In memory: (train index, eval index, similarity) of every flagged pair."""
    embedder = Embedder.load(model)
    train = embedder.embed(train_texts)
    evals = embedder.embed(eval_texts)
    rows, items, sims = top_k_pairs(train, evals, top_k, threshold)
    return sorted(zip(rows.tolist(), items.tolist(), sims.tolist(), strict=True))


@dataclass
class Candidate:
    train: str
    train_row: int
    item: int  # global eval item id (the catalog's)
    similarity: float
    train_text: str
    verdict: str | None = None
    reason: str | None = None
    train_id: str | None = None  # trainio.train_id, as the exact matches name rows

    @property
    def flagged(self) -> bool:
        return self.verdict != DIFFERENT


@dataclass
class SemanticRun:
    """The report's `semantic` section and the candidate pairs behind it."""

    section: dict[str, Any]
    candidates: list[Candidate] = field(default_factory=list)


def eval_vectors(
    catalog: Any, embedder: Embedder, cache_dir: Path | None, batch_size: int
) -> tuple[np.ndarray, int]:
    """Embeddings of every catalog item (cached per eval set); (vectors, cache hits)."""
    parts, hits = [], 0
    for s in catalog.sets:
        vecs, hit = cached_embeddings(s.texts, embedder, cache_dir, batch_size)
        parts.append(vecs)
        hits += hit
    return np.concatenate(parts), hits


def scan_semantic(
    path: str | Path, evals: np.ndarray, embedder: Embedder, fields: list[str], sem: SemanticConfig
) -> tuple[str, int, list[Candidate]]:
    """(label, rows, candidates) of one training dataset."""
    from caravan.decontam.trainio import chunk_texts, iter_chunks, open_train, resolve_fields

    src = open_train(path)
    specs = resolve_fields(src.columns, fields, src.label)
    progress = RowProgress(sem.progress, src.num_rows(), f"embed {src.path.name}")
    found: list[Candidate] = []
    rows = 0
    first: dict[str, int] = {}  # each file's first row in the dataset
    try:
        for chunk in iter_chunks(src, specs, sem.chunk_rows):
            first.setdefault(chunk.source, chunk.start)
            texts = chunk_texts(chunk, specs)
            keep = [i for i, t in enumerate(texts) if t.strip()]
            vecs = embedder.embed([texts[i] for i in keep], sem.batch_size, progress)
            progress(len(texts) - len(keep))
            r, items, sims = top_k_pairs(vecs, evals, sem.top_k, sem.threshold)
            new = []
            for j, item, sim in zip(r.tolist(), items.tolist(), sims.tolist(), strict=True):
                i = keep[j]
                new.append(Candidate(src.label, chunk.start + i, item, sim, texts[i]))
            _name_rows(new, chunk, first[chunk.source])
            found.extend(new)
            rows += len(texts)
    finally:
        progress.close()
    return src.label, rows, found


def _name_rows(candidates: list[Candidate], chunk: Any, first: int) -> None:
    """Each candidate's training id: from its raw JSON line, else its row read whole."""
    from caravan.decontam.trainio import rows_at, train_id
    from caravan.records.jsontext import parse_line

    if not candidates:
        return
    if chunk.lines is not None:
        for c in candidates:
            row, _ = parse_line(chunk.lines[c.train_row - chunk.start])
            c.train_id = train_id(row) if isinstance(row, dict) else None
        return
    whole = rows_at(Path(chunk.source), [c.train_row - first for c in candidates])
    for c in candidates:
        c.train_id = train_id(whole[c.train_row - first])


def run_semantic(
    train_paths: list[str | Path], catalog: Any, config: Any, sem: SemanticConfig
) -> SemanticRun:
    """Embed, search, judge (optionally) and summarise per (training set, eval set)."""
    sem.validate()
    embedder = Embedder.load(sem.model, sem.device, sem.max_length, quiet=sem.progress == "off")
    evals, hits = eval_vectors(catalog, embedder, config.cache_dir, sem.batch_size)
    candidates: list[Candidate] = []
    totals: dict[str, int] = {}
    for p in train_paths:
        label, rows, found = scan_semantic(p, evals, embedder, config.fields, sem)
        totals[label] = rows
        candidates.extend(found)
    judge_summary = None
    if sem.judge is not None:
        pairs = [
            (
                f"{Path(c.train).name}#{c.train_row}~{c.item}",
                catalog.index.texts[c.item],
                c.train_text,
            )
            for c in candidates
        ]
        res = judge_pairs(pairs, sem.judge)
        for c, v, why in zip(candidates, res.verdicts, res.reasons, strict=True):
            c.verdict, c.reason = v, why
        judge_summary = res.summary()
    section = {
        "params": sem.params(embedder),
        "eval_embedding_cache_hits": hits,
        "judge": judge_summary,
        "train": [{"path": k, "rows": v} for k, v in totals.items()],
        "results": _results(candidates, catalog, config, list(totals)),
    }
    return SemanticRun(section, candidates)


def _results(
    candidates: list[Candidate], catalog: Any, config: Any, labels: list[str]
) -> list[dict[str, Any]]:
    items = np.array([c.item for c in candidates], dtype=np.int64)
    sets, eval_rows = catalog.locate(items) if items.size else (items, items)
    out = []
    for label in labels:
        for k, es in enumerate(catalog.sets):
            sel = [j for j, c in enumerate(candidates) if c.train == label and sets[j] == k]
            matches: list[dict[str, Any]] = sorted(
                (
                    {
                        "eval_row": int(eval_rows[j]) + 1,  # 1-based, as every row we name
                        "train_id": candidates[j].train_id,
                        "train_row": candidates[j].train_row + 1,
                        "similarity": round(float(candidates[j].similarity), 6),
                        "judge": candidates[j].verdict,
                        "judge_reason": candidates[j].reason,
                        "flagged": candidates[j].flagged,
                    }
                    for j in sel
                ),
                key=lambda m: (m["eval_row"], -m["similarity"], m["train_row"]),
            )
            overlapped = len({m["eval_row"] for m in matches if m["flagged"]})
            total = len(es.texts)
            fraction = overlapped / total if total else 0.0
            out.append(
                {
                    "train": label,
                    "eval": es.name,
                    "eval_instances": total,
                    "candidates": len(matches),
                    "overlapped": overlapped,
                    "fraction": fraction,
                    "contaminated": fraction > config.dataset_threshold,
                    "matches": matches,
                }
            )
    return out
