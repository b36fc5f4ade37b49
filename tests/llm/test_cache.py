"""The SQLite cache: durable responses, failure records, batch journal, no secrets."""

from __future__ import annotations

import sqlite3

import pytest
from caravan.llm.cache import ResponseCache
from caravan.llm.types import Response, Usage

from caravan.errors import CaravanError


def test_roundtrip_is_cached_and_wal(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    resp = Response(
        "r1", text="hi", parsed={"a": 1}, finish_reason="stop", usage=Usage(3, 4), cost_usd=0.1
    )
    cache.put_many([("k1", "openai", "m", resp)])
    cache.close()
    again = ResponseCache(path).get("k1", "other-id")
    assert again.cached and again.request_id == "other-id"
    assert (again.text, again.parsed, again.usage, again.cost_usd) == (
        "hi",
        {"a": 1},
        Usage(3, 4),
        0.1,
    )
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_success_clears_an_earlier_failure(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.record_failures([("k", Response("r", error="boom", error_kind="server"))])
    assert len(cache.failures()) == 1
    cache.put_many([("k", "openai", "m", Response("r", text="ok"))])
    assert cache.failures() == []


def test_secrets_in_errors_are_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdef123456")
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.record_failures(
        [
            (
                "k",
                Response(
                    "r",
                    error="auth failed for tok-abcdef123456 / sk-ant-api03-zzzzzzzzzz",
                    error_kind="auth",
                ),
            )
        ]
    )
    cache.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"tok-abcdef123456" not in blob and b"sk-ant-api03" not in blob


def test_batch_journal(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    items = {"c1": "k1", "c2": "k2"}
    cache.add_batch("submitting:t", "openai", {"token": "t"}, items, "submitting")
    assert cache.open_batches("openai")[0]["status"] == "submitting"
    cache.confirm_batch("submitting:t", "b1", {"token": "t", "input_file_id": "f"})
    assert cache.open_batches("openai") == [
        {
            "batch_id": "b1",
            "info": {"token": "t", "input_file_id": "f"},
            "items": items,
            "status": "submitted",
        }
    ]
    assert cache.open_batches("anthropic") == []
    cache.set_batch_status("b1", "collected")
    assert cache.open_batches("openai") == []


def test_not_a_database_names_the_file(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CaravanError, match="bad.sqlite"):
        ResponseCache(bad)


def test_cache_path_that_is_a_folder_names_it(tmp_path):
    (tmp_path / "c.sqlite").mkdir()
    with pytest.raises(CaravanError, match="c.sqlite: not a usable cache database"):
        ResponseCache(tmp_path / "c.sqlite")


def test_unreadable_cached_row_names_the_file_and_the_way_out(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put_many([("k1", "openai", "m", Response("a", text="hi"))])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE responses SET response = '' WHERE key = 'k1'")
    with pytest.raises(CaravanError, match=r"c\.sqlite: the cached response .* --refresh"):
        cache.get_many(["k1"])


def test_empty_cache_file_is_a_fresh_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    path.touch()
    cache = ResponseCache(path)
    assert cache.count() == 0 and cache.get_many(["k"]) == {}


def test_cache_file_corrupted_after_opening_names_the_file(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put_many(
        [(f"k{i}", "openai", "m", Response(str(i), text="x" * 2000)) for i in range(200)]
    )
    cache.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CaravanError, match="c.sqlite: not a usable cache database"):
        ResponseCache(path).get_many([f"k{i}" for i in range(200)])


def _answer(text: str) -> Response:
    return Response(request_id="x", text=text, usage=Usage(1, 1))


def test_worker_shards_are_read_by_every_worker_and_by_a_plain_run(tmp_path):
    from caravan.llm import cache as cache_mod

    home = tmp_path / "responses.sqlite"
    a, b = cache_mod.ShardedCache(home, "worker-a"), cache_mod.ShardedCache(home, "worker-b")
    a.put_many([("k1", "openai", "gpt-4o", _answer("one"))])
    b.put_many([("k2", "openai", "gpt-4o", _answer("two"))])
    assert not home.exists()  # nobody wrote the main file: one writer per file
    assert set(a.get_many(["k1", "k2", "k3"])) == {"k1", "k2"}
    # a rerun on one worker (another shard name) and a plain local run both find both
    c = cache_mod.ShardedCache(home, "worker-c")
    assert c.get("k2").text == "two" and c.get("k1").text == "one"
    plain = cache_mod.open_shared_cache(home)
    assert isinstance(plain, cache_mod.ShardedCache) and plain.path == home
    assert set(plain.get_many(["k1", "k2"])) == {"k1", "k2"}
    for x in (a, b, c, plain):
        x.close()
    # no shards anywhere: the plain single file, as before
    lone = cache_mod.open_shared_cache(tmp_path / "other.sqlite")
    assert type(lone) is cache_mod.ResponseCache
    lone.close()
