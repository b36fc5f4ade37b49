"""Choosing a backend by provider name, and clear errors for missing in-process engines."""

from __future__ import annotations

import sys

import pytest
from caravan.llm.backends import make_backend
from caravan.llm.backends.anthropic_api import AnthropicBackend
from caravan.llm.backends.openai_api import OpenAIBackend

from caravan.errors import CaravanError


def test_api_providers():
    assert isinstance(make_backend("openai", "m", base_url="http://127.0.0.1:1/v1"), OpenAIBackend)
    assert isinstance(make_backend("anthropic", "m"), AnthropicBackend)


def test_unknown_provider_names_the_choices():
    with pytest.raises(CaravanError, match="openai, anthropic, local, vllm"):
        make_backend("bard", "m")


@pytest.mark.parametrize(
    ("provider", "module"), [("local", "caravan.llm.backends.local"), ("vllm", "caravan.llm.backends.vllm_offline")]
)
def test_missing_in_process_backend_is_a_clear_error(monkeypatch, provider, module):
    monkeypatch.setitem(sys.modules, module, None)  # import now fails as if not installed
    with pytest.raises(CaravanError, match=f"provider '{provider}' needs the module"):
        make_backend(provider, "tiny")


def test_base_url_with_in_process_provider_points_to_openai():
    with pytest.raises(CaravanError, match="--provider openai"):
        make_backend("vllm", "m", base_url="http://localhost:8000/v1")


def test_missing_key_says_where_to_put_it(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(CaravanError, match="OPENAI_API_KEY"):
        make_backend("openai", "gpt-4o-mini")


def test_self_hosted_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    assert make_backend("openai", "m", base_url="http://127.0.0.1:8000/v1").client.api_key


def test_provider_guess(monkeypatch):
    from caravan.llm.backends import resolve_provider

    assert resolve_provider("vllm", "x") == "vllm"
    assert resolve_provider(None, "my-model", "http://h/v1") == "openai"
    assert resolve_provider(None, "claude-haiku-4-5") == "anthropic"
    assert resolve_provider(None, "gpt-4o-mini") == "openai"
    assert resolve_provider(None, "Qwen/Qwen3-0.6B") == "openai"  # a key is configured
    monkeypatch.delenv("OPENAI_API_KEY")
    assert resolve_provider(None, "Qwen/Qwen3-0.6B") == "local"  # nothing configured
