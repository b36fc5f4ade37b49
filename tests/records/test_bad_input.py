"""Bad input names its file and 1-based line, and quarantine sets each bad line aside."""

import json
import socket
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from caravan.records import RecordValidationError, load_records, read_records, write_records
from caravan.records.schemas import SFT

from caravan.errors import CaravanError

# Each case: (name, bad line bytes, expected reason); the bad line is always line 2.
BAD_LINES = [
    ("non-utf8", b'{"id": "x", "source": "caf\xe9"}', "not UTF-8: byte e9"),
    ("deep", b"[" * 200_000 + b"]" * 200_000, "nested deeper than the parser allows"),
    ("nan", b'{"id": "x", "score": NaN}', "NaN is not valid JSON"),
    ("infinity", b'{"id": "x", "score": -Infinity}', "-Infinity is not valid JSON"),
    ("non-object", b"[1, 2, 3]", "row must be a JSON object, got list"),
    ("truncated", b'{"id": "x", "messages": [', "invalid JSON"),
]


def _lines(tmp_path, name, rows, bad: bytes):
    path = tmp_path / f"{name}.jsonl"
    good = [json.dumps(r).encode() for r in rows]
    path.write_bytes(b"\n".join([good[0], bad, *good[1:]]) + b"\n")
    return path


@pytest.mark.parametrize(("name", "bad", "reason"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_is_named_and_can_be_quarantined(tmp_path, sft_rows, name, bad, reason):
    path = _lines(tmp_path, name, sft_rows, bad)
    with pytest.raises(RecordValidationError) as info:
        read_records(path, "sft")
    assert f"{path}: line 2: " in str(info.value) and reason in str(info.value)

    side = tmp_path / "bad.jsonl"
    table = read_records(path, "sft", on_error="quarantine", quarantine=side)
    assert table.column("id").to_pylist() == [r["id"] for r in sft_rows]
    (record,) = [json.loads(x) for x in side.read_text().splitlines()]
    assert record["source"] == str(path) and record["line"] == 2 and reason in record["error"]


@pytest.mark.parametrize(("name", "bad", "reason"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_is_named_without_a_kind(tmp_path, name, bad, reason):
    rows = [{"persona": "A baker."}, {"persona": "A pilot."}]
    path = _lines(tmp_path, name, rows, bad)
    loaded = load_records(path)
    assert loaded.table.num_rows == 2
    (only,) = loaded.bad_rows
    assert str(only).startswith(f"{path}: line 2: ") and reason.split(" got")[0] in only.error


def test_mixed_type_column_names_the_line_and_quarantines(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"persona": "a", "age": 30},
        {"persona": "b", "age": 41.5},
        {"persona": "c", "age": "x"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_records(path)
    (bad,) = loaded.bad_rows
    assert str(bad) == f"{path}: line 3: column `age` is text here but a number at {path}: line 1"
    assert loaded.table.column("age").to_pylist() == [30, 41.5]


def test_nested_mixed_types_name_the_line(tmp_path):
    from caravan.records import rows_to_table
    from caravan.records.validate import RowLocation

    rows = [{"tags": [1, 2]}, {"tags": [3]}, {"tags": ["x"]}]
    locs = [RowLocation("t.jsonl", i, "line") for i in (1, 2, 3)]
    with pytest.raises(CaravanError, match=r"t.jsonl: line 3: column `tags`"):
        rows_to_table(rows, locations=locs)


def test_bom_is_dropped_in_every_text_format(tmp_path, sft_rows):
    lines = tmp_path / "a.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in sft_rows).encode())
    doc = tmp_path / "a.json"
    doc.write_bytes(b"\xef\xbb\xbf" + json.dumps(sft_rows).encode())
    for path in (lines, doc):
        assert read_records(path, "sft").num_rows == len(sft_rows)


def test_json_document_errors_name_the_line(tmp_path, sft_rows):
    doc = tmp_path / "a.json"
    doc.write_bytes(b'[\n{"id": "a"},\n{"id": "caf\xe9"}\n]')
    with pytest.raises(CaravanError, match=r"a.json: line 3: not UTF-8"):
        load_records(doc)
    doc.write_text('[\n{"id": "a"},\n{"id": \n]')
    with pytest.raises(CaravanError, match=r"a.json: line 4: invalid JSON"):
        load_records(doc)
    doc.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CaravanError, match=r"a.json: invalid JSON: nested deeper"):
        load_records(doc)
    doc.write_text(json.dumps([sft_rows[0]]).replace("]}", "]}").replace("{", '{"s": NaN, ', 1))
    loaded = load_records(doc, "sft")
    assert [str(b) for b in loaded.bad_rows] == [f"{doc}: row 1: NaN is not valid JSON "
                                                 "(write null, or a number)"]  # fmt: skip


def test_table_rows_count_from_one(tmp_path, sft_rows):
    import pyarrow as pa

    sft_rows[0]["source"] = ""
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(sft_rows), path)
    (bad,) = load_records(path, "sft").bad_rows
    assert (bad.location.unit, bad.location.index) == ("row", 1)


def test_file_of_another_kind_is_one_message(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": "4"}) + "\n"
                            for i in range(7473)))  # fmt: skip
    with pytest.raises(CaravanError) as info:
        read_records(path, "rlvr", on_error="quarantine", quarantine=tmp_path / "q.jsonl")
    msg = str(info.value)
    assert msg.startswith(f"{path}: not rlvr records: none of its 7473 rows has `messages`")
    assert "\n" not in msg and not (tmp_path / "q.jsonl").exists()


def test_preference_file_read_as_sft_says_what_it_looks_like(tmp_path, preference_rows):
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in preference_rows))
    with pytest.raises(CaravanError, match="it looks like preference records"):
        read_records(path, "sft")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf\n"])
