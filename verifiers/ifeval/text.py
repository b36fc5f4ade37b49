"""Offline text units the constraint checks count: sentences, words, tokens.

The official IFEval evaluator counts sentences with NLTK's Punkt model for English and
tokenises with ``nltk.word_tokenize``; both need the ``punkt_tab`` download, which we
never do at run time. We run NLTK's Punkt *algorithm* (library code, no data) with our
own table of English abbreviations, and NLTK's rule-based Treebank word tokenizer (no
data) over our sentences. On ordinary prose this agrees with the downloaded model;
it can differ on rare abbreviations the trained model knows and ours does not.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.tokenize.destructive import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

# Abbreviations that do not end a sentence, written lowercase without the final period.
# Chosen by us: titles, company suffixes, Latin shorthands, months, common units.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "jr",
        "sr",
        "st",
        "messrs",
        "mme",
        "mlle",
        "rev",
        "hon",
        "gen",
        "col",
        "capt",
        "lt",
        "sgt",
        "cpl",
        "maj",
        "cmdr",
        "adm",
        "gov",
        "sen",
        "rep",
        "pres",
        "supt",
        "insp",
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "bros",
        "assn",
        "dept",
        "univ",
        "e.g",
        "i.e",
        "cf",
        "viz",
        "vs",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
        "u.n",
        "u.s.a",
        "d.c",
        "n.y",
        "l.a",
        "b.c",
        "a.d",
        "ph.d",
        "m.d",
        "b.a",
        "m.a",
        "b.s",
        "m.s",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "approx",
        "ave",
        "blvd",
        "rd",
        "mt",
        "ft",
        "sq",
        "fig",
        "figs",
        "vol",
        "vols",
        "pp",
    ]
)

_WORD_RE = re.compile(r"\w+")


_WHITESPACE = " \t\n\r\x0b\x0c"  # string.whitespace, as Punkt scans for it


class _MemoPunkt(PunktSentenceTokenizer):
    """NLTK's Punkt with two hot spots made cheaper, same decisions.

    Whether a short context around a candidate '.', '?' or '!' holds a sentence break
    depends only on that context string and the fixed parameters, so it is memoised;
    the last-whitespace scan uses `str.rfind` instead of a character loop.
    """

    def __init__(self, params: PunktParameters) -> None:
        super().__init__(params)
        self._memo: dict[str, bool] = {}

    def _get_last_whitespace_index(self, text: str) -> int:
        return max(0, max(text.rfind(c) for c in _WHITESPACE))

    def text_contains_sentbreak(self, text: str) -> bool:
        found = self._memo.get(text)
        if found is None:
            if len(self._memo) > 200_000:
                self._memo.clear()
            found = self._memo[text] = super().text_contains_sentbreak(text)
        return found


@lru_cache(maxsize=1)
def _punkt() -> PunktSentenceTokenizer:
    params = PunktParameters()
    params.abbrev_types = set(_ABBREVIATIONS)
    return _MemoPunkt(params)


def plain_punkt() -> PunktSentenceTokenizer:
    """The unmodified NLTK tokenizer with our parameters (for tests)."""
    params = PunktParameters()
    params.abbrev_types = set(_ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


@lru_cache(maxsize=1)
def _treebank() -> NLTKWordTokenizer:
    return NLTKWordTokenizer()


@lru_cache(maxsize=4096)
def punkt_sentences(text: str) -> tuple[str, ...]:
    """Sentences as Punkt splits them (used by the sentence-count constraint)."""
    return tuple(_punkt().tokenize(text))


def count_sentences(text: str) -> int:
    return len(punkt_sentences(text))


@lru_cache(maxsize=4096)
def word_tokens(text: str) -> tuple[str, ...]:
    """Treebank tokens per Punkt sentence, as ``nltk.word_tokenize`` produces them."""
    tok = _treebank()
    return tuple(t for sent in punkt_sentences(text) for t in tok.tokenize(sent))


def count_capital_tokens(text: str) -> int:
    """How many ``nltk.word_tokenize`` tokens are all capitals (``str.isupper``).

    Tokenising the whole text at once gives the same count as tokenising sentence by
    sentence: a sentence end only splits a trailing '.' off its word, and '.' is not
    cased (tested). A text without capital letters has no such tokens.
    """
    if not any(map(str.isupper, text)):
        return 0
    return sum(1 for t in _treebank().tokenize(text) if t.isupper())


def count_words(text: str) -> int:
    """Runs of word characters (the reference counts ``\\w+`` matches)."""
    return len(_WORD_RE.findall(text))


# --- the rule-based splitter the reference uses for the training-only constraints ------

_LETTER = "([A-Za-z])"
_TITLE_DOT = re.compile(r"(Mr|St|Mrs|Ms|Dr)[.]")
_SITE_DOT = re.compile(r"[.](com|net|org|io|gov|edu|me)")
_DECIMAL = re.compile(r"([0-9])[.]([0-9])")
_DOT_RUN = re.compile(r"\.{2,}")
_STARTER = r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|However\s|That\s|This\s|Wherever)"
_ACRONYM_THEN_STARTER = re.compile(r"([A-Z][.][A-Z][.](?:[A-Z][.])?) " + _STARTER)
_LONE_INITIAL = re.compile(r"\s" + _LETTER + "[.] ")
_THREE_INITIALS = re.compile(_LETTER + "[.]" + _LETTER + "[.]" + _LETTER + "[.]")
_TWO_INITIALS = re.compile(_LETTER + "[.]" + _LETTER + "[.]")
_SUFFIX_THEN_STARTER = re.compile(" (Inc|Ltd|Jr|Sr|Co)[.] " + _STARTER)
_SUFFIX_DOT = re.compile(" (Inc|Ltd|Jr|Sr|Co)[.]")
_SPACE_INITIAL = re.compile(" " + _LETTER + "[.]")

_PRD, _STOP = "\x00", "\x01"  # private markers: "keep this dot", "sentence ends here"


def rule_sentences(text: str) -> list[str]:
    """Regex sentence splitter with the same rules as the reference's training checks.

    Dots that are not sentence ends (titles, web domains, decimals, initials, company
    suffixes, ellipses) are protected first; then every ``.?!`` ends a sentence.
    """
    t = " " + text + "  "
    t = t.replace("\n", " ")
    t = _TITLE_DOT.sub(lambda m: m.group(1) + _PRD, t)
    t = _SITE_DOT.sub(lambda m: _PRD + m.group(1), t)
    t = _DECIMAL.sub(lambda m: m.group(1) + _PRD + m.group(2), t)
    t = _DOT_RUN.sub(lambda m: _PRD * len(m.group(0)) + _STOP, t)
    if "Ph.D" in t:
        t = t.replace("Ph.D.", "Ph" + _PRD + "D" + _PRD)
    t = _LONE_INITIAL.sub(lambda m: " " + m.group(1) + _PRD + " ", t)
    t = _ACRONYM_THEN_STARTER.sub(lambda m: m.group(1) + _STOP + " " + m.group(2), t)
    t = _THREE_INITIALS.sub(lambda m: m.group(1) + _PRD + m.group(2) + _PRD + m.group(3) + _PRD, t)
    t = _TWO_INITIALS.sub(lambda m: m.group(1) + _PRD + m.group(2) + _PRD, t)
    t = _SUFFIX_THEN_STARTER.sub(lambda m: " " + m.group(1) + _STOP + " " + m.group(2), t)
    t = _SUFFIX_DOT.sub(lambda m: " " + m.group(1) + _PRD, t)
    t = _SPACE_INITIAL.sub(lambda m: " " + m.group(1) + _PRD, t)
    # A closing quote after the terminal mark moves inside, so the split keeps it.
    t = t.replace(".\u201d", "\u201d.").replace('."', '".').replace('!"', '"!').replace('?"', '"?')
    for mark in ".?!":
        t = t.replace(mark, mark + _STOP)
    t = t.replace(_PRD, ".")
    parts = [p.strip() for p in t.split(_STOP)]
    if parts and not parts[-1]:
        parts.pop()
    return parts
