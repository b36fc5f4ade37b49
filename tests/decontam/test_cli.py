"""The `decontam check` / `decontam remove` commands, including on the shared real data."""

import json

import pyarrow.parquet as pq
from caravan.decontam.cli import cli
from click.testing import CliRunner

from caravan.runner import row_id

from .conftest import write_jsonl
from .test_check import EVAL


def _files(tmp_path):
    ev = write_jsonl(tmp_path / "ev.jsonl", [{"question": q} for q in EVAL])
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"prompt": "a harmless prompt"}, {"prompt": "Q: " + EVAL[2]}, {"prompt": "another"}],
    )
    return ev, train


def test_check_prints_table_writes_report_and_can_fail(tmp_path):
    ev, train = _files(tmp_path)
    args = [
        "check",
        "--train",
        str(train),
        "--eval",
        f"toy={ev}:question",
        "--report",
        str(tmp_path / "r.json"),
        "--workers",
        "1",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "1 / 4" in res.output and "25.00" in res.output and "YES" in res.output
    report = json.loads((tmp_path / "r.json").read_text())
    leaked = row_id({"prompt": "Q: " + EVAL[2]})  # no `id` column: the runner's content id
    assert report["results"][0]["matches"] == [
        {"eval_row": 3, "train_id": leaked, "train_row": 2, "coverage": 1.0}
    ]
    res = CliRunner().invoke(cli, [*args, "--fail-on-contamination"])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli, [*args, "--dataset-threshold", "0.3", "--fail-on-contamination"])
    assert res.exit_code == 0


def test_remove_command(tmp_path):
    ev, train = _files(tmp_path)
    CliRunner().invoke(
        cli,
        [
            "check",
            "--train",
            str(train),
            "--eval",
            f"toy={ev}",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    res = CliRunner().invoke(
        cli,
        [
            "remove",
            "--train",
            str(train),
            "--report",
            str(tmp_path / "r.json"),
            "--output",
            str(tmp_path / "clean.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "kept 2 rows" in res.output and "removed 1 rows" in res.output
    assert len((tmp_path / "clean.jsonl").read_text().splitlines()) == 2


def test_errors_are_one_line(tmp_path):
    ev, train = _files(tmp_path)
    res = CliRunner().invoke(
        cli,
        [
            "check",
            "--train",
            str(train),
            "--eval",
            f"toy={ev}:nope",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 1
    assert res.output.strip().startswith("error: eval set 'toy'") and "Traceback" not in res.output


def test_shared_data_gsm8k_train_against_test(shared_data, tmp_path):
    ev = shared_data / "eval" / "gsm8k_test.jsonl"
    train = shared_data / "train" / "gsm8k_train.jsonl"
    report_path = tmp_path / "r.json"
    args = [
        "check",
        "--train",
        str(train),
        "--field",
        "question",
        "--eval",
        f"gsm8k={ev}:question",
        "--report",
        str(report_path),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    (r,) = json.loads(report_path.read_text())["results"]
    assert r["eval_instances"] == 1319 and 0 < r["overlapped"] < 10 and not r["contaminated"]
    matches = pq.read_table(tmp_path / "r.matches.parquet").to_pylist()
    assert all(m["coverage"] > 0.5 and m["train_text"] and m["eval_text"] for m in matches)
    out = tmp_path / "clean.jsonl"
    res = CliRunner().invoke(
        cli, ["remove", "--train", str(train), "--report", str(report_path), "--output", str(out)]
    )
    assert res.exit_code == 0, res.output
    removed = len({m["train_row"] for m in matches})
    assert len(out.read_text().splitlines()) == 7473 - removed


def test_fuzzy_results_are_reported_separately(tmp_path):
    ev, _ = _files(tmp_path)
    near = EVAL[0].replace("forty eight", "forty nine")  # breaks the exact 8-grams around it
    train = write_jsonl(
        tmp_path / "t.jsonl", [{"prompt": "intro text " + near}, {"prompt": "other"}]
    )
    res = CliRunner().invoke(
        cli,
        [
            "check",
            "--train",
            str(train),
            "--eval",
            f"toy={ev}",
            "--report",
            str(tmp_path / "r.json"),
            "--fuzzy",
            "--fuzzy-threshold",
            "0.7",
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r.json").read_text())
    fuzzy = report["fuzzy"]
    assert fuzzy["params"]["scheme"] == "affine64" and fuzzy["params"]["threshold"] == 0.7
    assert fuzzy["results"][0]["matches"][0]["train_row"] == 1
    assert fuzzy["results"][0]["matches"][0]["eval_row"] == 1
    assert "fuzzy containment" in res.output


def test_check_and_fuzzy_print_progress_lines_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("CARAVAN_PROGRESS_EVERY", "0")
    ev, train = _files(tmp_path)
    args = ["check", "--train", str(train), "--eval", f"toy={ev}:question", "--workers", "1",
            "--report", str(tmp_path / "r.json"), "--fuzzy"]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "scan train.jsonl: 3/3 rows" in res.stderr  # the runner's progress lines
    assert "fuzzy train.jsonl: 3 rows" in res.stderr and "done in" in res.stderr
    quiet = CliRunner().invoke(cli, [*args, "--quiet"])
    assert "fuzzy train.jsonl" not in quiet.stderr
