"""Our faster language detection returns exactly what seeded langdetect returns."""

from __future__ import annotations

import random

from caravan.verifiers.ifeval.examples import FRENCH, GERMAN, PROSE, SPANISH
from caravan.verifiers.ifeval.language import (
    _extract_ngrams,
    _langdetect,
    detect_language,
    is_language,
)
from langdetect import DetectorFactory, LangDetectException, detector_factory
from langdetect import detect as reference_detect

FIXED = PROSE + [
    FRENCH,
    GERMAN,
    SPANISH,
    "Привет, как дела? Сегодня хорошая погода.",
    "これは日本語の文章です。天気がいいですね。",
    "مرحبا كيف حالك اليوم؟",
    "नमस्ते, आप कैसे हैं?",
    "안녕하세요 반갑습니다",
    "Tiếng Việt có dấu rất đẹp",
    "ŞTIU CĂ ȘI ȚARA",
    "HELLO WORLD THIS IS CAPS",
    "x  y   z",
    "see http://example.com or mail a@b.com now",
    "12345",
    "",
]


def _texts() -> list[str]:
    rng = random.Random(0)
    alphabet = "abcdefghij klmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ  éèàüößçñ.,!?'\"-\nПриветこんにちは中文ال"
    out = list(FIXED)
    out += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(80)]
    for t in PROSE:
        out += [t.upper(), t.lower(), t.replace(" ", "   "), "AB" + t + " XY"]
    return out


def _reference(text: str) -> str | None:
    DetectorFactory.seed = 0
    try:
        return reference_detect(text)
    except LangDetectException:
        return None


def _ours(text: str) -> str | None:
    try:
        return _langdetect(text)
    except LangDetectException:
        return None


def test_same_ngrams_as_langdetect():
    detector_factory.init_factory()
    for text in _texts():
        mine = detector_factory._factory.create()
        theirs = detector_factory._factory.create()
        mine.append(text)
        theirs.append(text)
        mine.cleaning_text()
        theirs.cleaning_text()
        assert _extract_ngrams(mine) == theirs._extract_ngrams(), text


def test_same_language_as_seeded_langdetect():
    for text in _texts():
        assert _ours(text) == _reference(text), text


def test_undetectable_text_passes_like_the_reference():
    assert detect_language("12345 !!!") is None
    assert is_language("12345 !!!", "fr")
    assert is_language(FRENCH, "fr") and not is_language(FRENCH, "en")
