"""The 29 training-only constraints against hand-made passing and failing responses."""

from __future__ import annotations

import pytest
from caravan.verifiers.ifeval import EXTRA_IDS, check_instructions

from caravan.errors import CaravanError

PROMPT = "Describe a lighthouse in two sentences."

CASES = [
    (
        "copy:repeat_phrase",
        {"phrase": "Time flies when having fun", "small_n": 2},
        "Time flies while having fun. Then: Time runs when having fun.",
        True,
    ),
    (
        "copy:repeat_phrase",
        {"phrase": "Time flies when having fun", "small_n": 2},
        "Time flies when having fun. Time flies when having fun.",
        False,
    ),  # no word changed
    (
        "copy:repeat_phrase",
        {"phrase": "Time flies when having fun", "small_n": 2},
        "Time flies while having fun.",
        False,
    ),  # one copy only
    ("copy:copy", {"prompt_to_repeat": PROMPT}, "  describe a lighthouse in two sentences. ", True),
    ("copy:copy", {"prompt_to_repeat": PROMPT}, PROMPT + " It is tall.", False),
    (
        "new:copy_span_idx",
        {"prompt_to_repeat": PROMPT, "n_start": 9, "n_end": 21},
        "a lighthouse",
        True,
    ),
    (
        "new:copy_span_idx",
        {"prompt_to_repeat": PROMPT, "n_start": 9, "n_end": 21},
        "a lighthouse i",
        False,
    ),
    ("detectable_format:sentence_hyphens", {}, "It was late.-We went home.-Nobody spoke.", True),
    ("detectable_format:sentence_hyphens", {}, "It was late. - We went home.", False),
    ("keywords:no_adjacent_consecutive", {}, "the cat sat on mats", True),
    ("keywords:no_adjacent_consecutive", {}, "a big dog", False),  # a -> b
    ("detectable_format:square_brackets", {}, "[Every] [word] [here.]", True),
    ("detectable_format:square_brackets", {}, "[Every] word", False),
    ("keywords:word_once", {"keyword": "lamp"}, "The Lamp glowed.", True),
    ("keywords:word_once", {"keyword": "lamp"}, "lamp and lamp", False),
    (
        "keywords:word_count_different_numbers",
        {"keyword": "sea", "frequency": 2, "relation": "at least"},
        "sea sea",
        True,
    ),
    (
        "keywords:word_count_different_numbers",
        {"keyword": "sea", "frequency": 2, "relation": "less than"},
        "sea sea",
        False,
    ),
    (
        "keywords:exclude_word_harder",
        {"keyword": "light"},
        "Lighthouses give light.",
        True,
    ),  # not space-delimited
    ("keywords:exclude_word_harder", {"keyword": "light"}, "They give light at night.", False),
    ("paragraphs:paragraphs", {}, "First part.\n***\nSecond part.", True),
    ("paragraphs:paragraphs", {}, "First part.\n\nSecond part.", False),
    ("paragraphs:paragraphs2", {}, "First part.\n\nSecond part.", True),
    ("paragraphs:paragraphs2", {}, "First.\n\n\n\nSecond.", False),  # an empty middle paragraph
    ("first_word:first_word_sent", {"first_word": "Light"}, "Light shines. light fades!", True),
    ("first_word:first_word_sent", {"first_word": "Light"}, "Light shines. Dark falls.", False),
    (
        "first_word:first_word_answer",
        {"first_word": "Yes"},
        "yes, it is.",
        False,
    ),  # 'yes,' != 'yes'
    ("first_word:first_word_answer", {"first_word": "Yes"}, "  YES it is.", True),
    ("last_word:last_word_sent", {"last_word": "sea"}, "We saw the sea. It was the SEA!", True),
    ("last_word:last_word_sent", {"last_word": "sea"}, "We saw the sea. It was calm.", False),
    ("last_word:last_word_answer", {"last_word": "done"}, "All work is done!", True),
    ("last_word:last_word_answer", {"last_word": "done"}, "Done is all.", False),
    ("detectable_format:bigram_wrapping", {}, "<<I am>> <<at home>>", True),
    ("detectable_format:bigram_wrapping", {}, "<<I am>> at home", False),
    ("copy:copying_simple", {"prompt_to_repeat": PROMPT}, PROMPT, True),
    ("copy:copying_simple", {"prompt_to_repeat": PROMPT}, "A lighthouse is tall.", False),
    (
        "copy:copying_multiple",
        {"prompt_to_repeat": PROMPT, "N": 2},
        f"{PROMPT}\n******\n{PROMPT}",
        True,
    ),
    (
        "copy:copying_multiple",
        {"prompt_to_repeat": PROMPT, "N": 3},
        f"{PROMPT}\n******\n{PROMPT}",
        False,
    ),
    ("punctuation:punctuation_dot", {}, "No dots here!", True),
    ("punctuation:punctuation_dot", {}, "A dot.", False),
    ("punctuation:punctuation_exclamation", {}, "Calm words.", True),
    ("punctuation:punctuation_exclamation", {}, "Wow!", False),
    ("count:lowercase_counting", {"N": 2}, "One two THREE Four", True),
    ("count:lowercase_counting", {"N": 2}, "one two three", False),
    ("letters:letter_counting", {"N": 5, "relation": "less than"}, "abcd 123", True),
    ("letters:letter_counting", {"N": 5, "relation": "at least"}, "abcd 123", False),
    (
        "letters:letter_counting2",
        {"letter": "e", "let_frequency": 2, "let_relation": "at least"},
        "Eve",
        True,
    ),
    (
        "letters:letter_counting2",
        {"letter": "e", "let_frequency": 3, "let_relation": "at least"},
        "Eve",
        False,
    ),
    (
        "count:counting_composition",
        {"n_sent": 1, "n_words": 4},
        "Boats are out.\n***\nGulls fly high.\n***\nWaves hit rocks.",
        True,
    ),  # 3 words + '.' = 4 tokens
    (
        "count:counting_composition",
        {"n_sent": 1, "n_words": 4},
        "Boats are out.\n***\nGulls fly high.",
        False,
    ),
    ("count:count_unique", {}, "Every word appears once", True),
    ("count:count_unique", {}, "Red, blue, green", False),  # the comma repeats
    (
        "count:count_increment_word",
        {"keyword1": "moon", "keyword2": "star"},
        "moon star star",
        True,
    ),
    ("count:count_increment_word", {"keyword1": "moon", "keyword2": "star"}, "moon star", False),
    ("keywords:palindrome", {}, "We saw a racecar", True),
    ("keywords:palindrome", {}, "No such words here", False),
    (
        "keywords:keyword_specific_position",
        {"keyword": "bright", "n": 2, "m": 3},
        "It rained. The sky bright again.",
        True,
    ),
    (
        "keywords:keyword_specific_position",
        {"keyword": "bright", "n": 2, "m": 3},
        "It rained. The sky's bright again.",
        False,
    ),  # 's is token 3
    (
        "keywords:keyword_specific_position",
        {"keyword": "was", "n": 2, "m": 3},
        "It rained. The sky was clear.",
        True,
    ),
    ("keywords:start_end", {}, "Home is where we return home", True),
    ("keywords:start_end", {}, "Home is where we return home.", False),  # '.' is the last token
]


