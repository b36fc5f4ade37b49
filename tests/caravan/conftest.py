"""The loopback API double for stages and pipelines: synth's scripted replies, plus a judge
that rates the first response it is shown 5 and the others 2 (so every prompt pairs)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.llm_env import use_fake_llm_env
from tests.llm import api_double
from tests.synth.conftest import IF_IDS, SynthDouble


class CaravanDouble(SynthDouble):
    def reply_text(self, body):
        fmt = body.get("response_format") or {}
        schema = fmt.get("json_schema", {}).get("schema", {})
        if "response_1" in schema.get("properties", {}):
            reply = json.loads(api_double.ApiDouble.reply_text(self, body))
            for name, item in reply.items():
                item["rating"] = "5" if name == "response_1" else "2"
            return json.dumps(reply)
        text = super().reply_text(body)
        if body.get("model") == "gpt-4o-mini":  # the second pool model answers differently
            text += " (a shorter take)"
        return text


@pytest.fixture
def double():
    server = CaravanDouble().start()
    yield server
    server.stop()


@pytest.fixture
def llm_env(monkeypatch, tmp_path):
    use_fake_llm_env(monkeypatch, tmp_path)
    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(tmp_path / "cache-root"))
    return tmp_path


@pytest.fixture
def if_ids() -> list[str]:
    return IF_IDS.split(",")
