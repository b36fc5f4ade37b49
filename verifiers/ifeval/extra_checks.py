"""The 29 training-only constraints open-instruct / IFBench add to IFEval's 25.

Semantics follow the checks open-instruct uses as RLVR rewards (its IFEvalG module), so
rewards computed here match labels produced for that code. Where the reference is lax
(e.g. a one-letter word counts as a palindrome) we keep its behaviour and say so.
"""

from __future__ import annotations

import re
from typing import Any

from caravan.verifiers.ifeval import text as tx
from caravan.verifiers.ifeval.ifeval_checks import (
    _letter,
    _none,
    _prep_letter,
    count_divided_paragraphs,
)
from caravan.verifiers.ifeval.spec import (
    ConstraintSpec,
    Kwargs,
    KwargsError,
    as_int,
    as_relation,
    as_str,
    compare,
    pattern,
)

_NON_WORD = re.compile(r"[^\w\s]")
_LOWER_WORD = re.compile(r"\b[a-z]+\b")
_ASCII_LETTER = re.compile(r"[a-zA-Z]")


def _prompt_kw(kw, prompt) -> str:
    given = kw.get("prompt_to_repeat") or prompt
    if not isinstance(given, str) or not given:
        raise KwargsError("missing kwarg 'prompt_to_repeat' (and no prompt given)")
    return given


