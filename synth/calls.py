"""Model calls for synth: one backend per model choice, every call through llm/ and its cache.

The cache makes each stage resumable: a rerun rebuilds the same requests (prompts and seeds
are derived from the persona and the run seed) and gets finished ones from the cache, so
no paid-for reply is requested twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from caravan.llm.api import acomplete, default_cache_path, to_request
from caravan.llm.cache import ResponseCache
from caravan.llm.cache_scope import cache_scope
from caravan.llm.estimate import Estimate, estimate_cost
from caravan.llm.guard import RunGuard
from caravan.llm.pricing import PriceTable
from caravan.llm.structured import schema_of
from caravan.llm.types import Request, Response
from caravan.synth.models import ModelChoice, check_local_model


class RequestMaker(Protocol):
    """Builds one request: a Caller, or an `LLM` session when a pipeline stage runs the step."""

    def request(self, rid: str, messages: list[dict[str, str]], params: dict[str, Any], /) -> Any:
        ...


@dataclass
class CallSettings:
    """How calls are made (shared by generate, solve and relax)."""

    cache: Path | None = None
    concurrency: int = 64
    max_retries: int = 8
    timeout_s: float = 120.0
    prices: Path | None = None
    progress: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)
    refresh: bool = False  # ask again, overwrite cached answers
    guard: RunGuard = field(default_factory=RunGuard)  # spending cap and early stop, per command

    @property
    def cache_path(self) -> Path:
        return Path(self.cache) if self.cache else default_cache_path()


class Caller:
    """Runs requests for one model choice. In-process backends load once and are reused."""

    def __init__(self, choice: ModelChoice, settings: CallSettings) -> None:
        self.choice = choice
        self.settings = settings
        self._backend: Any = None

    def request(
        self,
        rid: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        schema: Any = None,
    ) -> Request:
        schema_dict = schema_of(schema) if schema is not None else None
        return to_request(
            {"id": rid, "messages": messages}, self.choice.model, 0, params, schema_dict
        )

    def prepare(self) -> None:
        """Fail fast on a local model that cannot load (before any work is done)."""
        if self.choice.provider == "local":
            check_local_model(self.choice.model)

    def _in_process_backend(self) -> Any:
        if self.choice.provider not in ("local", "vllm"):
            return None
        if self._backend is None:
            from caravan.llm.backends import in_process_options, make_backend

            options = in_process_options(
                self.choice.provider, self.settings.backend_options, self.settings.concurrency
            )
            self._backend = make_backend(self.choice.provider, self.choice.model, **options)
        return self._backend

    def run(self, requests: list[Request]) -> list[Response]:
        if not requests:
            return []
        s = self.settings
        options = {} if self.choice.provider in ("local", "vllm") else dict(s.backend_options)
        return asyncio.run(
            acomplete(
                requests,
                self.choice.model,
                provider=self.choice.provider,
                base_url=self.choice.base_url,
                cache=s.cache_path,
                concurrency=s.concurrency,
                max_retries=s.max_retries,
                timeout_s=s.timeout_s,
                prices=s.prices,
                progress=s.progress,
                backend=self._in_process_backend(),
                backend_options=options or None,
                refresh=s.refresh,
                guard=s.guard,
            )
        )

    def estimate(self, requests: list[Request]) -> Estimate:
        path = self.settings.cache_path
        cache = ResponseCache(path) if path.exists() else None
        try:
            c = self.choice
            scope = cache_scope(
                c.provider, c.model, c.base_url, self.settings.backend_options.get("hash_weights")
            )
            return estimate_cost(
                requests, scope, cache, PriceTable(self.settings.prices),
                free=c.provider in ("local", "vllm"),
            )  # fmt: skip
        finally:
            if cache is not None:
                cache.close()


def estimate_lines(caller: Caller, requests: list[Request]) -> list[str]:
    """The dry-run lines; in-process backends cost nothing but time."""
    lines = caller.estimate(requests).lines()
    if caller.choice.provider in ("local", "vllm"):
        lines[-1] = "estimated cost: $0 (runs on this machine)"
    return lines


def clean_text(text: str | None) -> str:
    """A generated prompt without a wrapping code fence, quotes or a 'Request:' label."""
    body = (text or "").strip()
    if body.startswith("```") and body.endswith("```") and len(body) > 6:
        body = body[3:-3].split("\n", 1)[-1].strip() if "\n" in body else body[3:-3].strip()
    for label in ("Request:", "Prompt:", "Problem:", "Exercise:", "Message:"):
        if body.startswith(label):
            body = body[len(label) :].strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'" and body.count(body[0]) == 2:
        body = body[1:-1].strip()
    return body
