import pytest

from caravan.secrets import MASK, is_secret_key, redact, redact_argv


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "OPENAI_API_KEY",
        "hf_token",
        "HF_TOKEN",
        "--api-key",
        "Authorization",
        "password",
        "aws_secret_access_key",
        "private_key",
    ],
)
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "tokens", "model", "tokenizer", "num_tokens"])
def test_not_secret_keys(key):
    assert not is_secret_key(key)


def test_redact_walks_nested_config_and_known_formats(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-secret-value")
    out = redact(
        {
            "llm": {"api_key": "x-123", "max_tokens": 10, "models": ["a", "b"]},
            "note": "keys: sk-ant-api03-abcdefgh and hf_abcdefghijklmnopqrstu",
            "echo": "anthropic-secret-value",
        }
    )
    assert out["llm"] == {"api_key": MASK, "max_tokens": 10, "models": ["a", "b"]}
    assert out["note"] == f"keys: {MASK} and {MASK}"
    assert out["echo"] == MASK


def test_redact_argv_forms():
    argv = ["x", "--api-key", "s3cr3t-value", "--token=abc", "hf_token=zzz", "--model", "m"]
    assert redact_argv(argv) == [
        "x",
        "--api-key",
        MASK,
        f"--token={MASK}",
        f"hf_token={MASK}",
        "--model",
        "m",
    ]


def test_credentials_inside_urls_are_masked_and_public_url_strips_them():
    from caravan.secrets import public_url, redact_text

    text = "served by https://alice:hunter2@vllm.internal:8000/v1?api_key=abc123&x=1"
    out = redact_text(text, [])
    assert "hunter2" not in out and "abc123" not in out and "alice" not in out
    assert out == f"served by https://{MASK}@vllm.internal:8000/v1?api_key={MASK}&x=1"
    assert public_url("https://u:p@host:8443/v1?key=k#f") == "https://host:8443/v1"
    assert redact_argv(["--base-url", "http://u:pw@h/v1"]) == ["--base-url", f"http://{MASK}@h/v1"]
