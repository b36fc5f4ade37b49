"""Tülu 3 RLVR label functions: ``{"func_name": ..., <args>}`` ground truths.

The Tülu 3 IF data (allenai/RLVR-IFeval, RLVR-GSM-MATH-IF-Mixed-Constraints) labels
each prompt with one of 25 simpler checks whose arguments differ from IFEval's kwargs
(`N`, `quantifier` with "at least" / "at most" / "around"). These are re-implemented
from the behaviour of open-instruct's current checks so rewards match its training. Where
open-instruct changed a check after Tülu 3 because the old one could be gamed or was too
strict, the current behaviour is used:

- `validate_choice`: one of the options must appear in the response (Tülu 3 asked whether
  the response appeared in an option, so the reply "e" passed against "My answer is yes.").
- `validate_frequency_capital_words` with "around": +-max(round(N/10), 1), like word counts.
- `validate_sections`: at least N numbered section headers ("SECTION 1", "Section 2",
  any case), not a split on the bare splitter.
- `verify_sentence_constraint`: "!" ends a sentence too.

An unknown quantifier is a label error, never a silent fail or pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from caravan.verifiers.ifeval import scan
from caravan.verifiers.ifeval.language import is_language

_WORD = re.compile(r"\b\w+\b")
_SENTENCE_GAP = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|!)\s")
_CAPS_WORD = re.compile(r"\b[A-Z]+\b")


def _quantified(count: int, n: int, quantifier: str, around: int) -> bool:
    if quantifier == "at least":
        return count >= n
    if quantifier == "at most":
        return count <= n
    if quantifier == "around":
        return abs(count - n) <= around
    raise ValueError(f"quantifier must be 'at least', 'at most' or 'around', got {quantifier!r}")


def _around(n: int) -> int:
    """The "around" tolerance open-instruct uses for counts: 10% of N, at least 1."""
    return max(round(n * 0.1), 1)


def verify_keywords(text: str, keyword_list: list[str]) -> bool:
    low = text.lower()
    return all(k.lower() in low for k in keyword_list)


def verify_keyword_frequency(text: str, word: str, N: int) -> bool:
    target = word.lower()
    return sum(1 for w in _WORD.findall(text.lower()) if w == target) == N


def validate_forbidden_words(text: str, forbidden_words: list[str]) -> bool:
    low = text.lower()
    return not any(w.lower() in low for w in forbidden_words)


def verify_letter_frequency(text: str, letter: str, N: int) -> bool:
    if len(letter) != 1:
        raise ValueError("letter must be a single character")
    return text.count(letter) == N  # case-sensitive


def validate_response_language(text: str, language: str) -> bool:
    return is_language(text, language)


def verify_paragraph_count(text: str, N: int) -> bool:
    tidy = "\n".join(line.strip() for line in text.splitlines()).strip()
    parts = tidy.split("* * *")
    return all(p.strip() for p in parts) and len(parts) == N


def validate_word_constraint(text: str, N: int, quantifier: str) -> bool:
    return _quantified(len(text.strip().split()), N, quantifier, _around(N))


def verify_sentence_constraint(text: str, N: int, quantifier: str) -> bool:
    return _quantified(len(_SENTENCE_GAP.split(text)), N, quantifier, 1)


def validate_paragraphs(text: str, N: int, first_word: str, i: int) -> bool:
    parts = text.split("\n\n")
    return len(parts) == N and 1 <= i <= N and parts[i - 1].strip().startswith(first_word)


def verify_postscript(text: str, postscript_marker: str) -> bool:
    at = text.find(postscript_marker)
    return at >= 0 and len(text[at:].strip()) > len(postscript_marker)


def validate_placeholders(text: str, N: int) -> bool:
    return scan.count_bracket_pairs(text) >= N  # `\[(.*?)\]` matches, linear time


def verify_bullet_points(text: str, N: int) -> bool:
    return sum(1 for line in text.split("\n") if line.strip().startswith(("*", "-"))) == N


def validate_title(text: str) -> bool:
    return scan.has_bracketed(text, "<<", ">>")  # `<<(.*?)>>` found, linear time


def validate_choice(text: str, options: list[str]) -> bool:
    # An option must be in the response; the reverse test rewarded fragments like "e".
    return any(str(option) in text for option in options)


def validate_highlighted_sections(text: str, N: int) -> bool:
    return scan.count_bracket_pairs(text, "*", "*") >= N  # `\*(.*?)\*` matches


def validate_sections(text: str, N: int, section_splitter: str) -> bool:
    header = re.compile(r"\s?" + re.escape(section_splitter) + r"\s?\d+\s?", re.IGNORECASE)
    return len(header.findall(text)) >= N


def validate_json_format(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # too deeply nested for Python: not accepted
        return False
    return True


def validate_repeat_prompt(text: str, original_prompt: str) -> bool:
    return text.startswith(original_prompt)


def validate_two_responses(text: str) -> bool:
    if text.count("******") != 1:
        return False
    first, second = (p.strip() for p in text.split("******"))
    return first != second


def validate_uppercase(text: str) -> bool:
    return text == text.upper()


def validate_lowercase(text: str) -> bool:
    return text == text.lower()


def validate_frequency_capital_words(text: str, N: int, quantifier: str) -> bool:
    return _quantified(len(_CAPS_WORD.findall(text)), N, quantifier, _around(N))


def validate_end(text: str, end_phrase: str) -> bool:
    return text.endswith(end_phrase)


def validate_quotation(text: str) -> bool:
    return text.startswith('"') and text.endswith('"')


def validate_no_commas(text: str) -> bool:
    return "," not in text


TULU_FUNCTIONS: dict[str, Callable[..., bool]] = {
    f.__name__: f
    for f in (
        verify_keywords,
        verify_keyword_frequency,
        validate_forbidden_words,
        verify_letter_frequency,
        validate_response_language,
        verify_paragraph_count,
        validate_word_constraint,
        verify_sentence_constraint,
        validate_paragraphs,
        verify_postscript,
        validate_placeholders,
        verify_bullet_points,
        validate_title,
        validate_choice,
        validate_highlighted_sections,
        validate_sections,
        validate_json_format,
        validate_repeat_prompt,
        validate_two_responses,
        validate_uppercase,
        validate_lowercase,
        validate_frequency_capital_words,
        validate_end,
        validate_quotation,
        validate_no_commas,
    )
}

# Which IFEval id each Tülu function stands for (for reporting and constraint_type).
TULU_TO_IFEVAL: dict[str, str] = {
    "verify_keywords": "keywords:existence",
    "verify_keyword_frequency": "keywords:frequency",
    "validate_forbidden_words": "keywords:forbidden_words",
    "verify_letter_frequency": "keywords:letter_frequency",
    "validate_response_language": "language:response_language",
    "verify_paragraph_count": "length_constraints:number_paragraphs",
    "validate_word_constraint": "length_constraints:number_words",
    "verify_sentence_constraint": "length_constraints:number_sentences",
    "validate_paragraphs": "length_constraints:nth_paragraph_first_word",
    "verify_postscript": "detectable_content:postscript",
    "validate_placeholders": "detectable_content:number_placeholders",
    "verify_bullet_points": "detectable_format:number_bullet_lists",
    "validate_title": "detectable_format:title",
    "validate_choice": "detectable_format:constrained_response",
    "validate_highlighted_sections": "detectable_format:number_highlighted_sections",
    "validate_sections": "detectable_format:multiple_sections",
    "validate_json_format": "detectable_format:json_format",
    "validate_repeat_prompt": "combination:repeat_prompt",
    "validate_two_responses": "combination:two_responses",
    "validate_uppercase": "change_case:english_capital",
    "validate_lowercase": "change_case:english_lowercase",
    "validate_frequency_capital_words": "change_case:capital_word_frequency",
    "validate_end": "startend:end_checker",
    "validate_quotation": "startend:quotation",
    "validate_no_commas": "punctuation:no_comma",
}


def call_tulu(func_name: str, response: str, args: dict[str, Any]) -> bool:
    """Run one Tülu function; TypeError/ValueError mean the label's args are wrong."""
    return bool(TULU_FUNCTIONS[func_name](response, **args))
