"""Which model answers: explicit flags, else GPT-4o with an OpenAI key, else a local model.

On a fresh machine without an API key the toolkit still works: it falls back to the
embedded local backend with a small instruct model from the hub (override with
--local-model or $CARAVAN_LOCAL_MODEL). When that model is neither a local folder, nor in the
hub cache, nor downloadable, we stop before any work with one line saying what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from caravan.errors import CaravanError
from caravan.hub import check_exists, hub_reachable
from caravan.secrets import public_url

DEFAULT_LOCAL_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
LOCAL_MODEL_ENV = "CARAVAN_LOCAL_MODEL"
DEFAULT_OPENAI_MODEL = "gpt-4o"  # Tülu 3: GPT-4o wrote the prompts and the math/IF answers
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"  # Tülu 3 used Claude (3.5 Sonnet) for code
PROVIDERS = ("openai", "anthropic", "local", "vllm")


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str
    base_url: str | None = None
    why: str = ""

    def label(self) -> str:
        where = f" at {public_url(self.base_url)}" if self.base_url else ""
        return f"{self.provider}:{self.model}{where}"


def has_key(provider: str) -> bool:
    from caravan.llm.env import api_key

    return bool(api_key(provider, required=False))


def local_model_name(flag: str | None = None) -> str:
    return flag or os.environ.get(LOCAL_MODEL_ENV) or DEFAULT_LOCAL_MODEL


def choose_model(
    model: str | None,
    provider: str | None,
    base_url: str | None,
    local_model: str | None = None,
    prefer: str = "openai",
) -> ModelChoice:
    """Resolve flags to one model. `prefer` is the API provider the task defaults to."""
    if provider is not None and provider not in PROVIDERS:
        raise CaravanError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    if base_url is not None:
        if provider not in (None, "openai", "anthropic"):
            raise CaravanError("--base-url is for API servers; use it with --provider openai")
        if not model:
            raise CaravanError("--base-url needs --model (the name the server serves)")
        return ModelChoice(provider or "openai", model, base_url, "server URL given")
    if provider == "local":
        return ModelChoice(
            "local", model or local_model_name(local_model), None, "--provider local"
        )
    if provider == "vllm":
        if not model:
            raise CaravanError("--provider vllm needs --model")
        return ModelChoice("vllm", model, None, "--provider vllm")
    if provider in ("openai", "anthropic"):
        default = DEFAULT_OPENAI_MODEL if provider == "openai" else DEFAULT_ANTHROPIC_MODEL
        return ModelChoice(provider, model or default, None, f"--provider {provider}")
    # No provider named: the task's API default when its key is set, else local.
    if model and Path(model).expanduser().is_dir():
        return ModelChoice("local", model, None, "--model is a local folder")
    for api in (prefer, "openai"):
        if has_key(api):
            default = DEFAULT_OPENAI_MODEL if api == "openai" else DEFAULT_ANTHROPIC_MODEL
            key = "OPENAI_API_KEY" if api == "openai" else "ANTHROPIC_API_KEY"
            return ModelChoice(api, model or default, None, f"{key} is set")
    return ModelChoice(
        "local", local_model_name(local_model or model), None, "no API key set: local backend"
    )


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # noqa: BLE001 - a malformed id is simply "not cached"
        return False
    return isinstance(found, str)


def no_local_model_message(model: str) -> str:
    return (
        f"local model {model!r} is not on this machine and the Hugging Face hub cannot be "
        f"reached: download an instruct model folder elsewhere and point at it with "
        f"--local-model PATH or {LOCAL_MODEL_ENV}=PATH; or serve a model with a local "
        f"OpenAI-compatible server (vLLM, llama.cpp, Ollama) and pass --base-url URL --model NAME; "
        f"or set OPENAI_API_KEY to use {DEFAULT_OPENAI_MODEL}"
    )


def check_local_model(model: str) -> None:
    """Fail fast (one line) when the local model cannot possibly be loaded."""
    if Path(model).expanduser().exists():
        if not Path(model).expanduser().is_dir():
            raise CaravanError(f"local model {model!r} is a file; give the model's folder")
        return
    check_exists(model, "model folder")
    if _in_hub_cache(model) or hub_reachable():
        return
    raise CaravanError(no_local_model_message(model))
