"""GSM8K answer checking: the last number in the response against the gold after `####`.

Numbers compare as exact rationals, so "72.0", "$72", "72%" and "72" all match a gold of 72,
and "1,234" matches 1234. The last number wins because that is how the open-instruct GSM8K
verifier (and most GSM8K evaluators) read a chain-of-thought answer.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from caravan.errors import CaravanError

# Optional sign, optional currency, then a number with comma thousands separators or plain
# digits, optional decimals, optional simple fraction. Unicode minus is folded to "-" first.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-)?\s?[$€£¥]?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:/(?P<den>\d+)(?![\d.,]))?"
)
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})


def _to_fraction(num: str, den: str | None, negative: bool) -> Fraction | None:
    try:
        value = Fraction(Decimal(num.replace(",", "")))
    except (InvalidOperation, ValueError):
        return None
    if den is not None:
        d = int(den)
        if d == 0:
            return None
        value /= d
    return -value if negative else value


def extract_prediction(response: str) -> Fraction | None:
    """The last number in `response` as an exact rational, or None when there is none."""
    last = None
    for m in _NUMBER.finditer(response.translate(_MINUS)):
        last = m
    if last is None:
        return None
    return _to_fraction(last["num"], last["den"], last["sign"] is not None)


def parse_gold(gold: str | int | float) -> Fraction:
    """The gold answer: text after `####` if present, commas, currency and units removed.

    A sign ("+7", "-3") is read as one; a gold with a unit or a word around its number
    ("18 dollars", "5 cm", "x = 4") is read when it holds exactly one number. Anything else
    raises, since a guessed gold would silently mis-score every response.
    """
    if isinstance(gold, int | float) and not isinstance(gold, bool):
        return Fraction(Decimal(str(gold)))
    text = str(gold)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    text = text.strip().translate(_MINUS)
    plain = text.replace(",", "").lstrip("$€£¥").rstrip("%.").strip()
    m = re.fullmatch(r"([-+])?\s*[$€£¥]?\s*(\d+(?:\.\d+)?|\.\d+)(?:/(\d+))?", plain)
    if m:
        value = _to_fraction(m[2], m[3], m[1] == "-")
    else:
        found = list(_NUMBER.finditer(text))
        value = None
        if len(found) == 1:
            value = _to_fraction(found[0]["num"], found[0]["den"], found[0]["sign"] is not None)
    if value is None:
        raise CaravanError(f"GSM8K gold answer {gold!r} is not a number")
    return value


def format_gold(value: Fraction) -> str:
    """A parsed gold written back as plain text that `parse_gold` reads to the same value:
    an integer, an exact decimal, or n/d."""
    if value.denominator == 1:
        return str(value.numerator)
    d, twos, fives = value.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    if d != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    text = f"{abs(value.numerator) * 10**places // value.denominator:0{places + 1}d}"
    sign = "-" if value < 0 else ""
    return f"{sign}{text[:-places]}.{text[-places:]}"


def is_correct(response: str, gold: str | int | float) -> bool:
    """True when the last number in `response` equals the gold answer numerically."""
    pred = extract_prediction(response)
    return pred is not None and pred == parse_gold(gold)


def score(response: str, ground_truth: str) -> float:
    """1.0 or 0.0: the GSM8K reward before scaling."""
    return 1.0 if is_correct(response, ground_truth) else 0.0
