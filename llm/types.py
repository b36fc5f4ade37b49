"""The contract every backend and caller shares: a request in, a response out.

A backend does one job: turn requests into responses for one provider. Retries, rate
limits, caching and accounting live in the engine around it, so every backend gets them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from caravan.errors import CaravanError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Request:
    """One chat completion to make.

    `params` holds sampling settings (temperature, top_p, max_tokens, seed, stop, ...);
    `schema` is an optional JSON schema the reply must satisfy; `id` is the caller's id for
    the row (kept on the response, used as custom_id in batch APIs).
    """

    messages: Messages
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None
    id: str | None = None

    def cache_key(self, scope: str) -> str:
        """Hash of (scope, model, messages, params, schema): equal work, equal key. `scope`
        (llm.cache_scope) names the provider and endpoint or the local weights."""
        payload = json.dumps(
            [scope, self.model, self.messages, self.params, self.schema],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Response:
    """What came back for one request. Failures are responses too, with `error` set."""

    request_id: str | None
    text: str | None = None
    parsed: Any = None
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float | None = None
    error: str | None = None
    error_kind: str | None = None  # e.g. "rate_limit", "server", "timeout", "parse_failure"
    cached: bool = False
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


class LLMError(CaravanError):
    """A model call failed in a way the caller should see."""


class TransientError(LLMError):
    """Worth retrying (429, 5xx, timeout, dropped connection). `retry_after` in seconds."""

    def __init__(self, message: str, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class PermanentError(LLMError):
    """Not worth retrying (400, auth, unknown model, context too long)."""

    def __init__(self, message: str, kind: str = "request") -> None:
        super().__init__(message)
        self.kind = kind


@runtime_checkable
class Backend(Protocol):
    """A provider. API backends make one call at a time (the engine runs many at once);
    in-process backends (local transformers, vLLM offline) take whole batches."""

    name: str

    async def complete(self, request: Request) -> Response:
        """Make one call. Raise TransientError / PermanentError; never retry here."""
        ...


@runtime_checkable
class BatchingBackend(Protocol):
    """An in-process backend that generates for many requests in one forward pass."""

    name: str
    max_batch_size: int

    def complete_batch(self, requests: list[Request]) -> list[Response]:
        """Generate for `requests` in order; one Response per request."""
        ...
