import gzip
import json

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from caravan.records import load_records, read_records

from caravan.errors import CaravanError


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows)


def _write(path, rows, fmt):
    table = pa.Table.from_pylist(rows)
    if fmt == "jsonl":
        path.write_text(_jsonl(rows))
    elif fmt == "jsonl.gz":
        with gzip.open(path, "wt") as fh:
            fh.write(_jsonl(rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "json-wrapped":
        path.write_text(json.dumps({"data": rows}))
    elif fmt == "json-lines-in-.json":
        path.write_text(_jsonl(rows))
    elif fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow-file":
        feather.write_feather(table, path, compression="uncompressed")
    elif fmt == "arrow-stream":
        with ipc.new_stream(str(path), table.schema) as writer:
            writer.write_table(table)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("jsonl", "d.jsonl"),
        ("jsonl.gz", "d.jsonl.gz"),
        ("json", "d.json"),
        ("json-wrapped", "d.json"),
        ("json-lines-in-.json", "d.json"),
        ("parquet", "d.parquet"),
        ("arrow-file", "d.arrow"),
        ("arrow-stream", "d.arrow"),
    ],
)
def test_each_input_format_reads_the_same_rows(tmp_path, sft_rows, fmt, name):
    path = tmp_path / name
    _write(path, sft_rows, fmt)
    table = read_records(path, "sft")
    assert table.to_pylist() == sft_rows
    assert table.schema.field("messages").type == pa.list_(
        pa.struct([("role", pa.string()), ("content", pa.string())])
    )


def test_extra_columns_survive_even_when_missing_from_first_row(tmp_path, sft_rows):
    sft_rows[3]["metadata"] = {"persona": "a chef"}
    path = tmp_path / "d.jsonl"
    path.write_text(_jsonl(sft_rows))
    rows = read_records(path, "sft").to_pylist()
    assert rows[3]["metadata"] == {"persona": "a chef"}
    assert rows[0]["metadata"] is None


def test_mixed_types_in_an_extra_column_name_the_column(tmp_path, sft_rows):
    sft_rows[0]["weird"] = 1
    sft_rows[1]["weird"] = {"a": 1}
    path = tmp_path / "d.jsonl"
    path.write_text(_jsonl(sft_rows))
    with pytest.raises(CaravanError, match="column `weird`"):
        read_records(path, "sft")


def test_folder_reads_all_data_files_and_skips_hidden(tmp_path, sft_rows):
    (tmp_path / "a.jsonl").write_text(_jsonl(sft_rows[:3]))
    pq.write_table(pa.Table.from_pylist(sft_rows[3:]), tmp_path / "b.parquet")
    (tmp_path / ".b.parquet.123.tmp").write_text("half a file")
    (tmp_path / "README.md").write_text("card")
    loaded = load_records(tmp_path, "sft")
    assert loaded.table.column("id").to_pylist() == [r["id"] for r in sft_rows]
    assert len(loaded.files) == 2


def test_unknown_suffix_and_missing_path_are_clear(tmp_path):
    bad = tmp_path / "data.csv"
    bad.write_text("a,b\n")
    with pytest.raises(CaravanError, match="data.csv: cannot tell the format"):
        read_records(bad)
    with pytest.raises(CaravanError, match="no such file or folder: .*nothing.jsonl"):
        read_records(tmp_path / "nothing.jsonl")


def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CaravanError, match="broken.parquet: cannot read as parquet"):
        read_records(path)


def test_hub_id_goes_to_datasets_with_split_and_config(monkeypatch, sft_rows):
    import datasets

    calls = []

    def fake_load(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(sft_rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no reachability probe: the fake is the hub
    loaded = load_records("allenai/some-sft", "sft", split="test", config="en")
    assert calls == [("allenai/some-sft", "en", "test")]
    assert loaded.table.to_pylist() == sft_rows
    assert loaded.source == "hf:allenai/some-sft[en]/test"


def test_local_path_wins_over_hub_id(tmp_path, monkeypatch, sft_rows):
    import datasets

    def boom(*a, **kw):
        raise AssertionError("hub must not be asked when a local path exists")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    folder = tmp_path / "allenai" / "some-sft"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text(_jsonl(sft_rows))
    monkeypatch.chdir(tmp_path)
    assert read_records("allenai/some-sft", "sft").num_rows == len(sft_rows)


def test_unreachable_hub_id_is_one_clear_error(monkeypatch):
    import datasets

    def offline(*a, **kw):
        raise ConnectionError("Couldn't reach the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CaravanError, match="'org/missing' is not a local path.*Couldn't reach"):
        read_records("org/missing", "sft")


def test_real_gsm8k_file_reads(shared_data):
    table = read_records(shared_data / "train" / "gsm8k_train.jsonl")
    assert table.num_rows == 7473
    assert {"question", "answer"} <= set(table.column_names)
