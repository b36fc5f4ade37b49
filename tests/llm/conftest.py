"""Fixtures: the loopback API double, and no real keys in the environment."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "llm_api_double", Path(__file__).with_name("api_double.py")
)
api_double = importlib.util.module_from_spec(_spec)
sys.modules["llm_api_double"] = api_double
_spec.loader.exec_module(api_double)


@pytest.fixture
def double():
    server = api_double.ApiDouble().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fake_keys(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-key-000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0000000000")
    monkeypatch.setenv("CARAVAN_LLM_CACHE", str(tmp_path / "default-cache.sqlite"))
    monkeypatch.chdir(tmp_path)  # no stray .env from the repo
