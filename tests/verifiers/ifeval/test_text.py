"""Sentence and word units: offline, and in agreement with the reference on real text."""

from __future__ import annotations

import pytest
from caravan.verifiers.ifeval import text as tx
from caravan.verifiers.ifeval.examples import FRENCH, PROSE

SAMPLES = PROSE + [
    FRENCH,
    "Mr. Brown met Dr. Green at 5.30 p.m. in the U.S. He said hi. They left!",
    'Visit www.example.com today... It works. Really? "Yes." she said.',
    "J. K. Rowling wrote it. Ph.D. students read it. Acme Inc. This is new.",
    "The U.S.A. is big. But Canada is bigger! E.g. Russia.",
    "No terminal punctuation here",
    "",
    "Line one\nLine two. Line three? \u201cQuoted.\u201d End",
]


@pytest.fixture(scope="module")
def reference_util():
    import nltk

    mp = pytest.MonkeyPatch()
    mp.setattr(nltk, "download", lambda *a, **k: False)  # lm_eval tries at import time
    util = pytest.importorskip(
        "lm_eval.tasks.ifeval.instructions_util", reason="lm_eval[ifeval] not installed"
    )
    yield util
    mp.undo()


@pytest.mark.parametrize("sample", SAMPLES)
def test_rule_splitter_matches_reference(reference_util, sample):
    assert tx.rule_sentences(sample) == reference_util.split_into_sentences(sample)


@pytest.mark.parametrize("sample", SAMPLES)
def test_word_count_matches_reference(reference_util, sample):
    assert tx.count_words(sample) == reference_util.count_words(sample)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("The harbor was quiet. Boats rocked gently.", 2),
        ("Dr. Smith arrived at 5 p.m. and left.", 1),  # known abbreviations do not split
        ("We met Mr. Lee, e.g. at lunch. Then we left.", 3),  # the English model splits after e.g.
        ("It was in the U.S. The economy grew.", 2),  # abbreviation, then a sentence starter
        ("Plan A. This works.", 2),  # an initial before a common word ends the sentence
        ("It happened in 1990. Who knew?", 1),  # a collocation the model learned from WSJ
        ("It rose in 2020. Then it fell.", 2),
        ("J. K. Rowling wrote a book.", 1),  # initials
        ("Really? Yes! Fine.", 3),
        ('He said "stop." Then he left.', 2),
        ("A bullet list\n* one\n* two", 1),  # newlines alone do not end sentences
        ("Wait... what happened?", 1),
        ("", 0),
    ],
)
def test_punkt_sentence_counts(text, count):
    assert tx.count_sentences(text) == count


def test_word_tokens_follow_treebank_rules():
    assert tx.word_tokens("I DON'T KNOW. THE U.S. ARMY.") == (
        "I",
        "DO",
        "N'T",
        "KNOW",
        ".",
        "THE",
        "U.S.",
        "ARMY",
        ".",
    )


def test_capital_tokens_are_counted_per_sentence_like_word_tokenize():
    # Mid-text "DON'T." is one token; at a sentence end NLTK splits it into DO / N'T / .
    text = "I DON'T. YOU DO."
    assert tx.word_tokens(text) == ("I", "DO", "N'T", ".", "YOU", "DO", ".")
    assert tx.count_capital_tokens(text) == 5
    assert tx.count_capital_tokens("no capitals here at all.") == 0


@pytest.mark.parametrize("sample", SAMPLES + ['WE SAW THE U.S. NAVY. IT WAS BIG. "WOW." OK'])
def test_capital_count_agrees_with_the_token_list(sample):
    assert tx.count_capital_tokens(sample) == sum(t.isupper() for t in tx.word_tokens(sample))


def _random_texts(n: int) -> list[str]:
    import random

    rng = random.Random(5)
    pieces = [
        "Dr.",
        "e.g.",
        "U.S.",
        "J.",
        "K.",
        "3.5",
        "2020.",
        "etc.",
        "...",
        "?!",
        "!",
        "?",
        '"',
        "'",
        ")",
        "(",
        "*",
        "\n",
        "\n\n",
        "word",
        "Word",
        "WORD",
        "the",
        "The",
        "end.",
        "Mr.",
        "a.m.",
        ":",
    ]
    texts = []
    for _ in range(n):
        texts.append(" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))))
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))))
    return texts


def test_memoised_punkt_splits_exactly_like_nltk_punkt():
    plain, fast = tx.plain_punkt(), tx._punkt()
    for sample in SAMPLES + _random_texts(400):
        assert fast.tokenize(sample) == plain.tokenize(sample), sample


def test_ifeval_import_leaves_scipy_alone():
    """NLTK's package import would pull SciPy (~2 s cold) for measures we never use."""
    import subprocess
    import sys

    code = (
        "import sys, caravan.verifiers.ifeval\n"
        "assert 'scipy' not in sys.modules, 'scipy imported'\n"
        "import scipy.stats\n"  # and SciPy still imports normally afterwards
        "from caravan.verifiers.ifeval.text import count_sentences\n"
        "print(count_sentences('One. Two!'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
