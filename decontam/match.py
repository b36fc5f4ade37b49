"""Exact Tülu 3 overlap between training texts and an eval index.

Definition (Tülu 3): an eval token *matches* a training instance if it lies inside
an n-gram of the eval instance that also occurs in that training instance. The eval
instance *overlaps* the training instance if the matched fraction of its tokens is greater
than `threshold` (strictly: exactly 0.5 is not > 0.5). An eval instance shorter than n
tokens is one gram (its whole token sequence).

The scan is two-stage. Stage 1 hashes every training window and looks it up in the eval
index with numpy; from the hits it computes an upper bound of each (train, eval) coverage
(hash collisions can only add hits). Stage 2 recomputes coverage with real token tuples for
the few pairs whose bound passes the threshold, so a collision can never create a match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from caravan.decontam.index import EvalIndex, build_index
from caravan.decontam.tokens import all_windows, hash_batch, prefix_sums, tokenize, window_hash


@dataclass(frozen=True)
class Match:
    """One training instance overlapping one eval instance."""

    train_index: int
    eval_index: int
    coverage: float  # matched eval tokens / eval tokens, > threshold


@dataclass
class BatchResult:
    matches: list[Match]
    tokens: int  # training tokens scanned
    empty: list[int]  # local indexes of training texts without any token


def _expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [lo, hi): (which range, value) for every value of every range."""
    counts = hi - lo
    owner = np.repeat(np.arange(lo.size), counts)
    firsts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    return owner, firsts + np.arange(owner.size)


def _long_hits(
    prefix: np.ndarray, offsets: np.ndarray, index: EvalIndex
) -> tuple[np.ndarray, np.ndarray]:
    """(training token where the hit starts, index entry) for every shared n-gram."""
    assert index.bitmap is not None, "EvalIndex.finalize() builds the bitmap"
    g, start = all_windows(prefix, offsets, index.n)
    maybe = np.flatnonzero(np.take(index.bitmap, g >> np.uint64(index.shift)))
    g, start = g[maybe], start[maybe]
    lo = np.searchsorted(index.hashes, g, side="left")
    hi = np.searchsorted(index.hashes, g, side="right")
    found = np.flatnonzero(hi > lo)
    owner, entry = _expand_ranges(lo[found], hi[found])
    return start[found][owner], entry


def _short_hits(
    prefix: np.ndarray, offsets: np.ndarray, index: EvalIndex
) -> tuple[np.ndarray, np.ndarray]:
    """(training token where it starts, eval item) for every short item found whole."""
    key, full, key_item, bitmap = (
        index.short_key,
        index.short_full,
        index.short_key_item,
        index.short_bitmap,
    )
    assert key is not None and full is not None and key_item is not None and bitmap is not None
    m = index.short_len
    g, start = all_windows(prefix, offsets, m)
    maybe = np.flatnonzero(np.take(bitmap, g >> np.uint64(index.short_shift)))
    g, start = g[maybe], start[maybe]
    lo = np.searchsorted(key, g, side="left")
    hi = np.searchsorted(key, g, side="right")
    found = np.flatnonzero(hi > lo)
    owner, entry = _expand_ranges(lo[found], hi[found])
    s = start[found][owner]
    items = key_item[entry]
    length = index.ntok[items].astype(np.int64)
    doc_end = offsets[np.searchsorted(offsets, s, side="right")]
    fits = s + length <= doc_end
    s, items, length, entry = s[fits], items[fits], length[fits], entry[fits]
    same = window_hash(prefix, s, length) == full[entry]
    return s[same], items[same]


