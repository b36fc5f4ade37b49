"""Optional fuzzy mode: near-duplicate *containment* with datasketch's MinHash LSH Ensemble.

Jaccard MinHash-LSH misses an eval item embedded in a long training document (the
document's extra text drowns the similarity), so we ask the containment question instead:
what fraction of the eval item's token shingles (k consecutive tokens, default 3) appear
in the training instance? Training rows are indexed a chunk at a time (bounded memory)
and every eval item is queried against each chunk. LSH candidates are then confirmed
with the exact shingle containment, which is what the report states.

datasketch 2.0 changed MinHash's permutation scheme (1.x sketches read as
scheme="legacy"). We set the scheme explicitly ("affine64", fed with our own 64-bit
shingle hashes) and record it with the other parameters, so results do not silently
change with the library default; tests pin its behaviour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from caravan.decontam.tokens import all_windows, hash_batch, prefix_sums

from caravan.errors import CaravanError

SCHEME = "affine64"


@dataclass
class FuzzyConfig:
    threshold: float = 0.8  # containment of the eval item's shingles in the training row
    lsh_threshold: float | None = None  # candidate threshold of the index (default threshold/2)
    shingle: int = 3
    num_perm: int = 128
    num_part: int = 16
    m: int = 8
    seed: int = 1
    chunk_rows: int = 20_000

    def validate(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise CaravanError(f"--fuzzy-threshold must be in (0, 1], not {self.threshold}")
        if self.shingle < 1:
            raise CaravanError("--fuzzy-shingle must be at least 1")
        if self.num_perm < 2 or not 2 <= self.m <= self.num_perm:
            raise CaravanError("--fuzzy-num-perm must be at least 2 (and >= m = 8)")

    def candidate_threshold(self) -> float:
        """LSH is asked for a lower containment than reported: candidates are confirmed
        exactly, so a lower index threshold only costs time, and it recovers items that
        MinHash under-estimates (short items inside long rows)."""
        return self.lsh_threshold if self.lsh_threshold is not None else self.threshold / 2

    def params(self) -> dict[str, Any]:
        import datasketch

        return {
            "method": "datasketch.MinHashLSHEnsemble (containment)",
            "datasketch": datasketch.__version__,
            "scheme": SCHEME,
            **{k: v for k, v in asdict(self).items() if k != "chunk_rows"},
            "lsh_threshold": self.candidate_threshold(),
        }


def _identity(x: Any) -> int:
    return int(x)


def shingle_sets(texts: list[str], k: int) -> list[np.ndarray]:
    """Sorted unique 64-bit hashes of each text's k-token shingles (whole text if shorter)."""
    batch = hash_batch(texts)
    prefix = prefix_sums(batch)
    g, start = all_windows(prefix, batch.offsets, k)
    doc = np.searchsorted(batch.offsets, start, side="right") - 1
    out = []
    counts = np.diff(batch.offsets)
    bounds = np.searchsorted(doc, np.arange(len(texts) + 1))
    for d in range(len(texts)):
        s = g[bounds[d] : bounds[d + 1]]
        if s.size == 0 and counts[d] > 0:  # shorter than k: the whole sequence
            from caravan.decontam.tokens import window_hash

            s = window_hash(prefix, np.array([batch.offsets[d]]), int(counts[d]))
        out.append(np.unique(s))
    return out


class Sketcher:
    """MinHashes of shingle-hash sets, all with the same seed, size and scheme."""

    def __init__(self, cfg: FuzzyConfig) -> None:
        from datasketch import MinHash

        self._template = MinHash(
            num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=_identity, scheme=SCHEME
        )

    def __call__(self, hashes: np.ndarray):
        mh = self._template.copy()
        mh.update_batch(hashes.tolist())
        return mh


def _containment(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a| for sorted unique arrays."""
    if a.size == 0:
        return 0.0
    return float(np.intersect1d(a, b, assume_unique=True).size / a.size)


def fuzzy_matches(
    train_texts: list[str], eval_texts: list[str], cfg: FuzzyConfig, base_row: int = 0
) -> list[tuple[int, int, float]]:
    """(train row, eval item, containment) for every confirmed fuzzy containment."""
    from datasketch import MinHashLSHEnsemble

    sketch = Sketcher(cfg)
    eval_sets = shingle_sets(eval_texts, cfg.shingle)
    eval_mh = [sketch(s) for s in eval_sets]
    found: list[tuple[int, int, float]] = []
    for lo in range(0, len(train_texts), cfg.chunk_rows):
        part = train_texts[lo : lo + cfg.chunk_rows]
        sets = shingle_sets(part, cfg.shingle)
        entries = [(i, sketch(s), int(s.size)) for i, s in enumerate(sets) if s.size]
        if not entries:
            continue
        lsh = MinHashLSHEnsemble(
            threshold=cfg.candidate_threshold(),
            num_perm=cfg.num_perm,
            num_part=cfg.num_part,
            m=cfg.m,
        )
        lsh.index(entries)
        for item, (es, mh) in enumerate(zip(eval_sets, eval_mh, strict=True)):
            if es.size == 0:
                continue
            for i in lsh.query(mh, int(es.size)):
                c = _containment(es, sets[i])
                if c >= cfg.threshold:
                    found.append((base_row + lo + i, item, c))
    return found


def run_fuzzy(train_paths: list, catalog: Any, config: Any, cfg: FuzzyConfig) -> dict[str, Any]:
    """The report's "fuzzy" section: per (train, eval) containment matches and parameters."""
    from caravan.decontam.trainio import chunk_texts, iter_chunks, open_train, resolve_fields

    from caravan.progress import StepProgress

    cfg.validate()
    results = []
    for p in train_paths:
        src = open_train(p)
        fields = resolve_fields(src.columns, config.fields, src.label)
        found: list[tuple[int, int, float]] = []
        label = f"fuzzy {src.path.name}"
        with StepProgress(label, src.num_rows(), enabled=config.progress, unit="rows") as bar:
            for chunk in iter_chunks(src, fields, cfg.chunk_rows):
                texts = chunk_texts(chunk, fields)
                found.extend(fuzzy_matches(texts, catalog.index.texts, cfg, chunk.start))
                bar.advance(chunk.num_rows, info=f"{len(found)} matches")
        items = np.array([f[1] for f in found], dtype=np.int64)
        sets, eval_rows = catalog.locate(items) if items.size else (items, items)
        for k, es in enumerate(catalog.sets):
            sel = [j for j in range(len(found)) if sets[j] == k]
            matches = sorted(
                (
                    {
                        "eval_row": int(eval_rows[j]) + 1,
                        "train_row": int(found[j][0]) + 1,
                        "containment": found[j][2],
                    }
                    for j in sel
                ),
                key=lambda m: (m["eval_row"], -m["containment"], m["train_row"]),
            )
            overlapped = len({m["eval_row"] for m in matches})
            results.append(
                {
                    "train": str(Path(src.label)),
                    "eval": es.name,
                    "eval_instances": len(es.texts),
                    "overlapped": overlapped,
                    "fraction": overlapped / len(es.texts) if es.texts else 0.0,
                    "matches": matches,
                }
            )
    return {"params": cfg.params(), "results": results}
