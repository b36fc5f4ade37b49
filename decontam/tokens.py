"""The decontamination tokenizer and its vectorised 64-bit token / n-gram hashes.

Tokenizer (both sides, eval and training, use exactly this):

- the text is lowercased with Python's ``str.lower()``;
- a token is a maximal run of Unicode letters and digits, i.e. characters for which
  ``str.isalnum()`` is true (the regex ``[^\\W_]+``; unlike ``\\w+`` the underscore is a
  separator, so ``snake_case`` is two tokens);
- everything else (spaces, punctuation, symbols, underscores, emoji) only separates tokens.

So ``"Hello,  WORLD!"`` and ``"hello world"`` have the same tokens. Whitespace, case and
punctuation changes never break a match.

`tokenize` is the readable reference. `hash_batch` computes the same tokens for many
documents at once with numpy and returns one 64-bit hash per token; it never builds Python
strings per token, which is what makes the training-side scan fast. The hashes are
deterministic (no per-process salt), so worker processes and the on-disk index cache agree.
Equal token sequences always get equal hashes, so hashing can only add candidates, never
lose a match; every candidate is confirmed by comparing real tokens (see `match`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TOKENIZER_VERSION = "alnum-lower-v1"
_TOKEN_RE = re.compile(r"[^\W_]+")
_U64 = np.uint64
_CHAR_BASE = _U64(0x100000001B3)  # odd, so powers are invertible mod 2^64
_GRAM_BASE = _U64(0x9E3779B97F4A7C15 | 1)
_GRAM_BASE_INV = _U64(pow(int(_GRAM_BASE), -1, 1 << 64))
_LEN_SALT = _U64(0xD6E8FEB86659FD93)
_SEP = "\x00"  # not alnum, so no token crosses a document boundary


def tokenize(text: str) -> list[str]:
    """Tokens of `text`: lowercase runs of Unicode letters/digits (reference version)."""
    return _TOKEN_RE.findall(text.lower())


@lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    """isalnum() for every code point, built once per process (about 0.1 s)."""
    return np.frombuffer(bytes(chr(i).isalnum() for i in range(0x110000)), dtype=np.bool_)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads polynomial hashes over all 64 bits (wrapping math)."""
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


class _Powers:
    """Growing tables of base^i and base^-i mod 2^64, shared by all batches in a process."""

    def __init__(self, base: np.uint64, inv: np.uint64 | None = None) -> None:
        self.base, self.inv = base, inv
        self.pow = np.ones(1, dtype=np.uint64)
        self.ipow = np.ones(1, dtype=np.uint64) if inv is not None else None

    def ensure(self, size: int) -> None:
        if self.pow.size >= size:
            return
        size = max(size, 2 * self.pow.size)
        self.pow = np.concatenate(([_U64(1)], np.cumprod(np.full(size - 1, self.base))))
        if self.inv is not None:
            self.ipow = np.concatenate(([_U64(1)], np.cumprod(np.full(size - 1, self.inv))))


_CHAR_POW = _Powers(_CHAR_BASE)
_GRAM_POW = _Powers(_GRAM_BASE, _GRAM_BASE_INV)


@dataclass
class HashedBatch:
    """Token hashes of a batch of documents, concatenated.

    `hashes[offsets[d]:offsets[d + 1]]` are the token hashes of document `d`.
    """

    hashes: np.ndarray  # uint64, one per token
    offsets: np.ndarray  # int64, len(docs) + 1

    @property
    def num_tokens(self) -> int:
        return int(self.hashes.size)

    def doc_of_token(self) -> np.ndarray:
        counts = np.diff(self.offsets)
        return np.repeat(np.arange(counts.size, dtype=np.int64), counts)


def hash_batch(texts: list[str]) -> HashedBatch:
    """Tokenize many documents at once and hash each token (same tokens as `tokenize`)."""
    if not texts:
        return HashedBatch(np.zeros(0, np.uint64), np.zeros(1, np.int64))
    lowered = [t.lower() for t in texts]
    joined = _SEP.join(lowered)
    if joined.isascii():  # O(1) in CPython; one byte per character instead of four
        cp = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        alnum = _alnum_table()[:128][cp]
    else:
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        alnum = _alnum_table()[cp]
    pos = np.flatnonzero(alnum)
    lens = np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered))
    doc_start = np.cumsum(lens + 1) - (lens + 1)
    if pos.size == 0:
        return HashedBatch(np.zeros(0, np.uint64), np.zeros(len(texts) + 1, np.int64))
    brk = np.empty(pos.size, dtype=np.bool_)
    brk[0] = True
    np.not_equal(pos[1:], pos[:-1] + 1, out=brk[1:])
    starts = np.flatnonzero(brk)
    tlen = np.diff(starts, append=pos.size)
    offset_in_token = np.arange(pos.size, dtype=np.int64) - np.repeat(starts, tlen)
    _CHAR_POW.ensure(int(tlen.max()))
    weighted = cp[pos].astype(np.uint64) * _CHAR_POW.pow[offset_in_token]
    hashes = _mix(np.add.reduceat(weighted, starts) ^ tlen.astype(np.uint64))
    token_doc = np.searchsorted(doc_start, pos[starts], side="right") - 1
    offsets = np.searchsorted(token_doc, np.arange(len(texts) + 1), side="left")
    return HashedBatch(hashes, offsets.astype(np.int64))


def hash_tokens(tokens: list[str]) -> np.ndarray:
    """Token hashes of an already tokenized document (equals `hash_batch` on its text)."""
    return hash_batch([" ".join(tokens)]).hashes


def gram_hashes(batch: HashedBatch, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every `length`-token window inside each document, with its first token.

    Returns (hashes, start) where `start` indexes `batch.hashes`; windows that would cross
    a document boundary are left out. The hash is a polynomial over token hashes computed
    from prefix sums, so extra window lengths cost two array passes each.
    """
    th = batch.hashes
    total = th.size
    if total < length or length < 1:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    _GRAM_POW.ensure(total + 1)
    prefix = np.empty(total + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(th * _GRAM_POW.pow[:total], out=prefix[1:])
    return _windows(prefix, batch.offsets, length, total)


def _windows(
    prefix: np.ndarray, offsets: np.ndarray, length: int, total: int
) -> tuple[np.ndarray, np.ndarray]:
    n_win = total - length + 1
    g = (prefix[length : length + n_win] - prefix[:n_win]) * _GRAM_POW.ipow[:n_win]
    g = _mix(g + _U64((length * int(_LEN_SALT)) % (1 << 64)))
    # a window is inside one document when its last token is before the next document start
    start = np.arange(n_win, dtype=np.int64)
    counts = np.diff(offsets)
    doc_end = np.repeat(offsets[1:], counts)[:n_win]
    keep = start + length <= doc_end
    return g[keep], start[keep]


def multi_gram_hashes(
    batch: HashedBatch, lengths: list[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """`gram_hashes` for several window lengths, sharing one prefix-sum pass."""
    th = batch.hashes
    total = th.size
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if total == 0:
        return {n: (np.zeros(0, np.uint64), np.zeros(0, np.int64)) for n in lengths}
    _GRAM_POW.ensure(total + 1)
    prefix = np.empty(total + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(th * _GRAM_POW.pow[:total], out=prefix[1:])
    for n in lengths:
        if total < n:
            out[n] = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
        else:
            out[n] = _windows(prefix, batch.offsets, n, total)
    return out
