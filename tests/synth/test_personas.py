"""Persona files: loading, ids, seeded sampling, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest
from caravan.records import write_records
from caravan.synth.personas import load_personas, persona_id, sample_personas

from caravan.errors import CaravanError


def test_bundled_example_has_twenty_distinct_personas():
    pset = load_personas("example")
    assert len(pset.personas) == 20
    assert len({p.id for p in pset.personas}) == 20
    assert all(p.text.endswith(".") for p in pset.personas)


def test_ids_from_column_or_text_hash(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"persona": "A baker."}\n{"persona": "A  pilot."}\n{"persona": "A baker."}\n')
    got = load_personas(f).personas
    assert [p.text for p in got] == ["A baker.", "A pilot."]  # duplicate kept once
    assert got[0].id == persona_id("A baker.")
    pq = tmp_path / "p.parquet"
    write_records([{"who": "A sailor.", "pid": "s1"}], pq)
    (p,) = load_personas(pq, field="who", id_field="pid").personas
    assert (p.id, p.text) == ("s1", "A sailor.")


def test_sampling_is_seeded_without_replacement():
    personas = load_personas("example").personas
    a = sample_personas(personas, 5, seed=3)
    assert a == sample_personas(personas, 5, seed=3)
    assert sample_personas(personas, 9, seed=3)[:5] == a
    assert len({p.id for p in sample_personas(personas, 20, seed=1)}) == 20
    assert a != sample_personas(personas, 5, seed=4)
    with pytest.raises(CaravanError, match="asked for 21 personas but the file holds 20"):
        sample_personas(personas, 21, seed=0)


def test_missing_field(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"description": "A baker."}\n')
    with pytest.raises(
        CaravanError, match=r"p.jsonl: no `persona` column \(columns: description\)"
    ):
        load_personas(f)


def test_empty_file(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("")
    with pytest.raises(CaravanError, match="p.jsonl: holds no rows; an empty input is an error"):
        load_personas(f)


def test_blank_persona_names_the_1_based_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"persona": "A baker."}) + "\n" + json.dumps({"persona": "  "}) + "\n")
    with pytest.raises(CaravanError, match=r"p.jsonl: line 2: `persona` is empty"):
        load_personas(f)


def test_duplicate_personas_are_reported(tmp_path):
    f = tmp_path / "p.jsonl"
    rows = [{"persona": "A baker."}, {"persona": "A pilot."}, {"persona": " A  baker. "}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pset = load_personas(f)
    assert [p.text for p in pset.personas] == ["A baker.", "A pilot."]
    assert pset.duplicates == [f"{f}: line 3 repeats line 1"]
    assert "1 duplicate persona(s)" in pset.duplicate_note()


def test_bom_and_non_utf8_persona_files(tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"persona": "A baker."}]).encode())
    assert [p.text for p in load_personas(bom).personas] == ["A baker."]
    bom_lines = tmp_path / "bom.jsonl"
    bom_lines.write_bytes(b"\xef\xbb\xbf" + json.dumps({"persona": "A baker."}).encode() + b"\n")
    assert [p.text for p in load_personas(bom_lines).personas] == ["A baker."]
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"persona": "A baker."}\n{"persona": "Caf\xe9 owner."}\n')
    with pytest.raises(CaravanError, match=r"latin.jsonl: line 2: not UTF-8"):
        load_personas(latin)


def test_unreadable_files(tmp_path):
    broken = tmp_path / "p.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(CaravanError, match="p.parquet"):
        load_personas(broken)
    bad_json = tmp_path / "q.jsonl"
    bad_json.write_text('{"persona": "ok."}\n{"persona": \n')
    with pytest.raises(CaravanError, match="q.jsonl: line 2: invalid JSON"):
        load_personas(bad_json)
    with pytest.raises(CaravanError, match="no such file or folder: ./nope.jsonl"):
        load_personas("./nope.jsonl")


def test_cli_reports_bad_persona_file_in_one_line(synth, tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"name": "x"}\n')
    res = synth("generate", "--persona", f, "--task", "math", "--output", tmp_path / "o.parquet",
                "--model", "gpt-4o", "--base-url", "http://127.0.0.1:9/v1")  # fmt: skip
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0
    assert "no `persona` column" in res.stderr and "--persona-field" in res.stderr


def test_hub_id_offline_fails_with_the_dataset_named(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CaravanError, match="'proj-persona/PersonaHub' is not a local path"):
        load_personas("proj-persona/PersonaHub", config="persona")
