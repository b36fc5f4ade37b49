"""Keys come from the environment or ./.env only."""

from __future__ import annotations

import os

import pytest
from caravan.llm.env import api_key, load_dotenv, parse_dotenv

from caravan.errors import CaravanError


def test_parse_dotenv_forms():
    text = """
# comment
OPENAI_API_KEY=sk-plain
export ANTHROPIC_API_KEY="sk-ant-quoted"
SINGLE='has # hash'
INLINE=value # trailing comment
MULTI="a\\nb"
not a line
=novalue
"""
    assert parse_dotenv(text) == {
        "OPENAI_API_KEY": "sk-plain",
        "ANTHROPIC_API_KEY": "sk-ant-quoted",
        "SINGLE": "has # hash",
        "INLINE": "value",
        "MULTI": "a\nb",
    }


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-file\nCARAVAN_X_TEST=1\n")
    monkeypatch.delenv("CARAVAN_X_TEST", raising=False)
    load_dotenv(tmp_path / ".env")
    assert os.environ["OPENAI_API_KEY"] == "sk-test-openai-key-000000000000"
    assert os.environ["CARAVAN_X_TEST"] == "1"
    monkeypatch.delenv("CARAVAN_X_TEST")


def test_api_key_reads_dotenv_in_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-from-dotenv\n")
    assert api_key("anthropic") == "sk-ant-from-dotenv"
    monkeypatch.delenv("ANTHROPIC_API_KEY")


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CaravanError, match="set OPENAI_API_KEY"):
        api_key("openai")
    assert api_key("openai", required=False) is None