def candidate_pairs(
    texts: list[str], index: EvalIndex, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stage 1: (train doc, eval item) pairs whose hashed coverage exceeds `threshold`.

    Returns (docs, items, upper-bound coverage, tokens per doc).
    """
    batch = hash_batch(texts)
    counts = np.diff(batch.offsets)
    prefix = prefix_sums(batch)
    start, entry = _long_hits(prefix, batch.offsets, index)
    item = index.item[entry].astype(np.int64)
    pos = index.pos[entry].astype(np.int64)
    glen = np.full(item.size, index.n, dtype=np.int64)
    if index.short_len:
        s_start, s_item = _short_hits(prefix, batch.offsets, index)
        start = np.concatenate([start, s_start])
        item = np.concatenate([item, s_item.astype(np.int64)])
        pos = np.concatenate([pos, np.zeros(s_item.size, np.int64)])
        glen = np.concatenate([glen, index.ntok[s_item].astype(np.int64)])
    if item.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), counts
    doc = np.searchsorted(batch.offsets, start, side="right") - 1
    # pair id per (doc, item), then the distinct eval token positions covered per pair
    pairs, pair_of_hit = np.unique(doc * np.int64(index.num_items) + item, return_inverse=True)
    owner, offset = _expand_ranges(np.zeros_like(glen), glen)
    tok = pos[owner] + offset
    maxlen = np.int64(max(int(index.ntok.max()), 1))
    covered = np.unique(pair_of_hit[owner] * maxlen + tok)
    per_pair = np.bincount(covered // maxlen, minlength=pairs.size)
    p_doc = pairs // index.num_items
    p_item = pairs % index.num_items
    cov = per_pair / index.ntok[p_item]
    keep = cov > threshold
    return p_doc[keep], p_item[keep], cov[keep], counts


def _windows(tokens: list[str], length: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + length]) for i in range(len(tokens) - length + 1)}


def exact_coverage(train_tokens_windows, eval_tokens: list[str], n: int) -> float:
    """Stage 2: matched fraction of `eval_tokens` computed with real tokens.

    `train_tokens_windows(length)` returns the set of token tuples of that length in the
    training instance.
    """
    total = len(eval_tokens)
    if total == 0:
        return 0.0
    if total < n:
        return 1.0 if tuple(eval_tokens) in train_tokens_windows(total) else 0.0
    grams = train_tokens_windows(n)
    matched = bytearray(total)
    for p in range(total - n + 1):
        if tuple(eval_tokens[p : p + n]) in grams:
            matched[p : p + n] = b"\x01" * n
    return sum(matched) / total


def scan_texts(texts: list[str], index: EvalIndex, threshold: float) -> BatchResult:
    """All (train, eval) overlaps in `texts` (indexes local to `texts`), verified exactly."""
    docs, items, _, counts = candidate_pairs(texts, index, threshold)
    matches: list[Match] = []
    cur_doc = -1
    windows: dict[int, set[tuple[str, ...]]] = {}
    tokens: list[str] = []

    def train_windows(length: int) -> set[tuple[str, ...]]:
        w = windows.get(length)
        if w is None:
            w = windows[length] = _windows(tokens, length)
        return w

    for d, it in zip(docs.tolist(), items.tolist(), strict=True):
        if d != cur_doc:
            cur_doc, windows, tokens = d, {}, tokenize(texts[d])
        cov = exact_coverage(train_windows, index.item_tokens(it), index.n)
        if cov > threshold:
            matches.append(Match(d, it, cov))
    empty = np.flatnonzero(counts == 0).tolist()
    return BatchResult(matches, int(counts.sum()), empty)


def find_overlaps(
    train_texts: list[str],
    eval_texts: list[str],
    n: int = 8,
    threshold: float = 0.5,
) -> list[Match]:
    """Every (train, eval) pair where the eval text overlaps the training text (Tülu rule).

    Returns `Match(train_index, eval_index, coverage)` sorted by eval then train index.
    In memory and single-process; use `decontam check` (or `decontam.check.run_check`)
    for files that do not fit in memory.
    """
    index = build_index(list(eval_texts), n)
    found: list[Match] = []
    batch = 4096
    for lo in range(0, len(train_texts), batch):
        res = scan_texts(list(train_texts[lo : lo + batch]), index, threshold)
        found.extend(Match(m.train_index + lo, m.eval_index, m.coverage) for m in res.matches)
    return sorted(found, key=lambda m: (m.eval_index, m.train_index))
