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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from decontam.tokens import TOKENIZER_VERSION, hash_batch, multi_gram_hashes, tokenize

_BUILD_CHUNK = 2000


@dataclass
class EvalIndex:
    """Sorted n-gram hashes of all eval items, and what each hash points to."""

    n: int
    hashes: np.ndarray  # uint64, sorted
    item: np.ndarray  # int32, eval item id of each entry
    pos: np.ndarray  # int32, first token of the gram in that item
    ntok: np.ndarray  # int32, token count of each eval item
    texts: list[str]  # eval item texts, for verification and reports
    bitmap: np.ndarray | None = None
    shift: int = 64
    _tokens: dict[int, list[str]] | None = None

    @property
    def num_items(self) -> int:
        return int(self.ntok.size)

    @property
    def lengths(self) -> list[int]:
        """Window lengths the training side must hash: n, plus each short item length."""
        short = np.unique(self.ntok[(self.ntok < self.n) & (self.ntok > 0)])
        return sorted({self.n, *(int(x) for x in short)})

    def gram_length(self, items: np.ndarray) -> np.ndarray:
        return np.minimum(self.ntok[items], self.n)

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
        return self

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["bitmap"] = None  # rebuilt in the worker: cheaper than pickling it
        state["_tokens"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.finalize()


def build_index(texts: list[str], n: int) -> EvalIndex:
    """Index the n-grams (and whole short items) of `texts`."""
    if n < 1:
        raise ValueError("n must be >= 1")
    hashes, items, poss, ntoks = [], [], [], []
    for lo in range(0, len(texts), _BUILD_CHUNK):
        batch = hash_batch(texts[lo : lo + _BUILD_CHUNK])
        counts = np.diff(batch.offsets)
        ntoks.append(counts.astype(np.int32))
        doc = batch.doc_of_token()
        short_lengths = sorted({int(c) for c in counts if 0 < c < n})
        grams = multi_gram_hashes(batch, [n, *short_lengths])
        for length, (g, start) in grams.items():
            d = doc[start]
            if length == n:
                keep = counts[d] >= n
            else:  # a short item is one gram: its whole sequence, starting at its first token
                keep = (counts[d] == length) & (start == batch.offsets[d])
            hashes.append(g[keep])
            items.append((d[keep] + lo).astype(np.int32))
            poss.append((start[keep] - batch.offsets[d[keep]]).astype(np.int32))
    return _assemble(n, hashes, items, poss, ntoks, list(texts))


def _assemble(n, hashes, items, poss, ntoks, texts) -> EvalIndex:
    h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    it = np.concatenate(items) if items else np.zeros(0, np.int32)
    ps = np.concatenate(poss) if poss else np.zeros(0, np.int32)
    order = np.argsort(h, kind="stable")
    nt = np.concatenate(ntoks) if ntoks else np.zeros(0, np.int32)
    return EvalIndex(n, h[order], it[order], ps[order], nt, texts).finalize()


def merge_indexes(parts: list[EvalIndex]) -> EvalIndex:
    """One index over several eval sets; item ids of part k are shifted by earlier sizes."""
    if not parts:
        raise ValueError("no eval sets to index")
    n = parts[0].n
    base = 0
    hashes, items, poss, ntoks, texts = [], [], [], [], []
    for p in parts:
        hashes.append(p.hashes)
        items.append(p.item + base)
        poss.append(p.pos)
        ntoks.append(p.ntok)
        texts.extend(p.texts)
        base += p.num_items
    return _assemble(n, hashes, items, poss, ntoks, texts)


def content_key(texts: list[str], n: int) -> str:
    """Cache key: the item texts themselves, n and the tokenizer version."""
    h = hashlib.sha256(f"{TOKENIZER_VERSION}\x1f{n}\x1f{len(texts)}\x1f".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()[:32]


def default_cache_dir() -> Path:
    """$CARAVAN_CACHE_DIR/decontam, else $XDG_CACHE_HOME (or ~/.cache)/caravan/decontam."""
    if os.environ.get("CARAVAN_CACHE_DIR"):
        return Path(os.environ["CARAVAN_CACHE_DIR"]) / "decontam"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "caravan" / "decontam"


def cached_index(texts: list[str], n: int, cache_dir: Path | None) -> tuple[EvalIndex, bool]:
    """Load the index of `texts` from `cache_dir` or build (and store) it; (index, hit)."""
    if cache_dir is None:
        return build_index(texts, n), False
    path = Path(cache_dir) / f"index-{content_key(texts, n)}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                idx = EvalIndex(n, z["hashes"], z["item"], z["pos"], z["ntok"], list(texts))
            if idx.ntok.size == len(texts):
                return idx.finalize(), True
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: rebuild and overwrite it
    idx = build_index(texts, n)
    try:
        from records.writers import atomic_path

        with atomic_path(path) as fh:
            np.savez(fh, hashes=idx.hashes, item=idx.item, pos=idx.pos, ntok=idx.ntok)
    except OSError:
        pass  # a read-only cache must not stop a check
    return idx, False
