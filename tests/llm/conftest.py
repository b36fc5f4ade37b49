"""Fixtures: the loopback API double, and no real keys in the environment."""

from __future__ import annotations

import pytest

from tests.fixtures.llm_env import use_fake_llm_env
from tests.llm import api_double


@pytest.fixture
def double():
    server = api_double.ApiDouble().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fake_keys(monkeypatch, tmp_path):
    use_fake_llm_env(monkeypatch, tmp_path)
