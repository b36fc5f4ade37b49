import json

import pytest
from caravan.records import write_records
from caravan.train_adapters.formats import (
    SkipRow,
    implicit_prompt,
    math_problems,
    openr1_math,
    openthoughts,
)
from caravan.train_adapters.mixer import build_mixture, parse_data_args

from caravan.errors import CaravanError


def _m(role, content):
    return {"role": role, "content": content}


def test_parse_data_args():
    assert parse_data_args(["a.parquet", "b.jsonl=0.5", "org/ds=1000"]) == {
        "a.parquet": 1.0,
        "b.jsonl": 0.5,
        "org/ds": 1000.0,
    }
    with pytest.raises(CaravanError, match="not a fraction or count"):
        parse_data_args(["a=lots"])


def test_mixture_fractions_counts_and_seed(tmp_path):
    def rows(p, n):
        return [
            {
                "id": f"{p}{i}",
                "source": p,
                "messages": [_m("user", "q"), _m("assistant", f"a{i}")],
            }
            for i in range(n)
        ]

    a = write_records(rows("a", 10), tmp_path / "a.parquet", "sft")
    b = write_records(rows("b", 10), tmp_path / "b.parquet", "sft")
    table, report = build_mixture({str(a): 0.5, str(b): 3}, "sft", seed=1)
    assert report.taken == {str(a): 5, str(b): 3}
    again, _ = build_mixture({str(a): 0.5, str(b): 3}, "sft", seed=1)
    assert table.column("id").to_pylist() == again.column("id").to_pylist()
    with pytest.raises(CaravanError, match="asked for 50 rows, it has 10"):
        build_mixture({str(a): 50}, "sft")


def test_rows_without_ids_get_stable_content_ids(tmp_path):
    path = tmp_path / "rl.jsonl"
    row = {"messages": [_m("user", "2+2?")], "ground_truth": "4", "dataset": "gsm8k"}
    path.write_text(json.dumps(row) + "\n")
    t1, _ = build_mixture({str(path): 1.0}, "grpo")
    t2, _ = build_mixture({str(path): 1.0}, "grpo")
    assert t1.column("id").to_pylist() == t2.column("id").to_pylist()
    assert t1.column("id")[0].as_py().startswith("rl.jsonl-")


def test_implicit_prompt_splits_shared_turns():
    row = {
        "prompt": "hi",
        "chosen": [_m("user", "hi"), _m("assistant", "hello")],
        "rejected": [_m("user", "hi"), _m("assistant", "go away")],
    }
    out = implicit_prompt(row, "src")
    assert out["prompt"] == [_m("user", "hi")] and out["chosen"] == [_m("assistant", "hello")]
    row["rejected"][0]["content"] = "other"
    with pytest.raises(SkipRow, match="same prompt"):
        implicit_prompt(row, "src")


def test_reasoning_converters():
    ot = openthoughts(
        {
            "system": "s",
            "conversations": [
                {"from": "user", "value": "Sum 2 and 2."},
                {
                    "from": "assistant",
                    "value": "<|begin_of_thought|>\n\n2+2 is 4\n\n<|end_of_thought|>\n\n"
                    "<|begin_of_solution|>\n\n**4**\n\n<|end_of_solution|>",
                },
            ],
        },
        "ot",
    )
    assert ot["messages"][1]["content"] == "<think>\n2+2 is 4\n</think>\n\n**4**"
    r1 = openr1_math(
        {
            "problem": "1+1?",
            "uuid": "u1",
            "generations": ["<think>bad</think> 3", "<think>ok</think> \\boxed{2}"],
            "correctness_math_verify": [False, True],
        },
        "r1",
    )
    assert r1["id"] == "u1" and r1["messages"][1]["content"].endswith("\\boxed{2}")
    with pytest.raises(SkipRow, match="no generation verified"):
        openr1_math(
            {
                "problem": "x",
                "generations": ["<think>a</think>"],
                "correctness_math_verify": [False],
            },
            "r1",
        )
    mp = math_problems({"problem": "What is 1/2+1/2?", "answer": "1"}, "ds")
    assert mp["ground_truth"] == "1" and mp["dataset"] == "math"


def test_skipped_rows_are_reported_not_hidden(tmp_path):
    path = tmp_path / "r1.jsonl"
    good = {
        "problem": "1+1?",
        "generations": ["<think>x</think> 2"],
        "correctness_math_verify": [True],
    }
    bad = {"problem": "2+2?", "generations": ["5"], "correctness_math_verify": [False]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    table, report = build_mixture({str(path): 1.0}, "sft", {str(path): "openr1_math"})
    assert table.num_rows == 1
    assert report.skipped[str(path)] == [
        "row 1: no generation verified correct with a closed </think>"
    ]
