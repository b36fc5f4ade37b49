"""IFEval's four accuracies over rows, and row-level errors."""

from __future__ import annotations

import json

import pytest
from caravan.verifiers.ifeval import evaluate

from caravan.errors import CaravanError

ROWS = [
    {  # both followed strictly
        "prompt": "p1",
        "instruction_id_list": ["punctuation:no_comma", "detectable_format:title"],
        "kwargs": [{}, {}],
        "response": "<<T>> fine",
    },
    {  # lowercase only after dropping the first line (loose)
        "prompt": "p2",
        "instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"],
        "kwargs": [{}, {"keywords": None}],
        "response": "Sure\nthe boats came home before the storm and the harbor was calm again.",
    },
    {  # fails its only instruction either way
        "prompt": "p3",
        "instruction_id_list": ["startend:quotation"],
        "kwargs": [{}],
        "response": "no quotes",
    },
]


def test_four_accuracies():
    report = evaluate(ROWS)
    assert report.prompt_level_strict == pytest.approx(1 / 3)
    assert report.inst_level_strict == pytest.approx(3 / 5)
    assert report.prompt_level_loose == pytest.approx(2 / 3)
    assert report.inst_level_loose == pytest.approx(4 / 5)
    assert report.rows[1].strict == [False, True] and report.rows[1].loose == [True, True]
    assert set(report.as_dict()) == {
        "prompt_level_strict_acc",
        "inst_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_loose_acc",
    }


def test_responses_can_be_passed_separately():
    rows = [{k: v for k, v in r.items() if k != "response"} for r in ROWS]
    report = evaluate(rows, [r["response"] for r in ROWS])
    assert report.as_dict() == evaluate(ROWS).as_dict()


def test_errors_name_the_1_based_row():
    bad = [
        ROWS[0],
        {"prompt": "x", "instruction_id_list": ["nope:nope"], "kwargs": [{}], "response": "r"},
    ]
    with pytest.raises(CaravanError, match="row 2: unknown instruction id"):
        evaluate(bad)
    with pytest.raises(CaravanError, match="row 1: missing column 'kwargs'"):
        evaluate([{"instruction_id_list": [], "response": "r"}])
    with pytest.raises(CaravanError, match="no rows"):
        evaluate([])
    with pytest.raises(CaravanError, match="2 responses for 3 rows"):
        evaluate(ROWS, ["a", "b"])


def test_runs_on_the_ifeval_prompts(shared_data):
    path = shared_data / "eval" / "ifeval_input_data.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # Echoing the prompt satisfies repeat_prompt and little else.
    report = evaluate(rows, [r["prompt"] for r in rows])
    assert len(report.rows) == 540
    assert 0.0 < report.inst_level_strict < 0.5
    assert report.inst_level_loose >= report.inst_level_strict
