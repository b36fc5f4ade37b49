import random

import pytest
from caravan.prefs.binarize import BELOW_MARGIN, FEW_RATED, TIE, Pair, binarize, mean_score

from caravan.errors import CaravanError


def test_mean_leaves_na_out_instead_of_counting_it():
    assert mean_score([5.0, None, 3.0, 4.0]) == 4.0  # the old scripts made N/A -1 here
    assert mean_score([None, None]) is None


def test_rejected_is_always_strictly_lower_and_random_among_lower():
    scores = [4.0, 4.0, 3.0, 2.0, 4.0]
    seen_rejected, seen_chosen = set(), set()
    for seed in range(200):
        pair = binarize(scores, random.Random(seed))
        assert isinstance(pair, Pair)
        assert scores[pair.chosen] == 4.0 and scores[pair.rejected] < 4.0
        assert pair.score_chosen - pair.score_rejected > 0
        seen_rejected.add(pair.rejected)
        seen_chosen.add(pair.chosen)
    assert seen_rejected == {2, 3} and seen_chosen == {0, 1, 4}


def test_ties_and_too_few_rated_are_reasons_not_pairs():
    assert binarize([3.0, 3.0, 3.0], random.Random(0)) == TIE
    assert binarize([3.0, None, None], random.Random(0)) == FEW_RATED
    assert binarize([None, 2.0, 2.0], random.Random(0)) == TIE


def test_lowest_and_margin_strategies():
    scores = [5.0, 4.5, 2.0, 2.0]
    for seed in range(20):
        pair = binarize(scores, random.Random(seed), "lowest")
        assert pair.chosen == 0 and pair.rejected in (2, 3)
        pair = binarize(scores, random.Random(seed), "margin", margin=1.0)
        assert pair.rejected in (2, 3)
    assert binarize(scores, random.Random(0), "margin", margin=3.5) == BELOW_MARGIN
    with pytest.raises(CaravanError, match="unknown strategy"):
        binarize(scores, random.Random(0), "best-of")
