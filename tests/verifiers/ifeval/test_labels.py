"""Both IF label formats, both scorings, and clear errors for bad labels."""

from __future__ import annotations

import json

import pytest
from caravan.verifiers.ifeval import parse_ground_truth, score_ground_truth
from caravan.verifiers.ifeval.labels import InstructionLabel, TuluLabel
from caravan.verifiers.ifeval.tulu_functions import TULU_FUNCTIONS, TULU_TO_IFEVAL

from caravan.errors import CaravanError

LIST_LABEL = json.dumps(
    [
        {
            "instruction_id": [
                "punctuation:no_comma",
                "detectable_format:title",
                "startend:quotation",
            ],
            "kwargs": [None, {}, {"unused": None}],
        }
    ]
)


def test_fraction_and_binary_scoring_of_instruction_lists():
    response = "<<A Title>>\nno commas here"
    assert score_ground_truth(response, LIST_LABEL) == pytest.approx(2 / 3)
    assert score_ground_truth(response, LIST_LABEL, scoring="binary") == 0.0
    assert score_ground_truth('"<<A Title>> all good"', LIST_LABEL, scoring="binary") == 1.0


def test_python_literal_labels_as_open_instruct_writes_them():
    literal = str([{"instruction_id": ["punctuation:no_comma"], "kwargs": [None]}])
    assert score_ground_truth("fine", literal) == 1.0
    assert score_ground_truth("a, b", literal) == 0.0


def test_loose_scoring_forgives_a_preamble_line():
    label = json.dumps([{"instruction_id": ["change_case:english_lowercase"], "kwargs": [{}]}])
    response = "Sure!\nthe boats came home before the storm and everyone was glad."
    assert score_ground_truth(response, label) == 0.0
    assert score_ground_truth(response, label, loose=True) == 1.0


@pytest.mark.parametrize(
    ("label", "response", "score"),
    [
        ({"func_name": "validate_lowercase", "N": None, "quantifier": None}, "all lower", 1.0),
        ({"func_name": "validate_lowercase"}, "Not Lower", 0.0),
        ({"func_name": "validate_uppercase"}, "SHOUT 123", 1.0),
        ({"func_name": "validate_no_commas"}, "a, b", 0.0),
        (
            {"func_name": "verify_keywords", "keyword_list": ["Sea", "boat"]},
            "the sea and a boat",
            1.0,
        ),
        ({"func_name": "verify_keyword_frequency", "word": "sea", "N": 2}, "Sea, sea! seas", 1.0),
        ({"func_name": "verify_keyword_frequency", "word": "sea", "N": 2}, "sea", 0.0),
        ({"func_name": "validate_forbidden_words", "forbidden_words": ["storm"]}, "stormy", 0.0),
        (
            {"func_name": "verify_letter_frequency", "letter": "a", "N": 2},
            "a A a",
            1.0,
        ),  # case-sensitive
        (
            {"func_name": "validate_word_constraint", "N": 10, "quantifier": "around"},
            " ".join(["w"] * 11),
            1.0,
        ),
        (
            {"func_name": "validate_word_constraint", "N": 10, "quantifier": "at most"},
            " ".join(["w"] * 11),
            0.0,
        ),
        (
            {"func_name": "verify_sentence_constraint", "N": 2, "quantifier": "at least"},
            "One. Two? Three",
            1.0,
        ),
        ({"func_name": "verify_paragraph_count", "N": 2}, "A\n  * * *  \nB", 1.0),
        ({"func_name": "verify_paragraph_count", "N": 2}, "A\n* * *\n* * *\nB", 0.0),
        (
            {"func_name": "validate_paragraphs", "N": 2, "first_word": "Then", "i": 2},
            "A\n\nThen B",
            1.0,
        ),
        ({"func_name": "verify_postscript", "postscript_marker": "P.S."}, "Hi\nP.S. later", 1.0),
        ({"func_name": "verify_postscript", "postscript_marker": "P.S."}, "Hi\nP.S.", 0.0),
        ({"func_name": "validate_placeholders", "N": 2}, "[a] [b]", 1.0),
        ({"func_name": "verify_bullet_points", "N": 2}, "* a\n- b\nc", 1.0),
        ({"func_name": "validate_title"}, "<<t>> body", 1.0),
        (
            {"func_name": "validate_choice", "options": ["My answer is yes.", "My answer is no."]},
            "My answer is no.",
            1.0,
        ),
        (
            {"func_name": "validate_choice", "options": ["My answer is yes."]},
            "My answer is yes. Because",
            1.0,
        ),
        ({"func_name": "validate_highlighted_sections", "N": 2}, "*a* *b*", 1.0),
        (
            {"func_name": "validate_sections", "N": 2, "section_splitter": "SECTION"},
            "SECTION 1 a SECTION 2 b",
            1.0,
        ),
        ({"func_name": "validate_json_format"}, '{"a": 1}', 1.0),
        ({"func_name": "validate_json_format"}, '```json\n{"a": 1}\n```', 0.0),  # Tülu is strict
        ({"func_name": "validate_repeat_prompt", "original_prompt": "Say hi."}, "Say hi. Hi!", 1.0),
        ({"func_name": "validate_two_responses"}, "a ****** b", 1.0),
        (
            {"func_name": "validate_frequency_capital_words", "N": 2, "quantifier": "at least"},
            "NASA and ESA",
            1.0,
        ),
        ({"func_name": "validate_end", "end_phrase": "Bye."}, "Well. Bye.", 1.0),
        ({"func_name": "validate_quotation"}, '"q"', 1.0),
        (
            {"func_name": "validate_response_language", "language": "en"},
            "The boats came home before the storm.",
            1.0,
        ),
    ],
)
def test_tulu_func_name_labels(label, response, score):
    assert score_ground_truth(response, json.dumps(label)) == score
    assert score_ground_truth(response, json.dumps(label), scoring="binary") == score


