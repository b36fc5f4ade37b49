"""Remove exact and near-duplicate prompts (MinHash LSH over word shingles).

Exact duplicates (same text after case and whitespace folding) go first; near duplicates
are found with datasketch's MinHashLSH at a Jaccard threshold over word n-grams. The first
row of a group is kept; every removed row is reported with the id it duplicates and why.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from caravan.errors import CaravanError


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 0.8  # estimated Jaccard similarity at or above which rows collide
    shingle_size: int = 5  # words per shingle
    num_perm: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise CaravanError(f"dedup threshold must be in (0, 1], got {self.threshold}")
        if self.shingle_size < 1:
            raise CaravanError(f"shingle size must be >= 1, got {self.shingle_size}")


@dataclass
class Removed:
    index: int
    duplicate_of: int
    reason: str  # "exact" or "near"
    similarity: float | None = None


@dataclass
class DedupReport:
    kept: list[int] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.reason for r in self.removed)

    def summary(self) -> str:
        c = self.counts
        return summary_line(len(self.kept), c.get("exact", 0), c.get("near", 0))


def summary_line(kept: int, exact: int, near: int) -> str:
    return (
        f"dedup: kept {kept}, removed {exact + near} ({exact} exact, {near} near-duplicate)"
    )


def stats_summary(stats: dict[str, int], label: str = "synth.dedup") -> str:
    """The summary line from the counters a `Dedup` stage left in a Dataset's stats."""
    return summary_line(
        stats.get(f"{label}.rows_out", 0),
        stats.get(f"{label}.removed_exact", 0),
        stats.get(f"{label}.removed_near", 0),
    )


_TOKEN = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def shingles(text: str, size: int) -> set[bytes]:
    words = _TOKEN.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words).encode()} if words else {b""}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def dedup_texts(
    texts: list[str], config: DedupConfig | None = None, *, progress: bool = False
) -> DedupReport:
    """Which of `texts` to keep (first of each group) and why the others go.

    LSH only proposes candidates (pairs well below the threshold collide too); a row is
    removed only when its estimated Jaccard with a kept row reaches `threshold`.
    """
    from datasketch import MinHash, MinHashLSH

    from caravan.progress import StepProgress

    cfg = config or DedupConfig()
    report = DedupReport()
    exact: dict[str, int] = {}
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm)
    hashes: dict[int, Any] = {}
    step = 256
    with StepProgress("dedup", len(texts), enabled=progress, unit="rows") as bar:
        for i, text in enumerate(texts):
            if i and i % step == 0:
                bar.advance(step)
            key = hashlib.sha256(normalise(text).encode()).hexdigest()
            if key in exact:
                report.removed.append(Removed(i, exact[key], "exact", 1.0))
                continue
            exact[key] = i
            mh = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
            mh.update_batch(list(shingles(text, cfg.shingle_size)))
            scored = [(mh.jaccard(hashes[j]), -j) for j in map(int, lsh.query(mh))]
            close = [x for x in scored if x[0] >= cfg.threshold]
            if close:
                sim, neg = max(close)
                report.removed.append(Removed(i, -neg, "near", round(sim, 3)))
                continue
            lsh.insert(str(i), mh)
            hashes[i] = mh
            report.kept.append(i)
        bar.advance(len(texts) - bar.done)
    return report
