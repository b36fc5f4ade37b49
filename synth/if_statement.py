"""Does a written IF prompt actually state its constraints? A check per instruction id.

A model asked to write a prompt "that states these requirements" often drops one or
changes a number. A row whose prompt does not state its ground truth teaches the policy to
satisfy rules it was never told, so each sampled constraint's parameters (numbers, keywords,
letters, languages, markers) must appear in the prompt text, along with a word that names
what is being counted. `missing_statements` lists what is missing, in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from caravan.verifiers.ifeval.language import LANGUAGE_NAMES

_NUMBER_WORDS = {
    0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
    8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen",
    14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen",
    19: "nineteen", 20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty",
    70: "seventy", 80: "eighty", 90: "ninety", 100: "one hundred", 200: "two hundred",
    300: "three hundred", 400: "four hundred",
}  # fmt: skip
_ORDINALS = {
    1: ("first", "1st"), 2: ("second", "2nd"), 3: ("third", "3rd"), 4: ("fourth", "4th"),
    5: ("fifth", "5th"), 6: ("sixth", "6th"), 7: ("seventh", "7th"), 8: ("eighth", "8th"),
}  # fmt: skip
_FEWER = r"(fewer|less|under|below|at most|no more|maximum|max|up to|shorter)"
_AT_LEAST = r"(at least|or more|minimum|no fewer|no less|more than|not fewer|not less)"

# A requirement: (what it means, in words; regex alternatives, any of which must match)
Requirement = tuple[str, list[str]]


def _word(text: str) -> str:
    """A regex matching `text` as a whole word/phrase, case-insensitive."""
    return r"(?<![\w])" + re.escape(text) + r"(?![\w])"


def _number(n: Any) -> Requirement:
    alts = [r"(?<![\d.])" + re.escape(str(n)) + r"(?![\d])"]
    if isinstance(n, int) and n in _NUMBER_WORDS:
        alts.append(_word(_NUMBER_WORDS[n]))
    if isinstance(n, int) and n == 1:
        alts.append(_word("a single"))
    return (f"the number {n}", alts)


def _nth(n: int) -> Requirement:
    alts = list(_number(n)[1])
    alts += [_word(o) for o in _ORDINALS.get(n, ())]
    return (f"position {n}", alts)


def _literal(text: str, what: str | None = None) -> Requirement:
    return (what or f'"{text}"', [_word(text)] if text[:1].isalnum() else [re.escape(text)])


def _noun(stem: str, what: str | None = None) -> Requirement:
    return (what or f"the word {stem!r}", [r"(?<![\w])" + stem])


def _relation(rel: str) -> Requirement:
    return (f"the relation {rel!r}", [_FEWER] if rel == "less than" else [_AT_LEAST])


def _letter(letter: str) -> Requirement:
    q = re.escape(letter)
    return (
        f"the letter {letter!r}",
        [rf"[\"'‘“`]{q}[\"'’”`]", rf"(?i:letter)\s+{q}(?![\w])", rf"(?<![\w]){q}['’]s(?![\w])"],
    )


_Plan = Callable[[dict[str, Any]], list[Requirement]]

_PLANS: dict[str, _Plan] = {
    "keywords:existence": lambda k: [_literal(w) for w in k["keywords"]],
    "keywords:frequency": lambda k: [
        _literal(k["keyword"]), _number(k["frequency"]), _relation(k["relation"]),
    ],
    "keywords:forbidden_words": lambda k: [_literal(w) for w in k["forbidden_words"]],
    "keywords:letter_frequency": lambda k: [
        _letter(k["letter"]), _number(k["let_frequency"]), _relation(k["let_relation"]),
    ],
    "language:response_language": lambda k: [
        _literal(LANGUAGE_NAMES.get(k["language"]) or k["language"])
    ],
    "length_constraints:number_sentences": lambda k: [
        _number(k["num_sentences"]), _noun("sentence"), _relation(k["relation"]),
    ],
    "length_constraints:number_paragraphs": lambda k: [
        _number(k["num_paragraphs"]), _noun("paragraph"), _literal("***", "the *** separator"),
    ],
    "length_constraints:number_words": lambda k: [
        _number(k["num_words"]), _noun("word"), _relation(k["relation"]),
    ],
    "length_constraints:nth_paragraph_first_word": lambda k: [
        _number(k["num_paragraphs"]), _noun("paragraph"), _nth(k["nth_paragraph"]),
        _literal(k["first_word"]),
    ],
    "detectable_content:number_placeholders": lambda k: [
        _number(k["num_placeholders"]), ("square-bracket placeholders", [r"\[", r"placeholder"]),
    ],
    "detectable_content:postscript": lambda k: [
        _literal(k["postscript_marker"], f"the marker {k['postscript_marker']}")
    ],
    "detectable_format:number_bullet_lists": lambda k: [
        _number(k["num_bullets"]), _noun("bullet"),
    ],
    "detectable_format:constrained_response": lambda k: [
        ('the fixed reply "My answer is ..."', [r"(?i:my answer is)"]),
    ],
    "detectable_format:number_highlighted_sections": lambda k: [
        _number(k["num_highlights"]), _noun("highlight"),
    ],
    "detectable_format:multiple_sections": lambda k: [
        _number(k["num_sections"]),
        (f"the heading word {k['section_spliter']!r} (same case)",
         [r"(?<![\w])" + re.escape(k["section_spliter"]) + r"(?![a-z])"]),
    ],
    "detectable_format:json_format": lambda k: [_literal("JSON")],
    "detectable_format:title": lambda k: [("a <<title>> in double angle brackets", [r"<<", r"(?i:angle bracket)"])],
    "combination:two_responses": lambda k: [
        ("two answers", [_word("two"), r"(?<!\d)2(?!\d)"]), ("the ****** separator", [r"\*{6}"]),
    ],
    "startend:end_checker": lambda k: [_literal(k["end_phrase"].rstrip("?.!"), f'the end phrase "{k["end_phrase"]}"')],
    "change_case:capital_word_frequency": lambda k: [
        _number(k["capital_frequency"]), _noun("capital"), _relation(k["capital_relation"]),
    ],
    "change_case:english_capital": lambda k: [
        ("capital letters", [r"(?i:capital)", r"(?i:upper ?case)", r"(?i:all caps)"]),
    ],
    "change_case:english_lowercase": lambda k: [("lowercase", [r"(?i:lower ?case)", r"(?i:lower-case)"])],
    "punctuation:no_comma": lambda k: [_noun("comma")],
    "startend:quotation": lambda k: [("double quotation marks", [r"(?i:quot)", r'"'])],
    "copy:repeat_phrase": lambda k: [_literal(k["phrase"]), _number(k["small_n"])],
    "detectable_format:sentence_hyphens": lambda k: [_noun("hyphen")],
    "keywords:no_adjacent_consecutive": lambda k: [("consecutive letters", [r"(?i:consecutive)", r"(?i:alphabet)"])],
    "detectable_format:square_brackets": lambda k: [("square brackets", [r"(?i:square bracket)", r"\[\w+\]"])],
    "keywords:word_once": lambda k: [_literal(k["keyword"]), ("exactly once", [r"(?i:once)", _word("one time")])],
    "keywords:word_count_different_numbers": lambda k: [
        _literal(k["keyword"]), _number(k["frequency"]), _relation(k["relation"]),
    ],
    "keywords:exclude_word_harder": lambda k: [_literal(k["keyword"])],
    "paragraphs:paragraphs": lambda k: [_noun("paragraph"), _literal("***", "the *** separator")],
    "paragraphs:paragraphs2": lambda k: [_noun("paragraph"), ("a blank line", [r"(?i:blank|empty) line", r"(?i:line break)"])],
    "first_word:first_word_sent": lambda k: [_literal(k["first_word"]), _noun("sentence")],
    "first_word:first_word_answer": lambda k: [_literal(k["first_word"])],
    "last_word:last_word_sent": lambda k: [_literal(k["last_word"]), _noun("sentence")],
    "last_word:last_word_answer": lambda k: [_literal(k["last_word"])],
    "detectable_format:bigram_wrapping": lambda k: [("<<pairs>>", [r"<<", r"(?i:angle bracket)"])],
    "punctuation:punctuation_dot": lambda k: [("no full stops", [r"(?i:period)", r"(?i:full stop)", r"(?i:dot)", r"'\.'"])],
    "punctuation:punctuation_exclamation": lambda k: [_noun("exclamation")],
    "count:lowercase_counting": lambda k: [_number(k["N"]), ("lowercase", [r"(?i:lower ?case)"])],
    "letters:letter_counting": lambda k: [_number(k["N"]), _noun("letter"), _relation(k["relation"])],
    "letters:letter_counting2": lambda k: [
        _letter(k["letter"]), _number(k["let_frequency"]), _relation(k["let_relation"]),
    ],
    "count:counting_composition": lambda k: [
        _number(k["n_sent"]), _number(k["n_words"]), _noun("sentence"),
    ],
    "count:count_unique": lambda k: [("no repeated words", [r"(?i:repeat)", r"(?i:unique)", r"(?i:only once)"])],
    "count:count_increment_word": lambda k: [
        _literal(k["keyword1"]), _literal(k["keyword2"]), ("once and twice", [r"(?i:twice|two times|2 times)"]),
    ],
    "keywords:palindrome": lambda k: [_noun("palindrom", "a palindrome"), ],
    "keywords:keyword_specific_position": lambda k: [
        _literal(k["keyword"]), _nth(k["n"]), _nth(k["m"]),
    ],
    "keywords:start_end": lambda k: [("same first and last word", [r"(?i:same word)", r"(?i:begin and end)", r"(?i:start and end)"])],
}  # fmt: skip

# Ids whose plans name the palindrome loosely: also accept the description wording.
_PLANS["keywords:palindrome"] = lambda k: [
    ("a palindrome", [r"(?i:palindrom)", r"(?i:reads the same backwards)", r"(?i:same backward)"])
]


def requirements(instruction_id: str, kwargs: dict[str, Any]) -> list[Requirement]:
    """What a prompt must contain to state this constraint; unknown ids need their kwargs'
    plain values (strings and numbers) to appear."""
    plan = _PLANS.get(instruction_id)
    if plan is not None:
        return plan(kwargs)
    out: list[Requirement] = []
    for key, value in kwargs.items():
        if key == "prompt_to_repeat" or value is None:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            out.append(_number(value))
        elif isinstance(value, str):
            out.append(_literal(value))
    return out


def _matches(text: str, alternatives: Sequence[str]) -> bool:
    return any(
        re.search(alt, text, flags=0 if alt.startswith("(?i") else re.IGNORECASE)
        if not _case_sensitive(alt)
        else re.search(alt, text)
        for alt in alternatives
    )


def _case_sensitive(alt: str) -> bool:
    # Heading words must keep their case: "SECTION" and "Section" are different checks.
    return alt.startswith(r"(?<![\w])") and alt.endswith(r"(?![a-z])")


def missing_statements(
    prompt: str, instruction_ids: Sequence[str], kwargs_list: Sequence[dict[str, Any]]
) -> list[str]:
    """One line per constraint parameter the prompt fails to state (empty: all stated)."""
    problems: list[str] = []
    for iid, kwargs in zip(instruction_ids, kwargs_list, strict=True):
        for what, alternatives in requirements(iid, dict(kwargs or {})):
            if not _matches(prompt, alternatives):
                problems.append(f"{iid}: prompt does not state {what}")
    return problems
