"""Work-arounds for gaps in the layers below prefs, kept in one place so they are easy to drop.

llm's Anthropic backend passes temperature/top_p/top_k to `messages.create` as keyword
arguments, but the installed anthropic SDK (2.11) no longer accepts them there, so every
call fails with a TypeError. Until llm/ handles that, prefs leaves out the sampling
settings the SDK cannot take (and says so) instead of failing every Anthropic call.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

_SAMPLING = ("temperature", "top_p", "top_k")


@functools.cache
def anthropic_rejects() -> tuple[str, ...]:
    """Sampling params the installed SDK's messages.create does not take."""
    try:
        from anthropic.resources.messages import AsyncMessages
    except ImportError:  # pragma: no cover - anthropic is a core dependency
        return ()
    accepted = inspect.signature(AsyncMessages.create).parameters
    return tuple(p for p in _SAMPLING if p not in accepted)


def provider_params(provider: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(params the provider's backend can send, names left out)."""
    if provider != "anthropic":
        return params, []
    dropped = [k for k in anthropic_rejects() if k in params]
    return {k: v for k, v in params.items() if k not in dropped}, dropped
