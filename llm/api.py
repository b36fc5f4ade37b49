"""The one call most users need: run a model over a list of prompts, get results in order.

from caravan.llm import complete
results = complete(["Name a prime.", "Name a colour."], model="gpt-4o-mini")
results[0].text, results[0].usage, results[0].cost_usd, results[0].error
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from caravan.llm.cache import ResponseCache
from caravan.llm.guard import RunGuard
from caravan.llm.structured import schema_of
from caravan.llm.types import Request, Response

from caravan.cache_root import cache_dir
from caravan.errors import CaravanError

CACHE_FILE_ENV = "CARAVAN_LLM_CACHE"  # one file, for those who set it before the cache root


def default_cache_path() -> Path:
    """$CARAVAN_LLM_CACHE, else responses.sqlite under the cache root's `llm` folder
    ($CARAVAN_CACHE_DIR/llm, else ~/.cache/caravan/llm)."""
    explicit = os.environ.get(CACHE_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return cache_dir("llm") / "responses.sqlite"


def to_request(
    item: Any,
    model: str,
    index: int,
    params: Mapping[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    system: str | None = None,
) -> Request:
    """A prompt string, a message list, a {"messages"|"prompt", "id"} dict, or a Request."""
    if isinstance(item, Request):
        return item
    rid: str | None = str(index)
    if isinstance(item, str):
        messages = [{"role": "user", "content": item}]
    elif isinstance(item, Mapping):
        rid = str(item["id"]) if item.get("id") is not None else rid
        if "messages" in item:
            messages = list(item["messages"])
        elif "prompt" in item and isinstance(item["prompt"], str):
            messages = [{"role": "user", "content": item["prompt"]}]
        elif "prompt" in item:
            messages = list(item["prompt"])
        else:
            raise CaravanError(f"input {index}: a dict needs `messages` or `prompt`")
    elif isinstance(item, list | tuple):
        messages = list(item)
    else:
        raise CaravanError(f"input {index}: expected text, messages or a dict, got {item!r}")
    for m in messages:
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise CaravanError(f"input {rid}: every message needs `role` and `content`")
    messages = [{"role": str(m["role"]), "content": m["content"]} for m in messages]
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    return Request(messages=messages, model=model, params=dict(params or {}), schema=schema, id=rid)


def build_requests(
    inputs: Iterable[Any],
    model: str,
    *,
    params: Mapping[str, Any] | None = None,
    schema: Any = None,
    system: str | None = None,
) -> list[Request]:
    schema_dict = schema_of(schema) if schema is not None else None
    return [
        to_request(item, model, i, params, schema_dict, system) for i, item in enumerate(inputs)
    ]


async def acomplete(
    inputs: Iterable[Any],
    model: str,
    *,
    provider: str | None = None,
    base_url: str | None = None,
    params: Mapping[str, Any] | None = None,
    schema: Any = None,
    system: str | None = None,
    cache: str | Path | ResponseCache | bool | None = True,
    concurrency: int = 64,
    max_retries: int = 8,
    timeout_s: float = 120.0,
    rpm: float | None = None,
    tpm: float | None = None,
    prices: str | Path | None = None,
    progress: bool = True,
    backend: Any = None,
    batch: bool = False,
    batch_poll_s: float = 30.0,
    batch_max_wait_s: float | None = None,
    backend_options: Mapping[str, Any] | None = None,
    refresh: bool = False,
    guard: RunGuard | None = None,
    max_cost: float | None = None,
) -> list[Response]:
    """Async form of :func:`complete`: a one-call `caravan.LLM` session (which owns the
    backend, cache and engine settings), closed afterwards.

    `refresh` asks again and overwrites cached answers. `guard` (shared by every call of one
    command) or `max_cost` (USD, for this call alone) caps spending: once what is spent plus
    the worst case of every call in flight would pass it, nothing more is sent and the
    unsent requests come back as failures; `guard.stop_reason` then says why. `backend` is
    an already-made backend the caller keeps (and closes)."""
    from caravan.session import LLM, LLMSettings

    if guard is None:
        guard = RunGuard(max_cost=max_cost)
    elif max_cost is not None:
        raise CaravanError("give either guard or max_cost, not both")
    settings = LLMSettings(
        concurrency=concurrency, max_retries=max_retries, timeout_s=timeout_s, rpm=rpm, tpm=tpm,
        prices=Path(prices) if prices is not None else None, batch=batch,
        batch_poll_s=batch_poll_s, refresh=refresh, progress=progress,
        batch_max_wait_s=batch_max_wait_s,
    )  # fmt: skip
    session = LLM(
        model, provider, base_url, cache=False if cache is None else cache, settings=settings,
        backend_options=dict(backend_options or {}), system=system, guard=guard,
        backend=backend,
    )  # fmt: skip
    session.params = dict(params or {})  # set, not passed: a param is never taken for a setting
    try:
        return await session.acomplete(inputs, schema=schema)
    finally:
        session.close()


def complete(inputs: Iterable[Any], model: str, **kwargs: Any) -> list[Response]:
    """Answer every input with `model`; one Response per input, in input order.

    Completed responses are cached durably (SQLite, default_cache_path()), so
    calling again with the same inputs costs nothing and resumes an interrupted run. A request
    that fails after its retries comes back with `error` and `error_kind` set.
    """
    return asyncio.run(acomplete(inputs, model, **kwargs))
