"""`run_remove`: the cleaned file plus the removed rows give back the original dataset."""

import json

import pyarrow.parquet as pq
import pytest
from caravan.decontam.check import CheckConfig, run_check
from caravan.decontam.remove import run_remove

from caravan.errors import CaravanError

from .conftest import write_jsonl, write_parquet
from .test_check import EVAL, _eval_set, _msgs, _train_rows


def _check(tmp_path, train, **kw):
    run_check(
        [train], [_eval_set()], CheckConfig(progress=False, workers=1, **kw), tmp_path / "r.json"
    )
    return tmp_path / "r.json"


def test_parquet_round_trip(tmp_path):
    rows = _train_rows()
    train = write_parquet(tmp_path / "train.parquet", rows)
    report = _check(tmp_path, train)
    res = run_remove(train, report, tmp_path / "out" / "clean.parquet")
    assert (res.kept, res.removed) == (38, 2)
    clean = pq.read_table(res.output)
    removed = pq.read_table(res.removed_path)
    assert clean.schema.names == ["id", "messages"]
    assert b"caravan" in clean.schema.metadata  # provenance
    gone = removed.to_pylist()
    assert [r["decontam_row"] for r in gone] == [4, 31]  # 1-based, like the report
    assert gone[0]["decontam_eval"] == "toy" and gone[0]["decontam_eval_row"] == 2
    assert gone[0]["decontam_eval_text"] == EVAL[1] and gone[0]["decontam_coverage"] == 1.0
    # round trip: put the removed rows back at their positions
    back = clean.to_pylist()
    for r in gone:
        row = r["decontam_row"] - 1
        back.insert(row, {k: v for k, v in r.items() if not k.startswith("decontam_")})
    assert back == pq.read_table(train).to_pylist()
    assert (res.output.parent / "README.md").exists()


def test_jsonl_round_trip_is_byte_exact(tmp_path):
    rows = [
        {"prompt": "clean one"},
        {"prompt": EVAL[0] + " extra"},
        {"prompt": "clean two", "x": [1, 2]},
    ]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    report = _check(tmp_path, train)
    res = run_remove(train, report, tmp_path / "clean.jsonl")
    lines = train.read_text().splitlines(keepends=True)
    assert res.output.read_text() == lines[0] + lines[2]
    (gone,) = pq.read_table(res.removed_path).to_pylist()
    assert gone["prompt"] == rows[1]["prompt"] and gone["decontam_row"] == 2
    # JSONL in, Parquet out keeps columns
    res2 = run_remove(train, report, tmp_path / "clean.parquet")
    assert pq.read_table(res2.output).to_pylist() == [
        {"prompt": "clean one", "x": None},
        {"prompt": "clean two", "x": [1, 2]},
    ]


def test_only_contaminated_keeps_rows_of_clean_eval_sets(tmp_path):
    rows = _train_rows()
    train = write_parquet(tmp_path / "train.parquet", rows)
    report = _check(tmp_path, train, dataset_threshold=0.5)  # 25% overlapped: not contaminated
    res = run_remove(train, report, tmp_path / "clean.parquet", only_contaminated=True)
    assert (res.kept, res.removed) == (40, 0)
    assert pq.read_table(res.removed_path).num_rows == 0


