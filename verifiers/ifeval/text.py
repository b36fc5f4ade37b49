"""Offline text units the constraint checks count: sentences, words, tokens.

The official IFEval evaluator counts sentences with NLTK's Punkt model for English and
tokenises with ``nltk.word_tokenize``; both need the ``punkt_tab`` download, which we
never do at run time. We run NLTK's Punkt *algorithm* (library code, no data) with the
English model's small tables (abbreviations, sentence starters, collocations) written
out below, and NLTK's rule-based Treebank word tokenizer (no data). The model's large
per-word orthographic table is not carried; its effect is approximated for common
words, so a split after an abbreviation or initial followed by a capitalised word can
differ from the downloaded model in rare cases ("U.S. We ..."); capital-word counts
inherit such a difference only for a contraction right before the disputed period.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from caravan.verifiers.ifeval.nltk_import import import_nltk

if TYPE_CHECKING:  # the same classes, named statically for the type checker
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
else:
    NLTKWordTokenizer = import_nltk("nltk.tokenize.destructive").NLTKWordTokenizer
    _punkt_module = import_nltk("nltk.tokenize.punkt")
    PunktParameters = _punkt_module.PunktParameters
    PunktSentenceTokenizer = _punkt_module.PunktSentenceTokenizer


def _wordset(block: str) -> frozenset[str]:
    return frozenset(block.split())


# Punkt's English model, as far as it can be carried as plain facts: the abbreviations,
# sentence starters and collocations of NLTK's `punkt_tab/english` tables (trained on the
# Wall Street Journal), lowercased, without final periods.
_ABBREVIATIONS = _wordset(
    """
    ct m.j t a.c n.h ms p.a.m dr pa p.m u.k st dec u.s.a lt g.k adm p h.m ga tenn yr sen
    n.c j.j d.h s.g inc vs s.p.a a.t n feb sr jan s.a.y n.y col g.f c.o.m.b d ft va r.k
    e.f chg r.i a.g minn a.h k n.j m l.f f.j gen i.m.s s.a aug j.p okla m.d.c ltd oct s
    vt r.a j.c ariz w.w b.v ore h w.r e.h mrs cie corp w n.v a.d r.j ok e.m w.c ill nov
    u.s prof conn u.s.s.r mg f.g ph.d g calif messrs h.f wash tues sw bros u.n l wis mr
    sep d.c ave e.l co s.s reps c r.t h.c r wed a.s v fla jr r.h c.v m.b.a rep a.a e
    c.i.t l.a b.f j.b d.w j.k ala f w.va sept mich n.m j.r l.p s.c colo fri a.m g.d kan
    maj ky a.m.e n.d t.j cos nev
    """
)
_SENT_STARTERS = _wordset(
    """
    most he since so both these it nevertheless this indeed however instead under
    similarly some though while when in despite although nonetheless thus there if the
    nor separately moreover but they yet many according sales among meanwhile even i
    """
)
_COLLOCATIONS = frozenset(
    tuple(pair.split("+"))
    for pair in _wordset(
        """
    ##number##+international ##number##+rj ##number##+commodities ##number##+cooper
    b+stewart ##number##+genentech ##number##+wedgestone i+toussie ##number##+pepper
    j+fialka o+ludcke ##number##+insider ##number##+aes i+magnin ##number##+credit
    ##number##+corrections ##number##+financing ##number##+henley ##number##+business
    ##number##+pay-fone b+wigton b+edelman b+levine ##number##+leisure b+smith j+walter
    ##number##+pegasus ##number##+dividend j+aron ##number##+review ##number##+abreast
    ##number##+who ##number##+letters ##number##+colgate ##number##+cbot ##number##+notable
    ##number##+zimmer
    """
    )
)
# The model's per-word orthographic statistics (tens of thousands of entries) are not
# carried. Instead we mark everyday words as seen in lower case (and capitalised), which
# is what decides the one case that matters for ordinary text: an initial followed by a
# capitalised common word ("Plan A. This ...") ends a sentence, before a name it does not.
_COMMON_WORDS = _wordset(
    """
    a an the this that these those there here it its i we you he she they me us him them
    my our your his her their what which who whom whose when where why how if so but and
    or nor yet then now also first next finally however therefore thus still also only
    just not no yes all any each every some many most more much few both either neither
    one two three four five six seven eight nine ten after before during while since
    because although though unless until once as at by for from in into of on to with
    without about above below over under between through again always never often
    sometimes today tomorrow yesterday please thanks thank overall instead meanwhile
    step option plan part section chapter note example answer question result results
    let lets make use try consider remember keep add start stop go see look take give
    is are was were be been will would can could should may might must do does did have
    has had
    """
)
_ORTHO_COMMON = 2 | 4 | 32  # seen capitalised at and inside sentences, and lowercase inside

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
    return _MemoPunkt(_parameters())


def plain_punkt() -> PunktSentenceTokenizer:
    """The unmodified NLTK tokenizer with our parameters (for tests)."""
    return PunktSentenceTokenizer(_parameters())


def _parameters() -> PunktParameters:
    params = PunktParameters()
    params.abbrev_types = set(_ABBREVIATIONS)
    params.sent_starters = set(_SENT_STARTERS)
    params.collocations = set(_COLLOCATIONS)
    for word in _COMMON_WORDS:
        params.ortho_context[word] = _ORTHO_COMMON
    return params


@lru_cache(maxsize=1)
def _treebank() -> NLTKWordTokenizer:
    return NLTKWordTokenizer()


@lru_cache(maxsize=256)  # reuse across loose variants and ids of one response
def punkt_sentences(text: str) -> tuple[str, ...]:
    """Sentences as Punkt splits them (used by the sentence-count constraint)."""
    return tuple(_punkt().tokenize(text))


def count_sentences(text: str) -> int:
    return len(punkt_sentences(text))


@lru_cache(maxsize=256)  # reuse across loose variants and ids of one response
def word_tokens(text: str) -> tuple[str, ...]:
    """Treebank tokens per Punkt sentence, as ``nltk.word_tokenize`` produces them."""
    return tuple(t for sent in punkt_sentences(text) for t in _sentence_tokens(sent))


@lru_cache(maxsize=65_536)
def _sentence_tokens(sentence: str) -> tuple[str, ...]:
    # Loose mode's 8 variants of a response share most sentences: tokenise each once.
    return tuple(_treebank().tokenize(sentence))


def count_capital_tokens(text: str) -> int:
    """How many ``nltk.word_tokenize`` tokens are all capitals (``str.isupper``).

    Tokens come per sentence, as in NLTK: where a sentence ends matters, since a
    contraction before a sentence-final period is split only there ("DON'T." is one
    token mid-text, but "DO", "N'T", "." at the end of a sentence).
    """
    if not any(map(str.isupper, text)):
        return 0  # no capital letter, no capital token
    return sum(1 for s in punkt_sentences(text) for t in _sentence_tokens(s) if t.isupper())


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