@pytest.mark.parametrize(
    ("label", "response", "score"),
    [
        # A fragment of an option is not a choice (Tülu 3's reversed test gave 1.0 here).
        ({"func_name": "validate_choice", "options": ["My answer is yes."]}, "e", 0.0),
        ({"func_name": "validate_choice", "options": ["My answer is yes.", "No."]}, "yes", 0.0),
        # "around" N capital words allows +-max(round(N/10), 1).
        (
            {"func_name": "validate_frequency_capital_words", "N": 3, "quantifier": "around"},
            "NASA ESA",
            1.0,
        ),
        (
            {"func_name": "validate_frequency_capital_words", "N": 20, "quantifier": "around"},
            " ".join(["USA"] * 18),
            1.0,
        ),
        (
            {"func_name": "validate_frequency_capital_words", "N": 20, "quantifier": "around"},
            " ".join(["USA"] * 17),
            0.0,
        ),
        # Sections are numbered headers, any case, at least N.
        (
            {"func_name": "validate_sections", "N": 2, "section_splitter": "Section"},
            "SECTION 1\nintro\nsection 2\nmore\nSection 3\nend",
            1.0,
        ),
        (
            {"func_name": "validate_sections", "N": 2, "section_splitter": "Section"},
            "Section one and Section two",
            0.0,
        ),
        # "!" ends a sentence.
        (
            {"func_name": "verify_sentence_constraint", "N": 3, "quantifier": "at least"},
            "Wow! Great. Fine?",
            1.0,
        ),
    ],
)
def test_tulu_labels_follow_current_open_instruct(label, response, score):
    assert score_ground_truth(response, json.dumps(label)) == score


def test_all_tulu_functions_are_mapped_to_ifeval_ids():
    assert len(TULU_FUNCTIONS) == 25
    assert set(TULU_FUNCTIONS) == set(TULU_TO_IFEVAL)


def test_parse_returns_typed_labels():
    assert isinstance(parse_ground_truth('{"func_name": "validate_title", "N": null}'), TuluLabel)
    assert parse_ground_truth('{"func_name": "validate_title", "N": null}').args == {}
    parsed = parse_ground_truth(LIST_LABEL)
    assert isinstance(parsed, InstructionLabel) and len(parsed.instruction_ids) == 3
    # doubly encoded, as some exports store it
    assert isinstance(parse_ground_truth(json.dumps(LIST_LABEL)), InstructionLabel)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("not json {", "unparseable"),
        ('{"func_name": "validate_everything"}', "unknown IF func_name"),
        ('[{"instruction_id": ["keywords:nope"], "kwargs": [{}]}]', "unknown instruction id"),
        (
            '[{"instruction_id": ["punctuation:no_comma", "startend:quotation"], "kwargs": [{}]}]',
            "equally long",
        ),
        ('{"something": 1}', "neither 'func_name' nor 'instruction_id'"),
        ("42", "must be an object"),
        ('{"func_name": "validate_word_constraint", "N": 5}', "bad arguments"),
        (
            '{"func_name": "validate_word_constraint", "N": 5, "quantifier": "roughly"}',
            "bad arguments",
        ),
    ],
)
def test_bad_labels_raise_caravan_errors(label, message):
    with pytest.raises(CaravanError, match=message):
        score_ground_truth("some response", label)


def test_unknown_scoring_raises():
    with pytest.raises(CaravanError, match="scoring"):
        score_ground_truth("x", LIST_LABEL, scoring="mean")


def test_empty_response_scores_zero():
    assert score_ground_truth("", '{"func_name": "validate_lowercase"}') == 0.0
