"""`run_check` end to end on small files: planted contamination, report, matches, errors."""

import json

import pyarrow.parquet as pq
import pytest
from caravan.decontam.check import CheckConfig, run_check
from caravan.decontam.evalsets import EvalSet

from caravan.errors import CaravanError

from .conftest import write_jsonl, write_parquet

EVAL = [
    "Natalia sold clips to forty eight of her friends in April and then half as many in May",
    "Weng earns twelve dollars an hour for babysitting and yesterday she did fifty minutes",
    "Betty is saving money for a new wallet which costs one hundred dollars in total",
    "James writes a three page letter to two different friends twice a week every year",
]


def _eval_set():
    return EvalSet("toy", "toy.jsonl", ["question"], list(EVAL), list(range(len(EVAL))))


def _msgs(user, assistant="ok"):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _train_rows(n=40):
    rows = [
        {"id": i, "messages": _msgs(f"row {i}: tell me about topic number {i} please")}
        for i in range(n)
    ]
    rows[3]["messages"] = _msgs("Solve this. " + EVAL[1].upper() + " How much did she earn?")
    rows[17]["messages"] = _msgs("hello", assistant=EVAL[2])  # assistant turn only
    rows[30]["messages"] = _msgs(EVAL[1])
    return rows


def _config(**kw):
    return CheckConfig(progress=False, workers=1, **kw)


def test_planted_rows_are_found_and_reported(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", _train_rows())
    report = run_check([train], [_eval_set()], _config(), tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved == json.loads(json.dumps(report))
    (res,) = saved["results"]
    assert res["eval_instances"] == 4 and res["overlapped"] == 1
    assert res["fraction"] == 0.25 and res["contaminated"] is True
    assert res["matches"] == [  # named by the rows' `id`; rows count from 1
        {"eval_row": 2, "train_id": "3", "train_row": 4, "coverage": 1.0},
        {"eval_row": 2, "train_id": "30", "train_row": 31, "coverage": 1.0},
    ]
    assert res["best_matches"] == [
        {"eval_row": 2, "train_id": "3", "train_row": 4, "coverage": 1.0}
    ]
    assert saved["rows_count_from"] == 1
    assert saved["train"][0]["rows"] == 40 and saved["train"][0]["fields"] == ["messages:user"]
    assert saved["contaminated"] == [{"train": str(train), "eval": "toy"}]
    matches = pq.read_table(tmp_path / "r.matches.parquet").to_pylist()
    assert [(m["train_id"], m["train_row"], m["eval_row"]) for m in matches] == [
        ("3", 4, 2),
        ("30", 31, 2),
    ]
    assert matches[0]["eval_text"] == EVAL[1] and "WENG EARNS" in matches[0]["train_text"]


def test_field_selects_assistant_turns(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", _train_rows())
    report = run_check(
        [train], [_eval_set()], _config(fields=["messages:user,assistant"]), tmp_path / "r.json"
    )
    assert {m["train_row"] for m in report["results"][0]["matches"]} == {4, 18, 31}


def test_dataset_threshold_is_strictly_greater(tmp_path):
    train = write_parquet(tmp_path / "train.parquet", _train_rows())
    report = run_check([train], [_eval_set()], _config(dataset_threshold=0.25), tmp_path / "r.json")
    assert report["results"][0]["fraction"] == 0.25 and not report["results"][0]["contaminated"]


def test_workers_give_the_same_result_and_cache_is_reused(tmp_path):
    rows = _train_rows(3000)
    rows[2500]["messages"] = _msgs("prefix " + EVAL[3] + " suffix")
    train = write_parquet(tmp_path / "train.parquet", rows)
    one = run_check([train], [_eval_set()], _config(batch_rows=256), tmp_path / "a.json")
    two = run_check(
        [train],
        [_eval_set()],
        CheckConfig(progress=False, workers=2, batch_rows=256),
        tmp_path / "b.json",
    )
    assert one["results"] == two["results"]
    assert {m["train_row"] for m in two["results"][0]["matches"]} == {4, 31, 2501}
    assert one["eval_index_cache_hits"] == 0 and two["eval_index_cache_hits"] == 1


def test_jsonl_prompt_column_and_several_datasets(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "nothing"}, {"prompt": EVAL[0]}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": "clean"}])
    report = run_check([a, b], [_eval_set()], _config(), tmp_path / "r.json")
    assert [(r["train"], r["overlapped"]) for r in report["results"]] == [(str(a), 1), (str(b), 0)]


def test_missing_column_names_the_file(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"text": "x"}])
    with pytest.raises(CaravanError, match=r"t.jsonl: no `messages` or `prompt` column.*text"):
        run_check([train], [_eval_set()], _config(), tmp_path / "r.json")
    with pytest.raises(CaravanError, match=r"no column 'body'"):
        run_check([train], [_eval_set()], _config(fields=["body"]), tmp_path / "r.json")


def test_bad_rows_and_unreadable_files(tmp_path):
    bad_json = tmp_path / "t.jsonl"
    bad_json.write_text('{"prompt": "fine"}\n\n{"prompt": oops}\n')
    with pytest.raises(CaravanError, match=r"t.jsonl: line 3: invalid JSON"):
        run_check([bad_json], [_eval_set()], _config(), tmp_path / "r.json")
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CaravanError, match="g.parquet"):
        run_check([garbage], [_eval_set()], _config(), tmp_path / "r.json")
    with pytest.raises(CaravanError, match="not found"):
        run_check([tmp_path / "nope.parquet"], [_eval_set()], _config(), tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_empty_training_text(tmp_path):
    some = write_jsonl(
        tmp_path / "s.jsonl", [{"prompt": ""}, {"prompt": EVAL[0]}, {"prompt": None}]
    )
    report = run_check([some], [_eval_set()], _config(), tmp_path / "r.json")
    assert report["train"][0]["rows_without_text"] == 2
    assert report["train"][0]["rows_without_text_examples"] == [1, 3]
    none = write_jsonl(tmp_path / "n.jsonl", [{"prompt": ""}, {"prompt": "  "}])
    with pytest.raises(CaravanError, match="none of its 2 rows has text"):
        run_check([none], [_eval_set()], _config(), tmp_path / "r.json")


def test_bad_settings(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "x"}])
    with pytest.raises(CaravanError, match="--instance-threshold"):
        run_check([train], [_eval_set()], _config(instance_threshold=1.5), tmp_path / "r.json")
    with pytest.raises(CaravanError, match="--ngram"):
        run_check([train], [_eval_set()], _config(ngram=0), tmp_path / "r.json")