@pytest.mark.parametrize(("iid", "kwargs", "response", "expected"), CASES)
def test_strict_verdicts(iid, kwargs, response, expected):
    assert check_instructions(response, [iid], [kwargs]) == [expected]


def test_every_extra_id_has_a_passing_and_a_failing_case():
    assert len(EXTRA_IDS) == 29
    seen = {(c[0], c[3]) for c in CASES}
    for iid in EXTRA_IDS:
        assert (iid, True) in seen and (iid, False) in seen, iid


def test_copy_ids_take_the_prompt_when_kwargs_lack_it():
    assert check_instructions(PROMPT, ["copy:copying_simple"], [{}], prompt=PROMPT) == [True]
    with pytest.raises(CaravanError, match="prompt_to_repeat"):
        check_instructions(PROMPT, ["copy:copy"], [{}])


@pytest.mark.parametrize(
    ("iid", "kwargs"),
    [
        ("copy:repeat_phrase", {"phrase": "single", "small_n": 2}),
        ("new:copy_span_idx", {"prompt_to_repeat": "abc", "n_start": 2, "n_end": 1}),
        ("count:counting_composition", {"n_sent": 0, "n_words": 2}),
        ("keywords:keyword_specific_position", {"keyword": "x", "n": 0, "m": 1}),
    ],
)
def test_bad_kwargs_raise(iid, kwargs):
    with pytest.raises(CaravanError, match=iid):
        check_instructions("text", [iid], [kwargs])
