"""The one-call API: llm.complete."""

from __future__ import annotations

import pytest
from caravan.llm import complete
from caravan.llm.api import build_requests

from caravan.errors import CaravanError


def test_complete_over_mixed_inputs(double, tmp_path):
    inputs = [
        "plain text",
        [{"role": "user", "content": "as messages"}],
        {"id": "x7", "prompt": "as a dict"},
    ]
    out = complete(inputs, "gpt-4o-mini", base_url=double.base_url + "/v1",
                   cache=tmp_path / "c.sqlite", progress=False, system="Be kind.")  # fmt: skip
    assert [r.request_id for r in out] == ["0", "1", "x7"]
    assert out[1].text.endswith("as messages")
    assert double.generation_requests()[0].body["messages"][0] == {
        "role": "system",
        "content": "Be kind.",
    }
    again = complete(inputs, "gpt-4o-mini", base_url=double.base_url + "/v1",
                     cache=tmp_path / "c.sqlite", progress=False, system="Be kind.")  # fmt: skip
    assert all(r.cached for r in again)


def test_default_cache_is_durable(double, tmp_path):
    complete(["a"], "m", base_url=double.base_url + "/v1", progress=False)
    assert (tmp_path / "default-cache.sqlite").exists()  # $CARAVAN_LLM_CACHE from conftest


def test_bad_input_names_the_item():
    with pytest.raises(CaravanError, match="input 1"):
        build_requests(["ok", 42], "m")
    with pytest.raises(CaravanError, match="input q: every message needs"):
        build_requests([{"id": "q", "messages": [{"content": "no role"}]}], "m")
