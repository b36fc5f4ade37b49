"""Which model a synth command uses when the user names none (or some) of them."""

from __future__ import annotations

import pytest
from caravan.synth.models import DEFAULT_LOCAL_MODEL, choose_model

from caravan.errors import CaravanError


def test_openai_key_means_gpt4o_and_claude_for_code():
    assert choose_model(None, None, None).label() == "openai:gpt-4o"
    assert (
        choose_model(None, None, None, prefer="anthropic").label() == "anthropic:claude-sonnet-4-5"
    )


def test_no_key_means_the_local_model(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    choice = choose_model(None, None, None)
    assert (choice.provider, choice.model) == ("local", DEFAULT_LOCAL_MODEL)
    monkeypatch.setenv("CARAVAN_LOCAL_MODEL", "/models/env-model")
    assert choose_model(None, None, None).model == "/models/env-model"
    assert choose_model(None, None, None, local_model="/models/flag").model == "/models/flag"
    # a .env file in the working folder counts as having a key
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv-000000\n")
    assert choose_model(None, None, None).provider == "openai"


def test_explicit_choices(tmp_path):
    assert choose_model(str(tmp_path), None, None).provider == "local"  # a model folder
    served = choose_model("Qwen/Qwen2.5-7B-Instruct", None, "http://u:p@gpu:8000/v1?x=1")
    assert (served.provider, served.model) == ("openai", "Qwen/Qwen2.5-7B-Instruct")
    assert served.label() == "openai:Qwen/Qwen2.5-7B-Instruct at http://gpu:8000/v1"
    with pytest.raises(CaravanError, match="--base-url needs --model"):
        choose_model(None, None, "http://gpu:8000/v1")
    with pytest.raises(CaravanError, match="--provider vllm needs --model"):
        choose_model(None, "vllm", None)
    assert choose_model(None, "local", None).model == DEFAULT_LOCAL_MODEL
    assert choose_model(None, "anthropic", None).model == "claude-sonnet-4-5"


def test_offline_message_names_every_way_out(monkeypatch):
    import socket

    from caravan.synth.models import check_local_model

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(CaravanError) as info:
        check_local_model("org/not-cached-model")
    msg = str(info.value)
    assert "--local-model PATH" in msg and "OPENAI_API_KEY" in msg
    assert "--base-url URL --model NAME" in msg and "OpenAI-compatible server" in msg


@pytest.mark.parametrize(
    "name", ["./ckpt/final", "~/models/x", "/models/x", "ckpt/model.safetensors"]
)
def test_a_missing_path_looking_model_is_no_such_folder(name):
    from caravan.synth.models import check_local_model

    with pytest.raises(CaravanError, match=f"no such model folder: {name}"):
        check_local_model(name)
