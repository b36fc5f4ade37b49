"""Each IFEval instruction id against hand-made passing and failing responses."""

from __future__ import annotations

import pytest
from caravan.verifiers.ifeval import IFEVAL_IDS, check_instructions

from caravan.errors import CaravanError

LOREM = "The harbor was quiet this morning. Boats rocked gently at their moorings."

# (instruction id, kwargs, response, expected strict verdict)
CASES = [
    # keywords
    ("keywords:existence", {"keywords": ["harbor", "boats"]}, LOREM, True),
    ("keywords:existence", {"keywords": ["HARBOR"]}, LOREM, True),  # case-insensitive
    ("keywords:existence", {"keywords": ["harbor", "gull"]}, LOREM, False),
    ("keywords:existence", {"keywords": ["harb"]}, LOREM, True),  # substring, like the reference
    (
        "keywords:frequency",
        {"keyword": "sea", "frequency": 2, "relation": "at least"},
        "sea and Sea",
        True,
    ),
    (
        "keywords:frequency",
        {"keyword": "sea", "frequency": 2, "relation": "at least"},
        "the sea",
        False,
    ),
    (
        "keywords:frequency",
        {"keyword": "sea", "frequency": 2, "relation": "less than"},
        "the sea",
        True,
    ),
    (
        "keywords:frequency",
        {"keyword": "sea", "frequency": 2, "relation": "less than"},
        "sea, seas",
        False,
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["storm"]}, LOREM, True),
    ("keywords:forbidden_words", {"forbidden_words": ["storm"]}, "A Storm came.", False),
    (
        "keywords:forbidden_words",
        {"forbidden_words": ["storm"]},
        "Stormy weather.",
        True,
    ),  # whole word
    (
        "keywords:letter_frequency",
        {"letter": "a", "let_frequency": 3, "let_relation": "at least"},
        "A cat ran away",
        True,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 1, "let_relation": "at least"},
        LOREM,
        False,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "Z", "let_frequency": 2, "let_relation": "less than"},
        "zoo",
        True,
    ),
    (
        "keywords:letter_frequency",
        {"letter": "#", "let_frequency": 2, "let_relation": "at least"},
        "#a #b",
        True,
    ),
    # language
    ("language:response_language", {"language": "en"}, LOREM, True),
    ("language:response_language", {"language": "fr"}, LOREM, False),
    (
        "language:response_language",
        {"language": "fr"},
        "Les bateaux sont rentrés au port avant la tempête de ce soir.",
        True,
    ),
    ("language:response_language", {"language": "de"}, "12345 !!!", True),  # undetectable passes
    # length
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "at least"},
        LOREM,
        True,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "less than"},
        LOREM,
        False,
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "less than"},
        "Dr. Smith came home.",
        True,
    ),
    ("length_constraints:number_words", {"num_words": 12, "relation": "at least"}, LOREM, True),
    ("length_constraints:number_words", {"num_words": 12, "relation": "less than"}, LOREM, False),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "at least"},
        "don't-stop",
        True,
    ),  # \w+ runs
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\nTwo.", True),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "***\nOne.\n***\nTwo.\n***",
        True,
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "One.\n***\n***\nTwo.",
        False,
    ),  # empty inside
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "One.\n***\nTwo.", False),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'First.\n\n"Then, more.',
        True,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First.\n\nNow more.",
        False,
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "first"},
        "First.\n\nTwo.\n\nThree.",
        False,
    ),
    # content
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Dear [name], at [place].",
        True,
    ),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name].", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\np. s. bye", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi. PS bye", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.P.S bye", True),
    # format
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n- b", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b\n* c", False),
    (
        "detectable_format:number_bullet_lists",
        {"num_bullets": 1},
        "**bold** line\n* a",
        True,
    ),  # ** is no bullet
    ("detectable_format:constrained_response", {}, "My answer is no.", True),
    ("detectable_format:constrained_response", {}, "I'd say: My answer is maybe. Because...", True),
    ("detectable_format:constrained_response", {}, "my answer is yes", False),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "*one* and *two*",
        True,
    ),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "**bold**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**bold**", False),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 1},
        "* * and **  **",
        False,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\na\nSection 2\nb",
        True,
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "Section 1\na\nSection 2\nb",
        False,
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', True),
    ("detectable_format:json_format", {}, '{"a": 1} trailing', False),
    ("detectable_format:json_format", {}, "[1, 2, 3]", True),
    ("detectable_format:title", {}, "<<My Title>>\nBody", True),
    ("detectable_format:title", {}, "<<   >>\nBody", False),
    ("detectable_format:title", {}, "<<broken\ntitle>>", False),
    # combination
    ("combination:two_responses", {}, "Answer A\n******\nAnswer B", True),
    ("combination:two_responses", {}, "Answer A\n******\nAnswer A", False),
    ("combination:two_responses", {}, "A\n******\n******\nB", False),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "write a poem. Roses...",
        True,
    ),
    (
        "combination:repeat_prompt",
        {"prompt_to_repeat": "Write a poem."},
        "Sure. Write a poem.",
        False,
    ),
    # start/end, case, punctuation
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        'Done. any other questions?"',
        True,
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Any other questions? Bye",
        False,
    ),
    ("startend:quotation", {}, '  "All quoted."  ', True),
    ("startend:quotation", {}, '"', False),
    ("startend:quotation", {}, "Not quoted.", False),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "at least"},
        "I DON'T know",
        True,
    ),  # DO + N'T
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "NASA and ESA.",
        False,
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "Only NASA here.",
        True,
    ),
    (
        "change_case:english_capital",
        {},
        "THE BOATS CAME BACK TO THE HARBOR BEFORE THE STORM. EVERYONE WAS HAPPY AND THE FISHERMEN SOLD THEIR CATCH AT THE MARKET.",
        True,
    ),
    # langdetect reads this short all-caps line as Vietnamese; the reference fails it too.
    (
        "change_case:english_capital",
        {},
        "THE BOATS CAME BACK TO THE HARBOR BEFORE THE STORM.",
        False,
    ),
    ("change_case:english_capital", {}, "THE BOATS CAME BACK to the harbor.", False),
    (
        "change_case:english_lowercase",
        {},
        "the boats came back to the harbor before the storm.",
        True,
    ),
    (
        "change_case:english_lowercase",
        {},
        "les bateaux sont rentrés au port avant la tempête de ce soir.",
        False,
    ),
    ("punctuation:no_comma", {}, LOREM, True),
    ("punctuation:no_comma", {}, "Yes, indeed.", False),
]


