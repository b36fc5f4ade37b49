"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp)."""

from __future__ import annotations

import time
from typing import Any

import openai
from caravan.llm.backends.errors import classify_sdk_error
from caravan.llm.cache_scope import cache_scope
from caravan.llm.types import PermanentError, Request, Response, Usage

# Sampling settings the chat-completions endpoint accepts as top-level arguments.
_PASSTHROUGH = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "n",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "reasoning_effort", "service_tier", "user",
}  # fmt: skip


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """`response_format` for a JSON schema; strict mode only where the schema allows it."""
    strict = schema.get("type") == "object" and schema.get("additionalProperties") is False
    return {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": schema, "strict": strict},
    }


def chat_body(request: Request) -> dict[str, Any]:
    """The JSON body of a chat-completions call (also one line of a Batch API file)."""
    body: dict[str, Any] = {"model": request.model, "messages": request.messages}
    extra: dict[str, Any] = {}
    for key, value in request.params.items():
        (body if key in _PASSTHROUGH else extra)[key] = value
    if extra:
        body["extra_body"] = extra
    if request.schema is not None:
        body["response_format"] = response_format(request.schema)
    return body


def response_from_completion(request: Request, completion: Any, latency: float) -> Response:
    if not completion.choices:
        raise PermanentError(f"request {request.id}: reply has no choices", "empty")
    choice = completion.choices[0]
    usage = completion.usage
    return Response(
        request_id=request.id,
        text=choice.message.content,
        finish_reason=choice.finish_reason,
        usage=Usage(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        ),
        latency_s=latency,
    )


class OpenAIBackend:
    """One call per request through AsyncOpenAI. The SDK's own retries are off: the engine
    retries, so attempts are counted and Retry-After is honoured in one place."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_connections: int = 1024,
    ) -> None:
        from caravan.llm.env import api_key as key_from_env

        self.model = model
        self.base_url = base_url
        self.scope = cache_scope("openai", model or "", base_url)
        # A self-hosted OpenAI-compatible server usually needs no key.
        key = api_key or key_from_env("openai", required=base_url is None) or "not-needed"
        self.client = openai.AsyncOpenAI(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout
        )

    def cache_scope(self) -> str:
        """Provider and endpoint: two servers never share cached answers."""
        return self.scope

    async def complete(self, request: Request) -> Response:
        body = chat_body(request)
        start = time.perf_counter()
        try:
            completion = await self.client.chat.completions.create(**body)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is classified
            raise classify_sdk_error(exc, openai, f"request {request.id}") from exc
        return response_from_completion(request, completion, time.perf_counter() - start)

    async def aclose(self) -> None:
        await self.client.close()
