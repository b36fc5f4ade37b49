"""Cache keys that cannot lie: two servers, or one retrained checkpoint, never share answers."""

from __future__ import annotations

import json
import os
import time

import pyarrow.parquet as pq
import pytest
from caravan.llm.cache_scope import cache_scope, endpoint
from caravan.llm.weights import weights_fingerprint
from caravan.synth.cli import cli

from tests.llm import api_double


def _write_prompts(path, n=4):
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "messages": [{"role": "user", "content": f"Say {i}"}]})
            + "\n"
            for i in range(n)
        )
    )
    return path


def _run(args):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    return info.value.code


def _complete(src, out, cache, base_url, *extra):
    return _run([
        "complete", "--input", str(src), "--output", str(out), "--model", "gpt-4o",
        "--base-url", base_url, "--cache", str(cache), *extra,
    ])  # fmt: skip


@pytest.fixture
def second_double():
    server = api_double.ApiDouble(voice="other").start()
    yield server
    server.stop()


def test_second_server_is_asked_not_served_the_first_servers_answers(
    double, second_double, tmp_path, capsys
):
    src = _write_prompts(tmp_path / "p.jsonl")
    cache = tmp_path / "one-cache.sqlite"
    assert _complete(src, tmp_path / "a.parquet", cache, double.base_url + "/v1") == 0
    assert _complete(src, tmp_path / "b.parquet", cache, second_double.base_url + "/v1") == 0
    first = [r["response"] for r in pq.read_table(tmp_path / "a.parquet").to_pylist()]
    second = [r["response"] for r in pq.read_table(tmp_path / "b.parquet").to_pylist()]
    assert all(t.startswith("reply ") for t in first)
    assert all(t.startswith("other ") for t in second)
    assert len(second_double.generation_requests()) == 4
    # The same server again: everything from the cache, and the hit count says so up front.
    capsys.readouterr()
    assert _complete(src, tmp_path / "c.parquet", cache, double.base_url + "/v1") == 0
    err = capsys.readouterr().err
    assert f"cache: {cache} (4 of 4 answered already)" in err
    assert len(double.generation_requests()) == 4


def test_refresh_asks_again_and_overwrites(double, tmp_path, capsys):
    src = _write_prompts(tmp_path / "p.jsonl", 2)
    cache = tmp_path / "c.sqlite"
    url = double.base_url + "/v1"
    assert _complete(src, tmp_path / "a.parquet", cache, url) == 0
    double.voice = "fresh"
    assert _complete(src, tmp_path / "b.parquet", cache, url, "--refresh") == 0
    assert "--refresh: asking again" in capsys.readouterr().err
    assert len(double.generation_requests()) == 4
    assert _complete(src, tmp_path / "c.parquet", cache, url) == 0
    rows = pq.read_table(tmp_path / "c.parquet").to_pylist()
    assert all(r["cached"] and r["response"].startswith("fresh ") for r in rows)


def test_endpoint_drops_credentials_and_trailing_slash():
    assert endpoint("openai", "http://user:pw@Host:8000/v1/?key=s") == "http://host:8000/v1"
    assert cache_scope("openai", "m", None) == "openai|https://api.openai.com/v1"
    assert cache_scope("anthropic", "m", None) == "anthropic|https://api.anthropic.com"
    assert cache_scope("openai", "m", "http://a/v1") != cache_scope("openai", "m", "http://b/v1")


def test_weights_fingerprint_follows_the_files(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"a": 1}')
    weights = ckpt / "model.safetensors"
    weights.write_bytes(b"\0" * 64)
    first = weights_fingerprint(str(ckpt))
    assert first == weights_fingerprint(str(ckpt))
    later = time.time() + 5
    os.utime(weights, (later, later))  # rewritten in place: same size, new mtime
    assert weights_fingerprint(str(ckpt)) != first
    content = weights_fingerprint(str(ckpt), content=True)
    weights.write_bytes(b"\1" * 64)
    os.utime(weights, (later, later))  # same size and mtime: only a content hash sees it
    assert weights_fingerprint(str(ckpt), content=True) != content
    assert weights_fingerprint("org/not-downloaded") == "name:org/not-downloaded"


def test_retrained_local_checkpoint_is_not_served_stale_answers(tmp_path):
    """Same path, new weights: the local backend generates again instead of reusing."""
    from caravan.llm import complete

    from tests.fixtures.tiny_model import build_tiny_model

    ckpt = build_tiny_model(tmp_path / "policy", seed=0)
    cache = tmp_path / "c.sqlite"
    prompts = [f"Write a poem about {w}." for w in ("rivers", "numbers", "cities")]
    kw = {"provider": "local", "cache": cache, "params": {"max_tokens": 8}, "progress": False}
    before = complete(prompts, str(ckpt), **kw)
    assert not any(r.cached for r in before)
    assert all(r.cached for r in complete(prompts, str(ckpt), **kw))
    build_tiny_model(ckpt, seed=1)  # retrained into the same folder
    after = complete(prompts, str(ckpt), **kw)
    assert not any(r.cached for r in after)
    assert [r.text for r in after] != [r.text for r in before]
