"""The Tülu 3 overlap definition on hand-built cases, through the public API."""

import caravan.decontam.match as match
import numpy as np
import pytest
from caravan.decontam import find_overlaps

from caravan import decontam

TEN = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"


def _cov(train, eval_, n=8, threshold=0.0):
    found = find_overlaps([train], [eval_], n=n, threshold=threshold)
    return found[0].coverage if found else None


def test_api_returns_indexes_and_coverage():
    found = decontam.find_overlaps(["noise " + TEN + " noise", "unrelated text"], [TEN, "other"])
    assert [(m.eval_index, m.train_index, m.coverage) for m in found] == [(0, 0, 1.0)]


def test_exactly_half_is_not_over_half():
    # eval: 16 tokens; training shares exactly its first 8 -> 8/16 = 0.5, not > 0.5
    eval_ = TEN + " kilo lima mike november oscar papa"
    train = "alpha bravo charlie delta echo foxtrot golf hotel zzz"
    assert find_overlaps([train], [eval_]) == []
    assert _cov(train, eval_) == 0.5
    # one more matched token tips it over
    train9 = "alpha bravo charlie delta echo foxtrot golf hotel india zzz"
    assert find_overlaps([train9], [eval_])[0].coverage == 9 / 16


def test_threshold_is_configurable():
    eval_ = TEN + " kilo lima mike november oscar papa"
    train = "alpha bravo charlie delta echo foxtrot golf hotel"
    assert find_overlaps([train], [eval_], threshold=0.4)[0].coverage == 0.5


def test_matched_tokens_are_counted_once_with_repeated_ngrams():
    # the eval repeats its 8-gram; the training text holds it once -> all 16 tokens match
    gram = "one two three four five six seven eight"
    assert _cov(gram, gram + " " + gram) == 1.0
    # overlapping windows count each token once: 9 tokens, two shared 8-grams cover all 9
    assert _cov("x one two three four five six seven eight nine x", gram + " nine") == 1.0


def test_ngrams_must_occur_in_the_same_training_instance():
    eval_ = TEN
    halves = ["alpha bravo charlie delta echo", "foxtrot golf hotel india juliet"]
    assert find_overlaps(halves, [eval_]) == []


def test_case_whitespace_and_punctuation_do_not_matter():
    train = "ALPHA, bravo... Charlie\n\tdelta -- echo (foxtrot) golf; HOTEL! india? juliet"
    assert _cov(train, TEN) == 1.0


def test_unicode_text_matches_across_case():
    eval_ = "Ο Σωκράτης ήταν ένας αρχαίος Έλληνας φιλόσοφος από την Αθήνα"
    train = "Κείμενο: ο σωκράτης ήταν ένας αρχαίος έλληνας φιλόσοφος από την αθήνα."
    assert _cov(train, eval_) == 1.0
    assert (
        _cov("東京 は 日本 の 首都 です と 言われる", "東京 は 日本 の 首都 です と 言われる")
        == 1.0
    )


def test_short_eval_items_are_one_gram():
    assert _cov("please simplify sqrt(242) now", "Simplify $\\sqrt{242}$.") == 1.0
    # all of its tokens, contiguous: a partial or scattered occurrence does not count
    assert find_overlaps(["simplify the sqrt 242"], ["Simplify sqrt 242"]) == []
    assert find_overlaps(["simplify sqrt"], ["Simplify sqrt 242"]) == []
    # short items of several lengths at once
    found = find_overlaps(["a b c d e", "x y"], ["b c", "c d e", "x y", "y x"], threshold=0.5)
    assert [(m.train_index, m.eval_index) for m in found] == [(0, 0), (0, 1), (1, 2)]


def test_ngram_length_is_configurable():
    eval_ = "one two three four"
    assert find_overlaps(["x two three four y"], [eval_], n=3)[0].coverage == 0.75
    assert find_overlaps(["x two three four y"], [eval_], n=8) == []


def test_every_training_row_above_the_threshold_is_reported():
    rows = ["a " + TEN, TEN + " b", "c alpha bravo charlie delta echo foxtrot golf hotel india"]
    found = find_overlaps(rows, [TEN])
    assert [(m.train_index, m.coverage) for m in found] == [(0, 1.0), (1, 1.0), (2, 0.9)]


def test_hash_collisions_cannot_create_matches(monkeypatch):
    import caravan.decontam.index as index_mod

    real = match.hash_batch

    def colliding(texts):
        b = real(texts)
        b.hashes = np.zeros_like(b.hashes)  # every token hashes alike: all windows collide
        return b

    monkeypatch.setattr(match, "hash_batch", colliding)
    monkeypatch.setattr(index_mod, "hash_batch", colliding)
    index = match.build_index([TEN], 8)
    other = "completely different words that share nothing at all here"
    docs, _, _, _ = match.candidate_pairs([other], index, 0.5)
    assert docs.size == 1  # stage 1 (hashes) is fooled ...
    assert match.scan_texts([other], index, 0.5).matches == []  # ... stage 2 (tokens) is not


@pytest.mark.parametrize("text", ["", "   ", "!!!"])
def test_training_text_without_tokens_matches_nothing(text):
    res = match.scan_texts([text, TEN], match.build_index([TEN], 8), 0.5)
    assert [(m.train_index, m.eval_index) for m in res.matches] == [(1, 0)]
    assert res.empty == [0]
