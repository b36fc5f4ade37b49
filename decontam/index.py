"""The eval-side n-gram index: every eval n-gram hash -> (eval item, start token).

Only the eval side is indexed (thousands of items, about a million n-grams); the training
side is streamed past it. An eval item shorter than n tokens contributes one gram: its
whole token sequence. A membership bitmap over the high hash bits answers "certainly
not in the index" for almost every training n-gram with one array lookup.

Indexes are cached on disk as .npz files keyed by a hash of the item texts, n and the
tokenizer version, so a repeated check does not tokenize the eval sets again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from caravan.decontam.tokens import (
    TOKENIZER_VERSION,
    all_windows,
    hash_batch,
    prefix_sums,
    sequence_hash,
    tokenize,
)

_BUILD_CHUNK = 2000


@dataclass
class EvalIndex:
    """Sorted n-gram hashes of all eval items, and what each hash points to.

    Items with at least n tokens are indexed by all their n-grams (`hashes`, `item`,
    `pos`). Shorter items are one gram each; they are found through the hash of their first
    m tokens (m = the shortest such item), then confirmed by their full-length hash, so
    the training side hashes only two window lengths however many short lengths exist.
    """

    n: int
    hashes: np.ndarray  # uint64, sorted: n-gram hashes
    item: np.ndarray  # int32, eval item id of each n-gram
    pos: np.ndarray  # int32, first token of the n-gram in that item
    ntok: np.ndarray  # int32, token count of each eval item
    short_item: np.ndarray  # int32, items with 0 < ntok < n
    short_tokens: np.ndarray  # uint64 (len(short_item), n - 1), their token hashes
    texts: list[str]  # eval item texts, for verification and reports
    bitmap: np.ndarray | None = None
    shift: int = 64
    short_len: int = 0  # m; 0 when there are no short items
    short_key: np.ndarray | None = None  # sorted m-token prefix hashes of short items
    short_full: np.ndarray | None = None  # full hash of the short item of each key
    short_key_item: np.ndarray | None = None
    short_bitmap: np.ndarray | None = None
    short_shift: int = 64
    _tokens: dict[int, list[str]] | None = None

    @property
    def num_items(self) -> int:
        return int(self.ntok.size)

    def item_tokens(self, item: int) -> list[str]:
        if self._tokens is None:
            self._tokens = {}
        toks = self._tokens.get(item)
        if toks is None:
            toks = self._tokens[item] = tokenize(self.texts[item])
        return toks

    def finalize(self) -> EvalIndex:
        """Build the membership bitmap (about 32 bits per indexed gram, at most 128 MB)."""
        bits = int(np.clip(np.ceil(np.log2(max(self.hashes.size, 1) * 32)), 16, 27))
        self.shift = 64 - bits
        self.bitmap = np.zeros(1 << bits, dtype=np.bool_)
        self.bitmap[self.hashes >> np.uint64(self.shift)] = True
        if self.short_item.size:
            lengths = self.ntok[self.short_item]
            self.short_len = int(lengths.min())
            keys = sequence_hash(self.short_tokens, np.full(lengths.size, self.short_len))
            full = sequence_hash(self.short_tokens, lengths)
            order = np.argsort(keys, kind="stable")
            self.short_key, self.short_full = keys[order], full[order]
            self.short_key_item = self.short_item[order]
            sbits = int(np.clip(np.ceil(np.log2(keys.size * 32)), 12, 24))
            self.short_shift = 64 - sbits
            self.short_bitmap = np.zeros(1 << sbits, dtype=np.bool_)
            self.short_bitmap[keys >> np.uint64(self.short_shift)] = True
        return self

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["bitmap"] = state["short_bitmap"] = (
            None  # rebuilt in the worker: cheaper than pickling it
        )
        state["_tokens"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.finalize()

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "hashes": self.hashes,
            "item": self.item,
            "pos": self.pos,
            "ntok": self.ntok,
            "short_item": self.short_item,
            "short_tokens": self.short_tokens,
        }


def build_index(texts: list[str], n: int) -> EvalIndex:
    """Index the n-grams (and whole short items) of `texts`."""
    if n < 1:
        raise ValueError("n must be >= 1")
    hashes, items, poss, ntoks, s_items, s_tokens = [], [], [], [], [], []
    for lo in range(0, len(texts), _BUILD_CHUNK):
        batch = hash_batch(texts[lo : lo + _BUILD_CHUNK])
        counts = np.diff(batch.offsets)
        ntoks.append(counts.astype(np.int32))
        g, start = all_windows(prefix_sums(batch), batch.offsets, n)
        doc = np.searchsorted(batch.offsets, start, side="right") - 1
        hashes.append(g)
        items.append((doc + lo).astype(np.int32))
        poss.append((start - batch.offsets[doc]).astype(np.int32))
        short = np.flatnonzero((counts > 0) & (counts < n))
        mat = np.zeros((short.size, max(n - 1, 1)), dtype=np.uint64)
        for row, d in enumerate(short):
            toks = batch.hashes[batch.offsets[d] : batch.offsets[d + 1]]
            mat[row, : toks.size] = toks
        s_items.append((short + lo).astype(np.int32))
        s_tokens.append(mat)
    return _assemble(n, hashes, items, poss, ntoks, s_items, s_tokens, list(texts))


def _cat(parts: list[np.ndarray], dtype, width: int | None = None) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    return np.zeros((0, width) if width else 0, dtype=dtype)


def _assemble(n, hashes, items, poss, ntoks, s_items, s_tokens, texts) -> EvalIndex:
    h = _cat(hashes, np.uint64)
    order = np.argsort(h, kind="stable")
    return EvalIndex(
        n,
        h[order],
        _cat(items, np.int32)[order],
        _cat(poss, np.int32)[order],
        _cat(ntoks, np.int32),
        _cat(s_items, np.int32),
        _cat(s_tokens, np.uint64, max(n - 1, 1)),
        texts,
    ).finalize()


def merge_indexes(parts: list[EvalIndex]) -> EvalIndex:
    """One index over several eval sets; item ids of part k are shifted by earlier sizes."""
    if not parts:
        raise ValueError("no eval sets to index")
    n = parts[0].n
    base = 0
    hashes, items, poss, ntoks, s_items, s_tokens, texts = [], [], [], [], [], [], []
    for p in parts:
        hashes.append(p.hashes)
        items.append(p.item + base)
        poss.append(p.pos)
        ntoks.append(p.ntok)
        s_items.append(p.short_item + base)
        s_tokens.append(p.short_tokens)
        texts.extend(p.texts)
        base += p.num_items
    return _assemble(n, hashes, items, poss, ntoks, s_items, s_tokens, texts)


def content_key(texts: list[str], n: int) -> str:
    """Cache key: the item texts themselves, n and the tokenizer version."""
    h = hashlib.sha256(f"{TOKENIZER_VERSION}\x1f{n}\x1f{len(texts)}\x1f".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()[:32]


def default_cache_dir() -> Path:
    """$CARAVAN_CACHE_DIR/decontam, else $XDG_CACHE_HOME (or ~/.cache)/caravan/decontam."""
    from caravan.cache_root import cache_dir

    return cache_dir("decontam")


def cached_index(texts: list[str], n: int, cache_dir: Path | None) -> tuple[EvalIndex, bool]:
    """Load the index of `texts` from `cache_dir` or build (and store) it; (index, hit)."""
    if cache_dir is None:
        return build_index(texts, n), False
    path = Path(cache_dir) / f"index-{content_key(texts, n)}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                a = {k: z[k] for k in z.files}
            idx = EvalIndex(
                n,
                a["hashes"],
                a["item"],
                a["pos"],
                a["ntok"],
                a["short_item"],
                a["short_tokens"],
                list(texts),
            )
            if idx.ntok.size == len(texts):
                return idx.finalize(), True
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: rebuild and overwrite it
    idx = build_index(texts, n)
    try:
        from caravan.records.writers import atomic_path

        with atomic_path(path) as fh:
            # cast: mypy matches a ** dict of arrays against savez's `allow_pickle: bool`
            np.savez(fh, **cast(dict[str, Any], idx.arrays()))
    except OSError:
        pass  # a read-only cache must not stop a check
    return idx, False