@pytest.mark.parametrize(("iid", "kwargs", "response", "expected"), CASES)
def test_strict_verdicts(iid, kwargs, response, expected):
    assert check_instructions(response, [iid], [kwargs]) == [expected]


def test_every_ifeval_id_has_a_passing_and_a_failing_case():
    seen = {(c[0], c[3]) for c in CASES}
    assert len(IFEVAL_IDS) == 25
    for iid in IFEVAL_IDS:
        assert (iid, True) in seen and (iid, False) in seen, iid


def test_loose_mode_forgives_a_first_line_and_asterisks():
    response = "Sure, here it is:\n**the boats came home before the storm**"
    ids = ["change_case:english_lowercase", "punctuation:no_comma"]
    assert check_instructions(response, ids, [{}, {}]) == [False, False]
    assert check_instructions(response, ids, [{}, {}], loose=True) == [True, True]


def test_loose_mode_drops_a_last_line():
    response = '"Quoted answer."\nHope this helps!'
    assert check_instructions(response, ["startend:quotation"], [{}]) == [False]
    assert check_instructions(response, ["startend:quotation"], [{}], loose=True) == [True]


def test_empty_response_follows_nothing():
    assert check_instructions("   ", ["punctuation:no_comma"], [{}]) == [False]
    assert check_instructions("", ["punctuation:no_comma"], [{}], loose=True) == [False]


def test_none_kwargs_are_dropped_like_hf_ifeval_rows():
    hf_kwargs = {"num_highlights": 1, "relation": None, "keywords": None, "language": None}
    assert check_instructions(
        "*x*", ["detectable_format:number_highlighted_sections"], [hf_kwargs]
    ) == [True]
    assert check_instructions("ok", ["punctuation:no_comma"], [None]) == [True]


def test_repeat_prompt_falls_back_to_the_prompt():
    got = check_instructions(
        "Name a fruit. Apple.", ["combination:repeat_prompt"], [{}], prompt="Name a fruit."
    )
    assert got == [True]


@pytest.mark.parametrize(
    ("iid", "kwargs", "message"),
    [
        ("keywords:nonexistent", {}, "unknown instruction id"),
        ("keywords:frequency", {"keyword": "a", "frequency": 2, "relation": "about"}, "relation"),
        ("length_constraints:number_words", {"relation": "at least"}, "num_words"),
        (
            "length_constraints:number_words",
            {"num_words": "many", "relation": "at least"},
            "integer",
        ),
        (
            "keywords:letter_frequency",
            {"letter": "ab", "let_frequency": 1, "let_relation": "at least"},
            "single character",
        ),
        ("combination:repeat_prompt", {}, "prompt_to_repeat"),
        (
            "length_constraints:nth_paragraph_first_word",
            {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "x"},
            "exceeds",
        ),
    ],
)
def test_bad_ids_and_kwargs_raise_clear_errors(iid, kwargs, message):
    with pytest.raises(CaravanError, match=message):
        check_instructions("text", [iid], [kwargs])


def test_mismatched_lengths_raise():
    with pytest.raises(CaravanError, match="2 instruction ids but 1"):
        check_instructions("x", ["punctuation:no_comma", "startend:quotation"], [{}])


def test_language_detection_is_deterministic():
    text = "Ciao, come stai? Oggi il mare è calmo e le barche sono uscite."
    first = [
        check_instructions(text, ["language:response_language"], [{"language": "it"}])[0]
        for _ in range(5)
    ]
    assert first == [True] * 5
