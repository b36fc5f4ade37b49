"""Anthropic Messages API. JSON-schema output goes through a forced tool call."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
from typing import Any

import anthropic
from caravan.llm.backends.errors import classify_sdk_error
from caravan.llm.cache_scope import cache_scope
from caravan.llm.structured import schema_instruction
from caravan.llm.types import PermanentError, Request, Response, Usage

DEFAULT_MAX_TOKENS = 1024
TOOL_NAME = "reply"
_PASSTHROUGH = {"temperature", "top_p", "top_k", "max_tokens", "stop_sequences", "metadata"}
log = logging.getLogger(__name__)


@functools.cache
def _sdk_accepts() -> frozenset[str]:
    """Which of our pass-through params the installed SDK's messages.create takes.

    anthropic 2.x dropped temperature/top_p/top_k from the Messages API; sending them is a
    TypeError. Reading the signature keeps older and newer SDKs working.
    """
    from anthropic.resources.messages import AsyncMessages

    return frozenset(_PASSTHROUGH & set(inspect.signature(AsyncMessages.create).parameters))


def unsupported_params(params: dict[str, Any]) -> list[str]:
    """Sampling params in `params` that this SDK cannot send (they are left out)."""
    return sorted(k for k in params if k in _PASSTHROUGH and k not in _sdk_accepts())


@functools.cache
def _warn_dropped(names: tuple[str, ...]) -> None:
    log.warning(
        "anthropic SDK %s takes no %s; sending without (provider defaults apply)",
        anthropic.__version__,
        ", ".join(names),
    )


def messages_body(request: Request) -> dict[str, Any]:
    """Keyword arguments of messages.create (also the `params` of a batch item)."""
    system = [m["content"] for m in request.messages if m.get("role") == "system"]
    messages = [m for m in request.messages if m.get("role") != "system"]
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    params = dict(request.params)
    if "stop" in params:
        stop = params.pop("stop")
        params["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    params.pop("seed", None)  # not supported by Anthropic; kept in the cache key only
    dropped = unsupported_params(params)
    if dropped:
        _warn_dropped(tuple(dropped))
    for key, value in params.items():
        if key in _PASSTHROUGH and key not in dropped:
            body[key] = value
    body.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    schema = request.schema
    if schema is not None:
        if schema.get("type") == "object":
            body["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": "Give the answer in the required structure.",
                    "input_schema": schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        else:
            system.append(schema_instruction(schema))
    if system:
        body["system"] = "\n\n".join(system)
    return body


def response_from_message(request: Request, message: Any, latency: float) -> Response:
    """Text (or the forced tool call's input, as JSON text) plus usage."""
    texts: list[str] = []
    for block in message.content or []:
        kind = getattr(block, "type", None)
        if kind == "tool_use":
            texts = [json.dumps(block.input)]
            break
        if kind == "text":
            texts.append(block.text)
    if not message.content:
        raise PermanentError(f"request {request.id}: reply has no content", "empty")
    usage = message.usage
    return Response(
        request_id=request.id,
        text="".join(texts),
        finish_reason=message.stop_reason,
        usage=Usage(
            prompt_tokens=getattr(usage, "input_tokens", 0) or 0,
            completion_tokens=getattr(usage, "output_tokens", 0) or 0,
        ),
        latency_s=latency,
    )


class AnthropicBackend:
    """One call per request through AsyncAnthropic, SDK retries off (the engine retries)."""

    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        from caravan.llm.env import api_key as key_from_env

        self.model = model
        self.base_url = base_url
        self.scope = cache_scope("anthropic", model or "", base_url)
        key = api_key or key_from_env("anthropic")
        self.client = anthropic.AsyncAnthropic(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout
        )

    def cache_scope(self) -> str:
        """Provider and endpoint: two servers never share cached answers."""
        return self.scope

    async def complete(self, request: Request) -> Response:
        body = messages_body(request)
        start = time.perf_counter()
        try:
            message = await self.client.messages.create(**body)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is classified
            raise classify_sdk_error(exc, anthropic, f"request {request.id}") from exc
        return response_from_message(request, message, time.perf_counter() - start)

    async def aclose(self) -> None:
        await self.client.close()
