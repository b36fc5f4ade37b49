"""The tokenizer users read about, and the vectorised hashing that must agree with it."""

import random

import numpy as np
from caravan.decontam.tokens import (
    all_windows,
    hash_batch,
    hash_tokens,
    prefix_sums,
    sequence_hash,
    tokenize,
)


def test_tokens_are_lowercase_letter_digit_runs():
    assert tokenize("Hello,  WORLD! x_y 3.14 naïve") == [
        "hello",
        "world",
        "x",
        "y",
        "3",
        "14",
        "naïve",
    ]
    assert tokenize("  ...  ") == []
    assert tokenize("Straße ÉCOLE 東京 Δύο") == ["straße", "école", "東京", "δύο"]


def _random_text(rng: random.Random) -> str:
    alphabet = "aZ09_ -.,\n\tÉéßΣσς東京😀\u0301İ٣"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def test_vectorised_tokenizer_agrees_with_the_reference_on_unicode():
    rng = random.Random(7)
    texts = [_random_text(rng) for _ in range(300)]
    batch = hash_batch(texts)
    for d, text in enumerate(texts):
        got = batch.hashes[batch.offsets[d] : batch.offsets[d + 1]]
        want = hash_tokens(tokenize(text))
        assert len(got) == len(tokenize(text))
        assert np.array_equal(got, want), text


def test_ascii_and_unicode_batches_hash_tokens_alike():
    ascii_only = hash_batch(["the cat sat"]).hashes
    mixed = hash_batch(["the cat sat", "東京"]).hashes[:3]
    assert np.array_equal(ascii_only, mixed)
    assert len(set(hash_batch(["a b ab ba aa"]).hashes.tolist())) == 5


def test_window_hashes_do_not_depend_on_position_or_neighbours():
    b = hash_batch(["x y one two three", "one two three z", "one two"])
    g, start = all_windows(prefix_sums(b), b.offsets, 3)
    by_start = dict(zip(start.tolist(), g.tolist(), strict=True))
    assert by_start[2] == by_start[5]  # "one two three" in doc 0 and doc 1
    # no window crosses from one document into the next
    assert set(by_start) == {0, 1, 2, 5, 6}
    toks = b.hashes[b.offsets[2] : b.offsets[3]]
    mat = np.zeros((1, 4), np.uint64)
    mat[0, :2] = toks
    g2, s2 = all_windows(prefix_sums(b), b.offsets, 2)
    assert (
        sequence_hash(mat, np.array([2]))[0] == dict(zip(s2.tolist(), g2.tolist(), strict=True))[9]
    )


def test_large_batches_are_hashed_in_groups_with_the_same_result(monkeypatch):
    import caravan.decontam.tokens as tokens

    texts = [f"doc {i} ünïcode word{i} 😀 x" * (i % 3) for i in range(50)]
    whole = hash_batch(texts)
    monkeypatch.setattr(tokens, "_MAX_CHARS", 64)
    grouped = hash_batch(texts)
    assert np.array_equal(whole.hashes, grouped.hashes)
    assert np.array_equal(whole.offsets, grouped.offsets)


def test_lone_surrogates_and_astral_characters():
    import json

    text = json.loads('"abc \\ud800 def"')  # JSON can decode to a lone surrogate
    assert tokenize(text) == ["abc", "def"]
    b = hash_batch([text, "x 😀y 𝐀b"])
    assert np.array_equal(b.hashes[:2], hash_tokens(["abc", "def"]))
    assert list(np.diff(b.offsets)) == [2, 3] and tokenize("x 😀y 𝐀b") == ["x", "y", "𝐀b"]
