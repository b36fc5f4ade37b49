import json
import os
import subprocess
import sys
import textwrap

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from caravan.records import Provenance, RecordValidationError, read_records, write_records
from caravan.records.provenance import METADATA_KEY

from caravan.errors import CaravanError


def _load(path):
    builder = "arrow" if path.suffix == ".arrow" else "parquet"
    return datasets.load_dataset(builder, data_files=str(path), split="train")


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
@pytest.mark.parametrize("kind", ["sft", "preference", "rlvr"])
def test_round_trip_through_datasets_is_identical(tmp_path, request, kind, suffix):
    rows = request.getfixturevalue(f"{kind}_rows")
    path = write_records(rows, tmp_path / f"out{suffix}", kind)
    ds = _load(path)
    assert ds.to_list() == rows
    assert read_records(path, kind).to_pylist() == rows


def test_trl_sees_the_columns_it_expects(tmp_path, sft_rows, preference_rows):
    data_utils = pytest.importorskip("trl.data_utils")
    sft = _load(write_records(sft_rows, tmp_path / "sft.parquet", "sft"))
    prefs = _load(write_records(preference_rows, tmp_path / "p.parquet", "preference"))
    assert data_utils.is_conversational(sft[0])
    assert data_utils.is_conversational(prefs[0])
    assert {"prompt", "chosen", "rejected"} <= set(prefs.column_names)


def test_writer_refuses_invalid_rows_and_writes_nothing(tmp_path, sft_rows):
    sft_rows[1]["messages"] = []
    target = tmp_path / "out.parquet"
    with pytest.raises(RecordValidationError, match="row 2: `messages` is an empty list"):
        write_records(sft_rows, target, "sft")
    assert not target.exists()


def test_provenance_is_stored_and_secrets_are_not(tmp_path, monkeypatch, sft_rows):
    secret = "sk-test-abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-123456789")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in sft_rows))
    prov = Provenance.capture(
        config={
            "model": "gpt-4o",
            "api_key": secret,
            "max_tokens": 512,
            "headers": {"Authorization": "Bearer abcdefghijklmnop"},
            "note": "uses tok-123456789 as a fallback",
        },
        inputs={str(src): "sha256:feed"},
        command=["synth", "generate", "--api-key", secret, "api_key=" + secret, "-n", "5"],
    )
    path = write_records(sft_rows, tmp_path / "out.parquet", "sft", provenance=prov)
    meta = pq.read_schema(path).metadata[METADATA_KEY].decode()
    card = (tmp_path / "README.md").read_text()
    for text in (meta, card):
        assert secret not in text and "abcdefghijklmnop" not in text and "tok-123456789" not in text
    stored = json.loads(meta)
    assert stored["config"]["max_tokens"] == 512 and stored["config"]["model"] == "gpt-4o"
    assert stored["command"][:3] == ["synth", "generate", "--api-key"]
    assert stored["kind"] == "sft" and stored["rows"] == len(sft_rows)
    assert stored["inputs"] == [{"source": str(src), "fingerprint": "sha256:feed"}]
    assert stored["tool_version"] and stored["created_at"]


def test_stale_huggingface_features_metadata_is_dropped(tmp_path, sft_rows):
    ds = datasets.Dataset.from_list([{"id": "x", "other": 1}])
    src = tmp_path / "hf.parquet"
    ds.to_parquet(str(src))
    assert b"huggingface" in pq.read_schema(src).metadata
    table = pq.read_table(src).append_column("more", pa.array(["y"]))
    out = write_records(table, tmp_path / "out.parquet")
    assert b"huggingface" not in pq.read_schema(out).metadata
    assert _load(out).column_names == ["id", "other", "more"]


def test_crash_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, sft_rows):
    target = tmp_path / "out.parquet"
    write_records(sft_rows[:2], target, "sft")
    before = target.read_bytes()

    def explode(self, batch, *a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", explode)
    with pytest.raises(OSError, match="disk full"):
        write_records(sft_rows, target, "sft")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "out.parquet"]


def test_sigkill_mid_write_never_leaves_a_half_file(tmp_path):
    """A process killed while writing leaves the previous complete file in place."""
    target = tmp_path / "big.parquet"
    script = textwrap.dedent(
        f"""
        import os, signal
        import pyarrow.parquet as pq
        from caravan.records import write_records
        rows = [{{"id": str(i), "messages": [{{"role": "user", "content": "q" * 50}},
                 {{"role": "assistant", "content": "a" * 50}}], "source": "s"}}
                for i in range(150_000)]
        write_records(rows[:10], {str(target)!r}, "sft")
        real = pq.ParquetWriter.write_batch
        def write_then_die(self, batch, *a, **kw):
            real(self, batch, *a, **kw)
            os.kill(os.getpid(), signal.SIGKILL)
        pq.ParquetWriter.write_batch = write_then_die
        write_records(rows, {str(target)!r}, "sft")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), timeout=120)
    assert proc.returncode == -9
    table = read_records(target, "sft")
    assert table.num_rows == 10
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") for name in leftovers)
    assert read_records(tmp_path, "sft").num_rows == 10  # folder reads ignore the temp file


def test_written_files_are_not_private(tmp_path, sft_rows):
    path = write_records(sft_rows, tmp_path / "out.parquet", "sft")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_output_format_must_be_known(tmp_path, sft_rows):
    with pytest.raises(CaravanError, match="write to a .parquet or .arrow"):
        write_records(sft_rows, tmp_path / "out.csv", "sft")