def test_empty_input_is_an_error(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(CaravanError, match="empty.jsonl: holds no rows"):
        load_records(path, "sft")
    assert load_records(path, allow_empty=True).table.num_rows == 0


def test_convert_of_empty_input_fails_and_writes_nothing(tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    out = tmp_path / "out.parquet"
    code = "from caravan.records.cli import cli; cli()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "convert", str(src), str(out), "--kind", "sft"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "holds no rows" in proc.stderr and not out.exists()


def test_zero_row_output_keeps_its_schema_and_loads_with_datasets(tmp_path):
    import datasets

    path = write_records([], tmp_path / "out" / "sft.parquet", "sft")
    assert pq.read_schema(path).names == SFT.column_names
    ds = datasets.Dataset(pq.read_table(path))
    assert len(ds) == 0 and list(ds.features) == SFT.column_names
    card = (path.parent / "README.md").read_text()
    assert "pyarrow.parquet.read_table" in card  # load_dataset cannot build an empty split


def test_zero_rows_keep_the_source_schema_without_a_kind():
    import pyarrow as pa
    from caravan.records import rows_to_table

    schema = pa.schema([("text", pa.string()), ("n", pa.int64())])
    assert rows_to_table([], source_schema=schema).schema == schema


# -- local path or hub id ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["data/trian.jsonl", "./data/train", "~/x/y", "/nope/a"])
def test_path_looking_names_are_no_such_file_not_hub_ids(monkeypatch, name):
    import datasets

    def boom(*a, **kw):
        raise AssertionError("a path-looking name must not reach the hub")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    with pytest.raises(CaravanError, match=f"no such file or folder: {name}$"):
        load_records(name)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_fails_in_one_line_within_seconds(monkeypatch):
    import datasets

    def slow(*a, **kw):
        raise AssertionError("the hub must not be retried when it cannot be reached")

    monkeypatch.setattr(datasets, "load_dataset", slow)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(CaravanError) as info:
        load_records("allenai/tulu-3-sft-mixture")
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert "\n" not in msg and "cannot be reached" in msg and "HF_HUB_OFFLINE=1" in msg


def test_validate_command_names_file_and_line_and_quarantines(tmp_path, sft_rows):
    from caravan.records.cli import cli
    from click.testing import CliRunner

    path = _lines(tmp_path, "mixed", sft_rows, b'{"id": "x", "source": "caf\xe9"}')
    side = tmp_path / "q.jsonl"
    res = CliRunner(env={"COLUMNS": "400"}).invoke(
        cli, ["validate", str(path), "--kind", "sft", "--quarantine", str(side)]
    )
    assert res.exit_code == 1
    assert f"{path}: line 2" in res.output and "not UTF-8" in res.output
    assert json.loads(side.read_text())["line"] == 2
    info = CliRunner().invoke(cli, ["info", str(path)])
    assert "1 unreadable row(s), first at" in info.output and "line 2" in info.output