def test_spawned_workers_agree_with_forked_ones(tmp_path, monkeypatch):
    import threading

    rows = _train_rows(600)
    train = write_parquet(tmp_path / "train.parquet", rows)
    forked = run_check(
        [train],
        [_eval_set()],
        CheckConfig(progress=False, workers=2, batch_rows=100),
        tmp_path / "a.json",
    )
    monkeypatch.setattr(threading, "active_count", lambda: 2)  # "other threads exist": spawn
    spawned = run_check(
        [train],
        [_eval_set()],
        CheckConfig(progress=False, workers=2, batch_rows=100),
        tmp_path / "b.json",
    )
    assert forked["results"] == spawned["results"]
    assert {m["train_row"] for m in spawned["results"][0]["matches"]} == {4, 31}


def test_an_interrupted_check_resumes_where_it_stopped(tmp_path, monkeypatch):
    import caravan.decontam.check as check_mod
    from caravan.decontam.stages import Check

    rows = _train_rows(1000)
    rows[900]["messages"] = _msgs(EVAL[0])
    train = write_parquet(tmp_path / "train.parquet", rows)
    cfg = _config(batch_rows=100)
    monkeypatch.setattr(check_mod, "SHARD_BATCHES", {"local": 1, "ray": 1})  # 100-row shards
    real = Check._matched
    calls = []

    def dies_at_row_500(self, shard):
        if shard.column("_decontam_row")[0].as_py() == 500:
            raise KeyboardInterrupt
        calls.append(shard.column("_decontam_row")[0].as_py())
        return real(self, shard)

    monkeypatch.setattr(Check, "_matched", dies_at_row_500)
    with pytest.raises(KeyboardInterrupt):
        run_check([train], [_eval_set()], cfg, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()
    assert calls == [0, 100, 200, 300, 400]
    assert len(list((tmp_path / ".r.json.journal").glob("*.json"))) == 5
    calls.clear()
    monkeypatch.setattr(
        Check, "_matched", lambda self, s: (calls.append(s.column(0)[0].as_py()), real(self, s))[1]
    )
    report = run_check([train], [_eval_set()], cfg, tmp_path / "r.json")
    assert calls == ["500", "600", "700", "800", "900"]  # the first 500 rows were replayed
    assert report["resumed_rows"] == {str(train): 500}
    assert {m["train_row"] for m in report["results"][0]["matches"]} == {4, 31, 901}
    assert pq.read_table(tmp_path / "r.matches.parquet").num_rows == 3
    assert report["train"][0]["rows"] == 1000
    assert not (tmp_path / ".r.json.journal").exists()
    # a different setting does not reuse a journal, nor does --restart (resume=False)
    for other in (_config(batch_rows=100, ngram=7), _config(batch_rows=100, resume=False)):
        monkeypatch.setattr(Check, "_matched", dies_at_row_500)
        with pytest.raises(KeyboardInterrupt):
            run_check([train], [_eval_set()], cfg, tmp_path / "r.json")
        monkeypatch.setattr(Check, "_matched", real)
        assert run_check([train], [_eval_set()], other, tmp_path / "r.json")["resumed_rows"] == {}


def test_rows_are_named_by_id_whatever_their_order(tmp_path):
    import random

    rows = _train_rows(300)
    rows[250]["messages"] = _msgs("prefix " + EVAL[3] + " suffix")
    for r in rows[1::2]:
        del r["id"]  # half the rows have no id: their content id names them
    shuffled = list(rows)
    random.Random(7).shuffle(shuffled)
    a = run_check([write_parquet(tmp_path / "a.parquet", rows)], [_eval_set()],
                  _config(batch_rows=64), tmp_path / "a.json")  # fmt: skip
    b = run_check([write_jsonl(tmp_path / "b.jsonl", shuffled)], [_eval_set()],
                  _config(batch_rows=64), tmp_path / "b.json")  # fmt: skip

    def named(report):
        return sorted((m["train_id"], m["eval_row"]) for m in report["results"][0]["matches"])

    assert named(a) == named(b) and len(named(a)) == 3
    assert {i for i, _ in named(a)} > {"30", "250"}  # a row with an `id` is named by it
    assert {m["train_row"] for m in a["results"][0]["matches"]} == {4, 31, 251}
    assert {m["train_row"] for m in b["results"][0]["matches"]} != {4, 31, 251}
