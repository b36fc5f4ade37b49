"""Seeded, cached language detection (langdetect ships its profiles in the wheel).

`detect_language` returns exactly what ``langdetect.detect`` returns with
``DetectorFactory.seed = 0``, but faster: the per-character n-gram extraction runs on
a ``str.translate``-normalised text, and the per-sample update of 55 language
probabilities is one numpy operation instead of a Python loop. The random draws, their
order and the floating-point operations are langdetect's, so results are identical
(tested against langdetect itself).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from langdetect import DetectorFactory, LangDetectException, detector_factory
from langdetect.lang_detect_exception import ErrorCode
from langdetect.utils.ngram import NGram

# langdetect samples n-grams at random; a fixed seed makes every call reproducible.
DetectorFactory.seed = 0

# The 30 languages the IFEval generator draws from (ISO 639-1 codes as langdetect uses).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "ar": "Arabic",
    "hi": "Hindi",
    "fr": "French",
    "ru": "Russian",
    "de": "German",
    "ja": "Japanese",
    "it": "Italian",
    "bn": "Bengali",
    "uk": "Ukrainian",
    "th": "Thai",
    "ur": "Urdu",
    "ta": "Tamil",
    "te": "Telugu",
    "bg": "Bulgarian",
    "ko": "Korean",
    "pl": "Polish",
    "he": "Hebrew",
    "fa": "Persian",
    "vi": "Vietnamese",
    "ne": "Nepali",
    "sw": "Swahili",
    "kn": "Kannada",
    "mr": "Marathi",
    "gu": "Gujarati",
    "pa": "Punjabi",
    "ml": "Malayalam",
    "fi": "Finnish",
}

_NORMALISED: dict[int, str] = {}
_SPACE_RUN = re.compile(" {2,}")
_WORD = re.compile("[^ ]+")


def _normalised(text: str) -> str:
    """langdetect's per-character normalisation, applied with str.translate."""
    missing = {c for c in set(text) if ord(c) not in _NORMALISED}
    if missing:
        if len(_NORMALISED) > 200_000:
            _NORMALISED.clear()
        _NORMALISED.update({ord(c): NGram.normalize(c) for c in missing})
    return text.translate(_NORMALISED)


_WORD_GRAMS: dict[str, tuple[str, ...]] = {}
_WORD_GRAMS_FOR: list[int] = [0]  # id of the profile map the memo was built for


def _word_grams(w: str, known: dict) -> tuple[str, ...]:
    """N-grams langdetect takes from one space-padded, space-free run (memoised)."""
    found = _WORD_GRAMS.get(w)
    if found is not None:
        return found
    out: list[str] = []
    prev_upper = False
    for p in range(1, len(w)):
        ch = w[p]
        upper = ch.isupper()
        if upper and prev_upper:
            continue  # inside a run of capitals
        prev_upper = upper
        if ch != " " and ch in known:
            out.append(ch)
        g = w[p - 1 : p + 1]
        if g in known:
            out.append(g)
        if p >= 2:
            g = w[p - 2 : p + 1]
            if g in known:
                out.append(g)
    if len(_WORD_GRAMS) > 500_000:
        _WORD_GRAMS.clear()
    found = _WORD_GRAMS[w] = tuple(out)
    return found


def _extract_ngrams(detector) -> list[str]:
    """Same n-grams, in the same order, as langdetect's Detector._extract_ngrams.

    langdetect slides a window of the last 1-3 characters over the normalised text,
    restarting it after every space, and skips positions inside runs of capitals. That
    is the same as walking each space-free run padded with the space before it (and
    the one after it, unless the text ends there), so runs can be memoised.
    """
    known = detector.word_lang_prob_map
    if _WORD_GRAMS_FOR[0] != id(known):
        _WORD_GRAMS.clear()
        _WORD_GRAMS_FOR[0] = id(known)
    out: list[str] = []
    text = _normalised(detector.text)
    end = len(text)
    for m in _WORD.finditer(text):
        out.extend(_word_grams(" " + m.group() + (" " if m.end() < end else ""), known))
    return out


def _append(detector, text: str) -> None:
    """langdetect's Detector.append: URLs/e-mails blanked, runs of spaces collapsed."""
    text = detector.URL_RE.sub(" ", text)
    text = detector.MAIL_RE.sub(" ", text)
    text = NGram.normalize_vi(text)
    detector.text += _SPACE_RUN.sub(" ", text[: detector.max_text_length])


_VECTORS: dict[str, np.ndarray] = {}


def _vector(known: dict, gram: str) -> np.ndarray:
    found = _VECTORS.get(gram)
    if found is None:
        found = _VECTORS[gram] = np.asarray(known[gram], dtype=np.float64)
    return found


def _language_probabilities(detector, ngrams: list[str]) -> list[float]:
    """langdetect's Detector._detect_block with the 55-language update vectorised.

    Same random draws in the same order; element-wise products and quotients are the
    same IEEE operations, and sums stay Python's left-to-right `sum` as in langdetect.
    """
    rnd = detector.random
    rnd.seed(detector.seed)
    known = detector.word_lang_prob_map
    count = len(detector.langlist)
    total = np.zeros(count)
    limit, threshold = detector.ITERATION_LIMIT, detector.CONV_THRESHOLD
    for _trial in range(detector.n_trial):
        prob = np.full(count, 1.0 / count)
        alpha = detector.alpha + rnd.gauss(0.0, 1.0) * detector.ALPHA_WIDTH
        weight = alpha / detector.BASE_FREQ
        i = 0
        while True:
            prob *= weight + _vector(known, rnd.choice(ngrams))
            if i % 5 == 0:
                prob /= sum(prob.tolist())
                if prob.max() > threshold or i >= limit:
                    break
            i += 1
        total += prob / detector.n_trial
    return total.tolist()


def _langdetect(text: str) -> str:
    """What ``langdetect.detect(text)`` returns, computed faster (see module docstring)."""
    detector_factory.init_factory()
    detector = detector_factory._factory.create()
    if detector.prior_map is not None or detector.verbose:  # not our setup: use langdetect
        detector.append(text)
        return detector.detect()
    _append(detector, text)
    detector.cleaning_text()
    ngrams = _extract_ngrams(detector)
    if not ngrams:
        raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
    detector.langprob = _language_probabilities(detector, ngrams)
    return detector.detect()


@lru_cache(maxsize=256)  # reuse across ids and scorings of one response
def detect_language(text: str) -> str | None:
    """Best-guess language code, or None when the text has no detectable features."""
    DetectorFactory.seed = 0
    try:
        return _langdetect(text)
    except LangDetectException:
        return None


def is_language(text: str, code: str) -> bool:
    """The reference counts an undetectable text as passing; so do we."""
    found = detect_language(text)
    return True if found is None else found == code
