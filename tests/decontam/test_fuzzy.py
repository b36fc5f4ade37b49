"""Fuzzy containment mode, and the datasketch 2.0 behaviour it relies on (pinned)."""

import numpy as np
import pytest
from caravan.decontam.fuzzy import SCHEME, FuzzyConfig, Sketcher, fuzzy_matches, shingle_sets
from datasketch import MinHash, MinHashLSH

EVAL = [
    "a train leaves the station at nine and travels sixty miles per hour toward the city",
    "the farmer plants seven rows of corn with twelve plants in each row every spring",
]
FILLER = [f"unrelated sentence number {i} about cooking pasta and rice at home" for i in range(60)]


def test_sketches_use_an_explicit_scheme_and_are_stable():
    mh = Sketcher(FuzzyConfig(num_perm=8))(np.array([1, 2, 3], dtype=np.uint64))
    assert mh.scheme == SCHEME == "affine64"
    # pinned values: if datasketch changes its hashing again, this fails loudly
    again = MinHash(num_perm=8, seed=1, hashfunc=int, scheme="affine64")
    again.update_batch([1, 2, 3])
    assert np.array_equal(mh.digest(), again.digest())
    legacy = MinHash(num_perm=8, seed=1, hashfunc=int, scheme="legacy")
    legacy.update_batch([1, 2, 3])
    assert not np.array_equal(mh.digest(), legacy.digest())  # 1.x sketches are not comparable
    assert MinHash(num_perm=8).scheme == "affine32"  # the 2.0 default we do not rely on


def test_mixing_schemes_in_one_index_fails():
    lsh = MinHashLSH(threshold=0.5, num_perm=8)
    a = MinHash(num_perm=8, scheme="affine64", hashfunc=int)
    a.update_batch([1, 2])
    lsh.insert("a", a)
    b = MinHash(num_perm=8, scheme="legacy", hashfunc=int)
    b.update_batch([1, 2])
    with pytest.raises(ValueError, match="scheme"):
        list(lsh.query(b))


def test_shingles_of_short_texts_are_the_whole_text():
    sets = shingle_sets(["one two", "one two three four", ""], 3)
    assert [s.size for s in sets] == [1, 2, 0]


def test_containment_finds_embedded_and_edited_items():
    train = list(FILLER)
    train[5] = "Long intro text here. " * 10 + EVAL[0] + " and a long outro. " * 10
    edited = EVAL[1].replace("seven", "eight")  # one word changed: 2/3 shingles... most remain
    train[40] = edited
    found = fuzzy_matches(train, EVAL, FuzzyConfig(threshold=0.6))
    assert {(t, e) for t, e, _ in found} == {(5, 0), (40, 1)}
    assert all(c >= 0.6 for _, _, c in found)


def test_exact_item_chunks_are_indexed_separately():
    train = list(FILLER)
    train[59] = EVAL[1]
    found = fuzzy_matches(train, EVAL, FuzzyConfig(chunk_rows=25))
    assert [(t, e, c) for t, e, c in found] == [(59, 1, 1.0)]
