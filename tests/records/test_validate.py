import json

import pytest
from caravan.records import RecordValidationError, read_records, row_error
from caravan.records.schemas import PREFERENCE, RLVR, SFT, get_kind


def test_valid_rows_have_no_errors(sft_rows, preference_rows, rlvr_rows):
    for kind, rows in ((SFT, sft_rows), (PREFERENCE, preference_rows), (RLVR, rlvr_rows)):
        assert [row_error(r, kind) for r in rows] == [None] * len(rows)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.pop("id"), "missing `id`"),
        (lambda r: r.update(id=""), "`id` is empty"),
        (lambda r: r.update(messages="hi"), "must be a list"),
        (lambda r: r.update(messages=[]), "empty list"),
        (lambda r: r["messages"][0].update(role="bot"), "role is 'bot'"),
        (lambda r: r["messages"][1].update(content=None), "content must be a string"),
        (lambda r: r["messages"][0].update(name="x"), "unsupported keys ['name']"),
        (lambda r: r.update(messages=r["messages"][:1]), "no assistant turn"),
        (lambda r: r.pop("source"), "missing `source`"),
    ],
)
def test_sft_row_errors(sft_rows, mutate, needle):
    row = sft_rows[0]
    mutate(row)
    assert needle in row_error(row, SFT)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.update(prompt=[{"role": "assistant", "content": "x"}]), "end with a user"),
        (lambda r: r.update(chosen=[{"role": "user", "content": "x"}]), "`chosen` must end"),
        (lambda r: r.update(rejected=r["chosen"]), "identical"),
        (lambda r: r.update(score_chosen="high"), "must be a number"),
        (lambda r: r.update(score_chosen=1.0, score_rejected=4.0), "columns swapped"),
        (lambda r: r.update(score_chosen=float("nan")), "NaN"),
    ],
)
def test_preference_row_errors(preference_rows, mutate, needle):
    row = preference_rows[0]
    mutate(row)
    assert needle in row_error(row, PREFERENCE)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.update(ground_truth=7), "`ground_truth` must be a string"),
        (lambda r: r.pop("dataset"), "missing `dataset`"),
        (lambda r: r["messages"].append({"role": "assistant", "content": "7"}), "user turn"),
        (lambda r: r.update(constraint_type=3), "`constraint_type` must be a string"),
    ],
)
def test_rlvr_row_errors(rlvr_rows, mutate, needle):
    row = rlvr_rows[0]
    mutate(row)
    assert needle in row_error(row, RLVR)


def test_kind_aliases_and_unknown_kind():
    assert get_kind("dpo") is PREFERENCE
    with pytest.raises(Exception, match="unknown record kind 'chat'.*sft"):
        get_kind("chat")


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_error_names_file_and_line(tmp_path, sft_rows):
    sft_rows[2]["messages"][0]["role"] = "bot"
    path = tmp_path / "data.jsonl"
    _write_jsonl(path, sft_rows)
    with pytest.raises(RecordValidationError) as info:
        read_records(path, "sft")
    err = info.value
    assert len(err.bad_rows) == 1
    assert err.bad_rows[0].location.index == 3  # 1-based line of the third row
    assert f"{path}: line 3" in str(err)


def test_parquet_errors_name_1_based_row(tmp_path, rlvr_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rlvr_rows[1]["dataset"] = ""
    path = tmp_path / "rl.parquet"
    pq.write_table(pa.Table.from_pylist(rlvr_rows), path)
    with pytest.raises(RecordValidationError, match=r"rl.parquet: row 2: `dataset` is empty"):
        read_records(path, "rlvr")


def test_duplicate_ids_are_errors(tmp_path, sft_rows):
    sft_rows[4]["id"] = sft_rows[1]["id"]
    path = tmp_path / "d.jsonl"
    _write_jsonl(path, sft_rows)
    with pytest.raises(RecordValidationError, match="duplicate id 'sft-1' .first at line 2"):
        read_records(path, "sft")


def test_quarantine_keeps_good_rows_and_sets_bad_aside(tmp_path, sft_rows):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps(r) for r in sft_rows]
    lines.insert(2, "{not json")
    sft_rows[4]["source"] = None
    lines[5] = json.dumps(sft_rows[4])
    path.write_text("\n".join(lines) + "\n")
    side = tmp_path / "bad.jsonl"
    table = read_records(path, "sft", on_error="quarantine", quarantine=side)
    assert table.num_rows == len(sft_rows) - 1
    bad = [json.loads(line) for line in side.read_text().splitlines()]
    assert [b["line"] for b in bad] == [3, 6]
    assert bad[0]["raw"] == "{not json\n" and "invalid JSON" in bad[0]["error"]
    assert bad[1]["row"]["id"] == "sft-4" and "missing `source`" in bad[1]["error"]


def test_quarantine_mode_requires_a_path(tmp_path, sft_rows):
    path = tmp_path / "d.jsonl"
    _write_jsonl(path, sft_rows)
    with pytest.raises(Exception, match="side-file path"):
        read_records(path, "sft", on_error="quarantine")
