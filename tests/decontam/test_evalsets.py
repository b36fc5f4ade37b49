"""Eval sets: --eval specs, local files, built-in hub names (hub mocked), clear errors."""

import pytest
from caravan.decontam.evalsets import BUILTIN_EVALS, load_eval_set, load_eval_sets, parse_eval_spec

from caravan.errors import CaravanError

from .conftest import write_jsonl, write_parquet


def test_spec_forms(tmp_path):
    assert parse_eval_spec("gsm8k").path is None
    spec = parse_eval_spec("g=/data/x.jsonl:question,answer")
    assert (spec.name, spec.path, spec.fields) == ("g", "/data/x.jsonl", ("question", "answer"))
    odd = tmp_path / "a:b.jsonl"
    odd.write_text("{}\n")
    assert parse_eval_spec(f"g={odd}").path == str(odd)  # an existing path keeps its ':'
    with pytest.raises(CaravanError, match="unknown eval set 'nope'"):
        parse_eval_spec("nope")


def test_local_file_with_fields_and_defaults(tmp_path):
    f = write_jsonl(
        tmp_path / "e.jsonl",
        [{"question": "Q one?", "answer": "A1"}, {"question": "Q two", "answer": "A2"}],
    )
    es = load_eval_set(f"mine={f}")
    assert es.fields == ["question"] and es.texts == ["Q one?", "Q two"]
    es = load_eval_set(f"mine={f}:question,answer")
    assert es.texts == ["Q one?\nA1", "Q two\nA2"]
    p = write_parquet(tmp_path / "d.parquet", [{"passage": "P", "question": "Q"}])
    assert load_eval_set(f"drop={p}").texts == ["P\nQ"]  # a built-in name brings its fields


def test_missing_field_names_the_file_and_columns(tmp_path):
    f = write_jsonl(tmp_path / "e.jsonl", [{"prompt": "x"}])
    with pytest.raises(CaravanError, match=r"no field 'question'.*available: prompt"):
        load_eval_set(f"e={f}:question")
    g = write_jsonl(tmp_path / "g.jsonl", [{"foo": "x"}])
    with pytest.raises(CaravanError, match="cannot tell which field"):
        load_eval_set(f"g={g}")


def test_empty_eval_text_is_an_error_naming_the_row(tmp_path):
    f = write_jsonl(tmp_path / "e.jsonl", [{"question": "fine"}, {"question": " ?? "}])
    with pytest.raises(CaravanError, match=r"row 2: no text"):
        load_eval_set(f"e={f}")


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(CaravanError, match="bad.parquet"):
        load_eval_set(f"e={bad}:question")
    with pytest.raises(CaravanError, match="no such file"):
        load_eval_set(f"e={tmp_path / 'none.jsonl'}")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "ok"}\n{"question": \n')
    with pytest.raises(CaravanError, match="line 2"):
        load_eval_set(f"e={broken}")


def test_builtin_offline_gives_a_clear_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CaravanError) as err:
        load_eval_set("gsm8k")
    msg = str(err.value)
    assert "openai/gsm8k" in msg and "split test" in msg
    assert "--eval gsm8k=PATH:question" in msg


def test_builtin_loads_every_config_with_its_fields(monkeypatch):
    import datasets

    calls = []

    def fake(hf_id, config=None, split=None):
        calls.append((hf_id, config, split))
        return datasets.Dataset.from_list([{"input": f"{config} question", "target": "x"}])

    monkeypatch.setattr(datasets, "load_dataset", fake)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the fake is the hub: no reachability probe
    es = load_eval_set("bbh")
    assert len(calls) == len(BUILTIN_EVALS["bbh"].configs) == 27
    assert calls[0] == ("lukaemon/bbh", "boolean_expressions", "test")
    assert es.texts[0] == "boolean_expressions question" and len(es.texts) == 27


def test_duplicate_names_are_rejected(tmp_path):
    f = write_jsonl(tmp_path / "e.jsonl", [{"question": "q"}])
    with pytest.raises(CaravanError, match="given twice"):
        load_eval_sets([f"a={f}", f"a={f}"])


def test_builtin_with_the_hub_unreachable_fails_in_one_line_within_seconds(monkeypatch):
    import socket
    import time

    import datasets

    def never(*a, **kw):
        raise AssertionError("an unreachable hub must not be asked (or retried)")

    monkeypatch.setattr(datasets, "load_dataset", never)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(CaravanError) as err:
        load_eval_set("gsm8k")
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and "cannot be reached" in msg and "--eval gsm8k=PATH:question" in msg