def test_changed_or_unknown_training_file_is_refused(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", _train_rows())
    report = _check(tmp_path, train)
    rows = _train_rows()
    rows.insert(0, {"id": -1, "messages": _msgs("new first row")})
    write_parquet(train, rows)
    with pytest.raises(CaravanError, match="changed since"):
        run_remove(train, report, tmp_path / "clean.parquet")
    other = write_jsonl(tmp_path / "other.jsonl", [{"prompt": "x"}])
    with pytest.raises(CaravanError, match="has no results for"):
        run_remove(other, report, tmp_path / "clean.parquet")
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(CaravanError, match="not a decontam report"):
        run_remove(train, tmp_path / "junk.json", tmp_path / "clean.parquet")
    assert not (tmp_path / "clean.parquet").exists()


def test_refuses_to_overwrite_the_input(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", _train_rows())
    report = _check(tmp_path, train)
    with pytest.raises(CaravanError, match="refusing to overwrite"):
        run_remove(train, report, train)
    assert json.loads(report.read_text())["results"][0]["overlapped"] == 1


def test_folder_of_files_is_numbered_in_order(tmp_path):
    import pyarrow as pa
    import pyarrow.ipc as ipc

    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"prompt": "first"}, {"prompt": EVAL[0]}])
    table = pa.table({"prompt": ["third", EVAL[3] + " tail", "fifth"]})
    with ipc.new_stream(folder / "b.arrow", table.schema) as w:
        w.write_table(table)
    report = _check(tmp_path, folder)
    rows = json.loads(report.read_text())["results"][0]["matches"]
    assert sorted(m["train_row"] for m in rows) == [2, 4]
    res = run_remove(folder, report, tmp_path / "clean.parquet")
    assert pq.read_table(res.output)["prompt"].to_pylist() == ["first", "third", "fifth"]
    assert [r["decontam_row"] for r in pq.read_table(res.removed_path).to_pylist()] == [2, 4]


def test_a_report_written_before_rows_counted_from_one_still_removes_the_right_rows(tmp_path):
    rows = [{"prompt": "clean one"}, {"prompt": EVAL[0] + " extra"}, {"prompt": "clean two"}]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    report = _check(tmp_path, train)
    legacy = json.loads(report.read_text())
    assert legacy.pop("rows_count_from") == 1
    for r in legacy["results"]:
        for key in ("matches", "best_matches"):
            for m in r.get(key, []):
                del m["train_id"]  # written before rows were named by id
                m["train_row"] -= 1
                m["eval_row"] -= 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(legacy))
    res = run_remove(train, old, tmp_path / "clean.jsonl")
    assert (res.kept, res.removed) == (2, 1)
    (gone,) = pq.read_table(res.removed_path).to_pylist()
    assert gone["prompt"] == rows[1]["prompt"] and gone["decontam_row"] == 2


def test_rows_are_removed_by_the_id_the_report_names(tmp_path):
    rows = [
        {"id": "a", "prompt": "clean one"},
        {"id": "b", "prompt": EVAL[0] + " extra"},
        {"id": "c", "prompt": "clean two"},
        {"id": "d", "prompt": "tail " + EVAL[3]},
    ]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    report = _check(tmp_path, train)
    saved = json.loads(report.read_text())
    assert [m["train_id"] for m in saved["results"][0]["matches"]] == ["b", "d"]
    for m in saved["results"][0]["matches"]:
        m["train_row"] = 1  # a stale position: the id decides
    report.write_text(json.dumps(saved))
    res = run_remove(train, report, tmp_path / "clean.parquet")
    assert pq.read_table(res.output)["id"].to_pylist() == ["a", "c"]
    gone = pq.read_table(res.removed_path).to_pylist()
    assert [(g["decontam_train_id"], g["decontam_row"]) for g in gone] == [("b", 2), ("d", 4)]


def test_identical_rows_without_ids_share_their_content_id_and_both_go(tmp_path):
    leak = {"messages": _msgs(EVAL[2])}
    rows = [{"messages": _msgs("first")}, leak, {"messages": _msgs("second")}, dict(leak)]
    train = write_parquet(tmp_path / "t.parquet", rows)
    report = _check(tmp_path, train)
    (res,) = json.loads(report.read_text())["results"]
    ids = {m["train_id"] for m in res["matches"]}
    assert len(ids) == 1 and [m["train_row"] for m in res["matches"]] == [2, 4]
    out = run_remove(train, report, tmp_path / "clean.parquet")
    assert (out.kept, out.removed) == (2, 2)
    assert pq.read_table(out.removed_path)["decontam_train_id"].to_pylist() == [*ids, *ids]
