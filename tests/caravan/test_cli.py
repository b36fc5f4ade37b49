"""The console scripts: help for every group, one-line errors, tracebacks only on --debug."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GROUPS = ["synth", "prefs", "decontam", "verify", "train"]
BIN = Path(sys.executable).parent


def _run(*args, cwd=None):
    exe = shutil.which(args[0], path=str(BIN)) or shutil.which(args[0])
    if exe is None:
        pytest.skip(f"console script {args[0]} is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if k != "CARAVAN_DEBUG"}
    return subprocess.run(
        [exe, *args[1:]], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.mark.parametrize("name", [*GROUPS, "caravan"])
def test_every_group_explains_itself(name):
    proc = _run(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: {name}" in proc.stdout
    assert "--debug" in proc.stdout


def test_caravan_carries_every_group():
    out = _run("caravan", "--help").stdout
    for name in [*GROUPS, "records"]:
        assert f"  {name} " in out


def test_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "missing.jsonl"
    proc = _run("caravan", "records", "info", str(missing))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: no such file or folder: {missing}"
    proc = _run("caravan", "--debug", "records", "info", str(missing))
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "CaravanError" in proc.stderr


def test_usage_errors_exit_2(tmp_path):
    proc = _run("caravan", "records", "validate", "x.jsonl", "--kind", "chat")
    assert proc.returncode == 2
    assert "'chat' is not one of" in proc.stderr


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_records_validate_lists_bad_rows(tmp_path, sft_rows):
    sft_rows[2]["messages"][0]["role"] = "bot"
    src = tmp_path / "in.jsonl"
    _jsonl(src, sft_rows)
    proc = _run("caravan", "records", "validate", str(src), "--kind", "sft")
    assert proc.returncode == 1
    assert f"{len(sft_rows) - 1}/{len(sft_rows)} valid sft rows" in proc.stdout
    assert "line 3" in proc.stderr and "'bot'" in proc.stderr


def test_records_convert_writes_validated_parquet_and_quarantine(tmp_path, sft_rows):
    import datasets

    sft_rows[0]["source"] = ""
    src = tmp_path / "in.jsonl"
    _jsonl(src, sft_rows)
    out = tmp_path / "out" / "sft.parquet"
    proc = _run("caravan", "records", "convert", str(src), str(out), "--kind", "sft")
    assert proc.returncode == 1 and "line 1: `source` is empty" in proc.stderr
    assert not out.exists()
    side = tmp_path / "bad.jsonl"
    proc = _run(
        "caravan",
        "records",
        "convert",
        str(src),
        str(out),
        "--kind",
        "sft",
        "--quarantine",
        str(side),
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        datasets.load_dataset("parquet", data_files=str(out), split="train").to_list()
        == sft_rows[1:]
    )
    assert json.loads(side.read_text())["line"] == 1
    info = _run("caravan", "records", "info", str(out))
    assert '"kind": "sft"' in info.stdout and str(src) in info.stdout
