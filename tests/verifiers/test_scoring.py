import json

import pyarrow as pa
import pytest
from caravan.records import Provenance, write_records
from caravan.verifiers import scoring
from caravan.verifiers.cli import cli as verify_cli
from caravan.verifiers.scoring import check_input, score_rows, summarize
from click.testing import CliRunner

from caravan.errors import CaravanError


def _rows(n):
    return [
        {"id": f"r{i}", "response": f"It is {i}", "ground_truth": str(i if i % 2 else i + 1),
         "dataset": "gsm8k"}
        for i in range(n)
    ]  # fmt: skip


def test_score_rows_adds_columns_and_summarize_counts_them():
    out, summary = score_rows(_rows(6))
    assert [r["score"] for r in out] == [0.0, 10.0, 0.0, 10.0, 0.0, 10.0]
    assert summary.rows == 6 and summary.rows_scored == 6
    assert summary.by_verifier["gsm8k"].full == 3
    again = summarize(out)
    assert again.by_verifier["gsm8k"].mean == summary.by_verifier["gsm8k"].mean == 0.5


def test_bad_input_is_named_before_scoring():
    table = pa.Table.from_pylist([{**r, "response": None if i == 2 else r["response"]}
                                  for i, r in enumerate(_rows(4))])  # fmt: skip
    with pytest.raises(CaravanError, match=r"in\.jsonl: row 3: `response` is empty"):
        check_input(table, "response", "in.jsonl")
    with pytest.raises(CaravanError, match=r"in\.jsonl: no `answer` column"):
        check_input(table, "answer", "in.jsonl")
    with pytest.raises(CaravanError, match=r"in\.jsonl: no rows to score"):
        check_input(table.slice(0, 0), "response", "in.jsonl")


def test_an_interrupted_score_resumes_from_the_journal_without_rescoring(tmp_path, monkeypatch):
    src, out = tmp_path / "responses.parquet", tmp_path / "scored.parquet"
    write_records(_rows(300), src)  # two batches of the Score stage (256 rows each)
    real = scoring.compute_rewards
    seen: list[int] = []

    def crash_on_second_batch(texts, *args, **kwargs):
        seen.append(len(texts))
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(scoring, "compute_rewards", crash_on_second_batch)
    args = ["score", "--input", str(src), "--output", str(out)]
    first = CliRunner().invoke(verify_cli, args)
    assert first.exit_code != 0 and not out.exists() and seen == [256, 300 - 256]

    seen.clear()
    monkeypatch.setattr(scoring, "compute_rewards", lambda texts, *a, **k: (
        seen.append(len(texts)) or real(texts, *a, **k)))  # fmt: skip
    again = CliRunner().invoke(verify_cli, args)
    assert again.exit_code == 0, again.output
    assert seen == [300 - 256]  # only the unfinished batch is scored again
    assert "resumed 1 finished batches from the journal" in again.output
    scores = [r["score"] for r in pq_rows(out)]
    assert scores == [0.0 if i % 2 == 0 else 10.0 for i in range(300)]
    assert not (tmp_path / ".scored.parquet.journal").exists()  # dropped once written
    assert "300 rows" in again.output and "300 scored, 0 with errors" in again.output


def pq_rows(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_score_records_its_settings_in_provenance(tmp_path):
    src, out = tmp_path / "r.jsonl", tmp_path / "s.parquet"
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows(2)))
    res = CliRunner().invoke(verify_cli, ["score", "--input", str(src), "--output", str(out),
                                          "--weight", "gsm8k=0.5"])  # fmt: skip
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq

    prov = Provenance.from_metadata(pq.read_schema(out).metadata)
    (step,) = prov.config["steps"]
    assert step["stage"] == "verify.score"
    assert step["settings"]["config"]["weights"] == {"gsm8k": 0.5}
    assert [i["source"] for i in prov.inputs] == [str(src)]
    assert [r["score"] for r in pq_rows(out)] == [0.0, 5.0]
