import json
from fractions import Fraction

import pytest
from caravan.verifiers import gsm8k

from caravan.errors import CaravanError


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("She sells 48 + 24 = 72 clips.", "72"),
        ("Natalia sold 24 in May.\n#### 72", "Natalia ...\n#### 72"),
        ("The total is $1,234.", "1234"),
        ("The total is 1,234 dollars.", "#### 1,234"),
        ("So the answer is 72.0", "72"),
        ("It grows by 15%.", "15"),
        ("The temperature drops to -5 degrees.", "-5"),
        ("The temperature drops to \u22125 degrees.", "-5"),
        ("Each costs $0.25.", "0.25"),
        ("Each costs $.25", "0.25"),
        ("Half is 1/2", "0.5"),
        ("The answer is \\boxed{18}.", "18"),
        ("After 3 steps we get 5 and finally 10", "10"),
    ],
)
def test_correct_answers(response, gold):
    assert gsm8k.is_correct(response, gold)


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("The answer is 72, wait no, 73", "72"),
        ("I do not know.", "72"),
        ("", "72"),
        ("1,234.5", "1234"),
        ("The answer is 5", "-5"),
        ("The answer is 72 apples in 3 baskets", "72"),  # the last number counts
    ],
)
def test_wrong_answers(response, gold):
    assert not gsm8k.is_correct(response, gold)


def test_prediction_is_exact():
    assert gsm8k.extract_prediction("costs $1,000,000.50") == Fraction(2000001, 2)
    assert gsm8k.extract_prediction("no digits") is None


def test_gold_must_be_a_number():
    with pytest.raises(CaravanError, match="not a number"):
        gsm8k.parse_gold("#### seventy")
    assert gsm8k.parse_gold(72) == 72


def test_every_gsm8k_train_solution_verifies_against_its_own_gold(shared_data):
    rows = [
        json.loads(line)
        for line in (shared_data / "train" / "gsm8k_train.jsonl").read_text().splitlines()
    ]
    assert len(rows) > 7000
    wrong = [r for r in rows if not gsm8k.is_correct(r["answer"], r["answer"])]
    assert not wrong, wrong[:3]
    # and an off-by-one answer never passes
    off = [
        r
        for r in rows[:500]
        if gsm8k.is_correct(f"{gsm8k.parse_gold(r['answer']) + 1}", r["answer"])
    ]
    assert not off


@pytest.mark.parametrize(
    ("gold", "value"),
    [
        ("+7", 7),
        ("#### +7", 7),
        ("-3", -3),
        ("#### 18 dollars", 18),
        ("5 cm", 5),
        ("$1,200 per month", 1200),
        ("x = -4", -4),
        ("#### 2.5 hours", 2.5),
    ],
)
def test_golds_with_a_sign_or_unit_parse(gold, value):
    assert gsm8k.parse_gold(gold) == Fraction(str(value))
    assert gsm8k.is_correct(f"So the answer is {value}.", gold)


def test_gold_with_two_numbers_is_an_error():
    with pytest.raises(CaravanError, match="not a number"):
        gsm8k.parse_gold("#### 3 or 4")


def test_rlvr_rows_keep_signed_and_unit_golds_as_plain_numbers():
    from caravan.records.validate import BadRow
    from caravan.verifiers.rlvr import gsm8k_rows

    rows = [
        {"question": "q1", "answer": "steps\n#### +7"},
        {"question": "q2", "answer": "steps\n#### 18 dollars"},
        {"question": "q3", "answer": "steps\n#### 1,234"},
        {"question": "q4", "answer": "steps\n#### 3 or 4"},
    ]
    out = list(gsm8k_rows(rows, "gsm.jsonl"))
    assert [r["ground_truth"] for r in out[:3]] == ["7", "18", "1234"]
    assert isinstance(out[3], BadRow)
    assert all(gsm8k.is_correct(f"The answer is {g}.", g) for g in ("7", "18", "1234"))
