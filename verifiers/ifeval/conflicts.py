"""Which instruction ids cannot be asked for together.

Facts from the IFEval generator's conflict table and open-instruct's extension of it,
plus pairs we add because one constraint makes the other impossible or meaningless
(marked below). The table is symmetric and every id conflicts with itself.
"""

from __future__ import annotations

from functools import lru_cache

from caravan.verifiers.ifeval.registry import ALL_IDS, IFEVAL_IDS

# Ids that take over the whole response (a copy, a fixed option, JSON): they combine
# with nothing, or only with the few ids listed as exceptions.
_EXCLUSIVE_EXCEPT: dict[str, set[str]] = {
    "detectable_format:constrained_response": set(),
    "copy:copy": set(),
    "new:copy_span_idx": set(),
    "copy:copying_simple": set(),
    "copy:copying_multiple": set(),
    "detectable_format:json_format": {"keywords:forbidden_words", "keywords:existence"},
    "combination:two_responses": {
        "keywords:forbidden_words",
        "keywords:existence",
        "language:response_language",
        "detectable_format:title",
        "punctuation:no_comma",
    },
    "combination:repeat_prompt": {
        "keywords:existence",
        "detectable_format:title",
        "punctuation:no_comma",
    },
}

_PAIRS: dict[str, set[str]] = {
    "language:response_language": {
        "detectable_format:multiple_sections",
        "keywords:existence",
        "keywords:frequency",
        "keywords:forbidden_words",
        "startend:end_checker",
        "change_case:english_capital",
        "change_case:english_lowercase",
    },
    "length_constraints:number_paragraphs": {
        "length_constraints:nth_paragraph_first_word",
        "length_constraints:number_sentences",
    },
    "detectable_format:multiple_sections": {"detectable_format:number_highlighted_sections"},
    "change_case:capital_word_frequency": {
        "change_case:english_lowercase",
        "change_case:english_capital",
    },
    "change_case:english_lowercase": {"change_case:english_capital"},
    "startend:quotation": {"detectable_format:title"},
    "paragraphs:paragraphs": {"paragraphs:paragraphs2"},
    "first_word:first_word_sent": {"first_word:first_word_answer"},
    "count:counting_composition": {
        "count:count_unique",
        "count:count_increment_word",
        "paragraphs:paragraphs",
        "paragraphs:paragraphs2",
        "keywords:letter_frequency",
        "keywords:frequency",
    },
    # Ours: one constraint rules the other out.
    "punctuation:punctuation_dot": {
        "detectable_content:postscript",  # "P.S." needs dots
        "length_constraints:number_sentences",  # sentences end with dots
        "count:counting_composition",
        "first_word:first_word_sent",
        "last_word:last_word_sent",
        "keywords:keyword_specific_position",
    },
    "detectable_format:square_brackets": {
        "detectable_format:bigram_wrapping",
        "detectable_format:title",
        "startend:quotation",
        "startend:end_checker",
        "first_word:first_word_answer",
        "last_word:last_word_answer",
        "keywords:start_end",
        "detectable_format:number_bullet_lists",
        "detectable_format:number_highlighted_sections",
        "detectable_format:multiple_sections",
        "detectable_content:postscript",
        "length_constraints:nth_paragraph_first_word",
    },
    "detectable_format:bigram_wrapping": {
        "startend:quotation",
        "startend:end_checker",
        "first_word:first_word_answer",
        "last_word:last_word_answer",
        "keywords:start_end",
        "detectable_format:number_bullet_lists",
        "detectable_format:multiple_sections",
        "length_constraints:nth_paragraph_first_word",
    },
    "change_case:english_capital": {
        "count:lowercase_counting",
        "length_constraints:nth_paragraph_first_word",  # lowercased first word vs caps
    },
    "count:count_unique": {
        "keywords:frequency",
        "keywords:word_count_different_numbers",
        "count:count_increment_word",
        "copy:repeat_phrase",
        "keywords:start_end",
        "paragraphs:paragraphs",
        "length_constraints:number_paragraphs",
        "detectable_format:number_bullet_lists",
        "detectable_format:multiple_sections",
        "first_word:first_word_sent",
        "last_word:last_word_sent",
    },
    "first_word:first_word_answer": {"combination:repeat_prompt", "startend:quotation"},
    "keywords:start_end": {
        "startend:end_checker",
        "startend:quotation",
        "detectable_content:postscript",
    },
    "last_word:last_word_answer": {"startend:end_checker", "detectable_content:postscript"},
    "last_word:last_word_sent": {"startend:end_checker", "detectable_content:postscript"},
}


@lru_cache(maxsize=1)
def conflict_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {i: {i} for i in ALL_IDS}
    for iid, allowed in _EXCLUSIVE_EXCEPT.items():
        table[iid] |= set(ALL_IDS) - allowed
    for iid, others in _PAIRS.items():
        table[iid] |= others
    for iid in list(table):
        for other in table[iid]:
            table[other].add(iid)
    return {k: frozenset(v) for k, v in table.items()}


def conflicts(a: str, b: str) -> bool:
    return b in conflict_table()[a]


def compatible(ids: list[str]) -> bool:
    """True when no two ids (nor a repeated id) conflict."""
    table = conflict_table()
    return all(ids[j] not in table[ids[i]] for i in range(len(ids)) for j in range(i + 1, len(ids)))


__all__ = ["conflict_table", "conflicts", "compatible", "IFEVAL_IDS"]
