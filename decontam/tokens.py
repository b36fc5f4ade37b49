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


def _code_points(text: str) -> np.ndarray:
    """Code points of `text`: 2 bytes each when it has no characters beyond the BMP.

    Lone surrogates (possible in JSON-decoded text) pass through as their code points,
    which are not letters or digits.
    """
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    if units.size == len(text):  # no surrogate pairs: every unit is one code point
        return units
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads polynomial hashes over all 64 bits (wrapping math)."""
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


class _Powers:
    """Growing tables of base^i and base^-i mod 2^64, shared by all batches in a process."""

    def __init__(self, base: np.uint64, inv: np.uint64) -> None:
        self.base, self.inv = base, inv
        self.pow = np.ones(1, dtype=np.uint64)
        self.ipow = np.ones(1, dtype=np.uint64)

    def ensure(self, size: int) -> None:
        if self.pow.size >= size:
            return
        size = max(size, 2 * self.pow.size, 1 << 16)
        self.pow = _power_table(self.base, size)
        self.ipow = _power_table(self.inv, size)


def _power_table(base: np.uint64, size: int) -> np.ndarray:
    """[base^0, ..., base^(size-1)] mod 2^64 as an outer product of two short cumprods."""
    block = 4096
    small = np.concatenate(([_U64(1)], np.cumprod(np.full(block - 1, base))))
    step = _U64((int(small[-1]) * int(base)) % (1 << 64))  # base^block
    nblocks = -(-size // block)
    big = np.concatenate(([_U64(1)], np.cumprod(np.full(nblocks - 1, step, dtype=np.uint64))))
    return (big[:, None] * small[None, :]).ravel()[:size]


_CHAR_POW = _Powers(_CHAR_BASE, _U64(pow(int(_CHAR_BASE), -1, 1 << 64)))
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


_MAX_CHARS = 1 << 22  # characters hashed at once; bounds the power tables (32 MB each)


def hash_batch(texts: list[str]) -> HashedBatch:
    """Tokenize many documents at once and hash each token (same tokens as `tokenize`)."""
    groups, size, lo = [], 0, 0
    for i, t in enumerate(texts):
        size += len(t) + 1
        if size > _MAX_CHARS and i > lo:
            groups.append((lo, i))
            lo, size = i, len(t) + 1
    if len(groups) == 0:
        return _hash_group(texts)
    groups.append((lo, len(texts)))
    parts = [_hash_group(texts[a:b]) for a, b in groups]
    offsets = [parts[0].offsets]
    base = parts[0].offsets[-1]
    for p in parts[1:]:
        offsets.append(p.offsets[1:] + base)
        base += p.offsets[-1]
    return HashedBatch(np.concatenate([p.hashes for p in parts]), np.concatenate(offsets))


def _hash_group(texts: list[str]) -> HashedBatch:
    if not texts:
        return HashedBatch(np.zeros(0, np.uint64), np.zeros(1, np.int64))
    lowered = [t.lower() for t in texts]
    joined = _SEP.join(lowered)
    if joined.isascii():  # O(1) in CPython; one byte per character instead of four
        cp = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        alnum = np.take(_alnum_table()[:128], cp)
    else:
        cp = _code_points(joined)
        alnum = np.take(_alnum_table(), cp)
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
    # polynomial over the characters' positions in the joined text, then shifted back so
    # a token's hash does not depend on where it sits: sum c_i B^(p_i) * B^-(p_start)
    _CHAR_POW.ensure(cp.size + 1)
    weighted = np.take(cp, pos) * np.take(_CHAR_POW.pow, pos)
    first = np.take(pos, starts)
    sums = np.add.reduceat(weighted, starts) * np.take(_CHAR_POW.ipow, first)
    hashes = _mix(sums ^ tlen.astype(np.uint64))
    offsets = np.empty(len(texts) + 1, dtype=np.int64)
    offsets[:-1] = np.searchsorted(first, doc_start, side="left")
    offsets[-1] = starts.size
    return HashedBatch(hashes, offsets)


def hash_tokens(tokens: list[str]) -> np.ndarray:
    """Token hashes of an already tokenized document (equals `hash_batch` on its text)."""
    return hash_batch([" ".join(tokens)]).hashes


def prefix_sums(batch: HashedBatch) -> np.ndarray:
    """prefix[i] = sum_{j<i} h_j Q^j (mod 2^64): any window's hash in O(1) from two entries."""
    total = batch.hashes.size
    _GRAM_POW.ensure(total + 1)
    prefix = np.empty(total + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(batch.hashes * _GRAM_POW.pow[:total], out=prefix[1:])
    return prefix


def window_hash(prefix: np.ndarray, start: np.ndarray, length: np.ndarray | int) -> np.ndarray:
    """Hash of the token windows [start, start + length) (length may vary per window).

    Position-independent: the same token sequence hashes the same in any document.
    """
    ln = np.asarray(length, dtype=np.uint64)
    g = (prefix[start + np.asarray(length, dtype=np.int64)] - prefix[start]) * _GRAM_POW.ipow[start]
    return g + ln * _LEN_SALT


def all_windows(
    prefix: np.ndarray, offsets: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and first tokens of every `length`-window that stays inside one document."""
    total = prefix.size - 1
    n_win = total - length + 1
    if n_win <= 0 or length < 1:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    g = (prefix[length : length + n_win] - prefix[:n_win]) * _GRAM_POW.ipow[:n_win]
    g += _U64((length * int(_LEN_SALT)) % (1 << 64))
    # a window starting at s crosses a boundary b (a document start) iff b-length < s < b
    bad = (offsets[1:-1, None] - np.arange(1, length, dtype=np.int64)[None, :]).ravel()
    bad = bad[(bad >= 0) & (bad < n_win)]
    if bad.size == 0:
        return g, np.arange(n_win, dtype=np.int64)
    keep = np.ones(n_win, dtype=np.bool_)
    keep[bad] = False
    start = np.flatnonzero(keep)
    return g[start], start


def sequence_hash(token_hashes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Window hash of the first `lengths[i]` tokens of row i of a (k, width) hash matrix.

    Equals `window_hash` of the same tokens inside any document.
    """
    k, width = token_hashes.shape
    _GRAM_POW.ensure(width + 1)
    lengths = np.asarray(lengths, dtype=np.int64)
    cols = np.arange(width)[None, :] < lengths[:, None]
    terms = np.where(cols, token_hashes * _GRAM_POW.pow[:width][None, :], _U64(0))
    return terms.sum(axis=1, dtype=np.uint64) + lengths.astype(np.uint64) * _LEN_SALT
