"""What, besides the request itself, decides an answer: the cache key's scope.

Two servers behind one model name, or one checkpoint folder retrained in place, give
different answers to the same request. The scope names the provider, the endpoint (the base
URL without credentials) or, for in-process models, a fingerprint of the weights, and goes
into every cache key, so the cache cannot serve one model's answers for another.
"""

from __future__ import annotations

import os
from typing import Any

from caravan.llm.weights import weights_fingerprint

from caravan.secrets import public_url

DEFAULT_ENDPOINTS = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
}
IN_PROCESS = ("local", "vllm")


def endpoint(provider: str, base_url: str | None) -> str:
    """The public base URL calls go to, normalised (no credentials, no trailing slash)."""
    env_var, default = DEFAULT_ENDPOINTS.get(provider, ("", ""))
    url = base_url or (os.environ.get(env_var) if env_var else None) or default
    public = public_url(url) or url
    return public.rstrip("/")


def cache_scope(
    provider: str, model: str, base_url: str | None = None, hash_weights: bool | None = None
) -> str:
    """`provider|endpoint` for API providers, `provider|weights fingerprint` in process."""
    if provider in IN_PROCESS:
        return f"{provider}|{weights_fingerprint(model, hash_weights)}"
    return f"{provider}|{endpoint(provider, base_url)}"


def backend_scope(backend: Any) -> str:
    """A backend's scope: its `cache_scope()` when it has one, else its name."""
    scope = getattr(backend, "cache_scope", None)
    if callable(scope):
        return scope()
    return scope or backend.name
