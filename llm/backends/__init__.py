"""Pick a backend by provider name. In-process backends are imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any

from caravan.errors import CaravanError

PROVIDERS = ("openai", "anthropic", "local", "vllm")

_IN_PROCESS = {
    "local": ("caravan.llm.backends.local", "LocalBackend", "pip install 'caravan-posttrain[train]'"),
    "vllm": ("caravan.llm.backends.vllm_offline", "VLLMBackend", "pip install 'caravan-posttrain[vllm]' (GPU)"),
}


def resolve_provider(provider: str | None, model: str, base_url: str | None = None) -> str:
    """`provider`, or a guess when None: a base URL means an OpenAI-compatible server,
    claude-* is Anthropic, gpt-*/o* is OpenAI, any other model goes to OpenAI when a key is
    configured and otherwise runs in-process (local transformers): the embedded default."""
    if provider is not None:
        return provider
    if base_url is not None:
        return "openai"
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    from caravan.llm.env import api_key

    return "openai" if api_key("openai", required=False) else "local"


def in_process_options(provider: str, options: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """For in-process backends `concurrency` is the generation batch size, unless
    `max_batch_size` is given."""
    if provider in _IN_PROCESS and "max_batch_size" not in options:
        return {**options, "max_batch_size": concurrency}
    return options


def make_backend(provider: str | None, model: str, base_url: str | None = None, **kw: Any) -> Any:
    """A Backend (API) or BatchingBackend (in-process) for `provider`."""
    provider = resolve_provider(provider, model, base_url)
    if provider == "openai":
        from caravan.llm.backends.openai_api import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url, **kw)
    if provider == "anthropic":
        from caravan.llm.backends.anthropic_api import AnthropicBackend

        return AnthropicBackend(model, base_url=base_url, **kw)
    if provider in _IN_PROCESS:
        module_name, class_name, hint = _IN_PROCESS[provider]
        if base_url is not None:
            raise CaravanError(
                "--base-url is for API servers; for a `vllm serve` URL use --provider openai"
            )
        try:
            module = importlib.import_module(module_name)
            backend_cls = getattr(module, class_name, None)
            if backend_cls is None:
                raise CaravanError(f"provider {provider!r}: {module_name} has no {class_name}")
            return backend_cls(model, **kw)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            raise CaravanError(
                f"provider {provider!r} needs the module {missing!r}, which is not installed: "
                f"{hint}"
            ) from exc
    raise CaravanError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