def _same_text(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


# --- copying --------------------------------------------------------------------------


def _prep_repeat_phrase(kw, prompt):
    phrase = as_str(kw, "phrase")
    if len(phrase.split()) < 2:
        raise KwargsError("kwarg 'phrase' needs at least two words")
    return {"phrase": phrase, "small_n": as_int(kw, "small_n", minimum=1)}


def _repeat_phrase(value: str, kw: Kwargs) -> bool:
    """`small_n` copies from the phrase's first to last word, each the same length as the
    phrase and differing in at most one word (the reference requires the last copy to
    differ in exactly one)."""
    ref = kw["phrase"].split()
    try:
        rx = re.compile(f"{ref[0]} .*? {ref[-1]}")
    except re.error:
        rx = re.compile(f"{re.escape(ref[0])} .*? {re.escape(ref[-1])}")
    found = rx.findall(value)
    if len(found) != kw["small_n"]:
        return False
    differences = 0
    for copy in found:
        words = copy.split()
        if len(words) != len(ref):
            return False
        differences = sum(1 for a, b in zip(words, ref, strict=True) if a != b)
        if differences > 1:
            return False
    return differences == 1


def _prep_copy(kw, prompt):
    return {"prompt_to_repeat": _prompt_kw(kw, prompt)}


def _copy(value: str, kw: Kwargs) -> bool:
    return _same_text(value, kw["prompt_to_repeat"])


def _prep_span(kw, prompt):
    source = _prompt_kw(kw, prompt)
    start, end = as_int(kw, "n_start"), as_int(kw, "n_end")
    if end <= start:
        raise KwargsError(f"kwarg 'n_end' ({end}) must be greater than 'n_start' ({start})")
    return {"prompt_to_repeat": source, "n_start": start, "n_end": end}


def _copy_span(value: str, kw: Kwargs) -> bool:
    # The reference slices [n_start:n_end], i.e. the end index itself is not included.
    return _same_text(value, kw["prompt_to_repeat"][kw["n_start"] : kw["n_end"]])


def _prep_copy_multi(kw, prompt):
    return {"prompt_to_repeat": _prompt_kw(kw, prompt), "N": as_int(kw, "N", minimum=1)}


def _copy_multi(value: str, kw: Kwargs) -> bool:
    copies = value.split("******")
    return len(copies) == kw["N"] and all(_same_text(c, kw["prompt_to_repeat"]) for c in copies)


# --- format ---------------------------------------------------------------------------


def _sentence_hyphens(value: str, kw: Kwargs) -> bool:
    """Sentences joined by '-' with no spaces: each hyphen-separated piece must equal the
    sentence the splitter finds once hyphens are read as spaces."""
    expected = tx.rule_sentences(value.replace("-", " "))
    pieces = value.split("-")
    return all(p.strip() == p and p == e for p, e in zip(pieces, expected, strict=False))


def _square_brackets(value: str, kw: Kwargs) -> bool:
    return all(w.startswith("[") and w.endswith("]") for w in value.split())


def _bigram_wrapping(value: str, kw: Kwargs) -> bool:
    words = value.split()
    for i in range(0, len(words) - 1, 2):
        if not (words[i].startswith("<<") and words[i + 1].endswith(">>")):
            return False
    return True


def _paragraphs_stars(value: str, kw: Kwargs) -> bool:
    return count_divided_paragraphs(value) == 2


def _paragraphs_blank_lines(value: str, kw: Kwargs) -> bool:
    parts = value.split("\n\n")
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                count -= 1
            else:
                return False
    return count == 2


# --- keywords -------------------------------------------------------------------------


def _no_adjacent_consecutive(value: str, kw: Kwargs) -> bool:
    words = value.split()
    for a, b in zip(words, words[1:], strict=False):
        first, second = a[0].lower(), b[0].lower()
        if len(first) != 1 or len(second) != 1:
            return False
        if ord(second) - ord(first) == 1:
            return False
    return True


def _prep_keyword(kw, prompt):
    return {"keyword": as_str(kw, "keyword")}


def _word_once(value: str, kw: Kwargs) -> bool:
    return len(pattern(kw["keyword"]).findall(value)) == 1


def _prep_keyword_count(kw, prompt):
    return {
        "keyword": as_str(kw, "keyword"),
        "frequency": as_int(kw, "frequency"),
        "relation": as_relation(kw),
    }


def _keyword_count(value: str, kw: Kwargs) -> bool:
    return compare(len(pattern(kw["keyword"]).findall(value)), kw["relation"], kw["frequency"])


def _exclude_word_harder(value: str, kw: Kwargs) -> bool:
    # Case-sensitive and only as a space-delimited word, as in the reference.
    return f" {kw['keyword']} " not in value


def _palindrome(value: str, kw: Kwargs) -> bool:
    return any(w == w[::-1] for w in value.split())


def _prep_position(kw, prompt):
    return {
        "keyword": as_str(kw, "keyword"),
        "n": as_int(kw, "n", minimum=1),
        "m": as_int(kw, "m", minimum=1),
    }


def _keyword_position(value: str, kw: Kwargs) -> bool:
    sentences = tx.rule_sentences(value)
    if len(sentences) < kw["n"]:
        return False
    words = tx.word_tokens(sentences[kw["n"] - 1])
    return len(words) >= kw["m"] and words[kw["m"] - 1] == kw["keyword"]


def _start_end(value: str, kw: Kwargs) -> bool:
    words = tx.word_tokens(value)
    return len(words) >= 2 and words[0].lower() == words[-1].lower()


# --- first and last words -------------------------------------------------------------


def _prep_first(kw, prompt):
    return {"first_word": as_str(kw, "first_word")}


def _first_word_sent(value: str, kw: Kwargs) -> bool:
    want = kw["first_word"].lower()
    for sentence in tx.rule_sentences(value):
        if not sentence.strip() or sentence.split()[0].strip().lower() != want:
            return False
    return True


def _first_word_answer(value: str, kw: Kwargs) -> bool:
    words = value.split()
    return bool(words) and words[0].strip().lower() == kw["first_word"].lower()


def _prep_last(kw, prompt):
    return {"last_word": as_str(kw, "last_word")}


def _bare(word: str) -> str:
    return _NON_WORD.sub("", word.strip()).lower()


def _last_word_sent(value: str, kw: Kwargs) -> bool:
    want = kw["last_word"].lower()
    for sentence in tx.rule_sentences(value):
        if not sentence.strip() or _bare(sentence.split()[-1]) != want:
            return False
    return True


def _last_word_answer(value: str, kw: Kwargs) -> bool:
    words = value.split()
    return bool(words) and _bare(words[-1]) == kw["last_word"].lower()


# --- punctuation and counting ---------------------------------------------------------


def _no_dot(value: str, kw: Kwargs) -> bool:
    return "." not in value


def _no_exclamation(value: str, kw: Kwargs) -> bool:
    return "!" not in value


def _prep_n(kw, prompt):
    return {"N": as_int(kw, "N")}


def _lowercase_counting(value: str, kw: Kwargs) -> bool:
    # The reference counts all all-lowercase words together against N.
    return len(_LOWER_WORD.findall(value)) <= kw["N"]


def _prep_letter_counting(kw, prompt):
    return {"N": as_int(kw, "N"), "relation": as_relation(kw)}


def _letter_counting(value: str, kw: Kwargs) -> bool:
    return compare(len(_ASCII_LETTER.findall(value)), kw["relation"], kw["N"])


def _prep_composition(kw, prompt):
    return {"n_sent": as_int(kw, "n_sent", minimum=1), "n_words": as_int(kw, "n_words", minimum=1)}


def _counting_composition(value: str, kw: Kwargs) -> bool:
    """Three ``***``-divided paragraphs of exactly n_sent sentences of n_words tokens."""
    parts = re.split(r"\s?\*\*\*\s?", value)
    count = len(parts)
    for i, part in enumerate(parts):
        if not part.strip():
            if i in (0, len(parts) - 1):
                count -= 1
            else:
                return False
        sentences = tx.rule_sentences(part)
        if len(sentences) != kw["n_sent"]:
            return False
        if any(len(tx.word_tokens(s)) != kw["n_words"] for s in sentences):
            return False
    return count == 3


def _count_unique(value: str, kw: Kwargs) -> bool:
    # Tokens include punctuation, so a second comma is a repeat too (reference behaviour).
    words = tx.word_tokens(value)
    return len(words) == len(set(words))


def _prep_increment(kw, prompt):
    return {"keyword1": as_str(kw, "keyword1"), "keyword2": as_str(kw, "keyword2")}


def _count_increment(value: str, kw: Kwargs) -> bool:
    return (
        len(pattern(kw["keyword1"]).findall(value)) == 1
        and len(pattern(kw["keyword2"]).findall(value)) == 2
    )


def _spec(iid: str, prepare: Any, check: Any, needs_prompt: bool = False) -> ConstraintSpec:
    return ConstraintSpec(iid, prepare, check, "extra", needs_prompt)


EXTRA_SPECS: dict[str, ConstraintSpec] = {
    s.instruction_id: s
    for s in (
        _spec("copy:repeat_phrase", _prep_repeat_phrase, _repeat_phrase),
        _spec("copy:copy", _prep_copy, _copy, needs_prompt=True),
        _spec("new:copy_span_idx", _prep_span, _copy_span, needs_prompt=True),
        _spec("detectable_format:sentence_hyphens", _none, _sentence_hyphens),
        _spec("keywords:no_adjacent_consecutive", _none, _no_adjacent_consecutive),
        _spec("detectable_format:square_brackets", _none, _square_brackets),
        _spec("keywords:word_once", _prep_keyword, _word_once),
        _spec("keywords:word_count_different_numbers", _prep_keyword_count, _keyword_count),
        _spec("keywords:exclude_word_harder", _prep_keyword, _exclude_word_harder),
        _spec("paragraphs:paragraphs", _none, _paragraphs_stars),
        _spec("paragraphs:paragraphs2", _none, _paragraphs_blank_lines),
        _spec("first_word:first_word_sent", _prep_first, _first_word_sent),
        _spec("first_word:first_word_answer", _prep_first, _first_word_answer),
        _spec("last_word:last_word_sent", _prep_last, _last_word_sent),
        _spec("last_word:last_word_answer", _prep_last, _last_word_answer),
        _spec("detectable_format:bigram_wrapping", _none, _bigram_wrapping),
        _spec("copy:copying_simple", _prep_copy, _copy, needs_prompt=True),
        _spec("copy:copying_multiple", _prep_copy_multi, _copy_multi, needs_prompt=True),
        _spec("punctuation:punctuation_dot", _none, _no_dot),
        _spec("punctuation:punctuation_exclamation", _none, _no_exclamation),
        _spec("count:lowercase_counting", _prep_n, _lowercase_counting),
        _spec("letters:letter_counting", _prep_letter_counting, _letter_counting),
        _spec("letters:letter_counting2", _prep_letter, _letter),
        _spec("count:counting_composition", _prep_composition, _counting_composition),
        _spec("count:count_unique", _none, _count_unique),
        _spec("count:count_increment_word", _prep_increment, _count_increment),
        _spec("keywords:palindrome", _none, _palindrome),
        _spec("keywords:keyword_specific_position", _prep_position, _keyword_position),
        _spec("keywords:start_end", _none, _start_end),
    )
}
