"""Provider Batch APIs (OpenAI Batch, Anthropic Message Batches): half price, hours not seconds.

Before a batch is created, the intent is journaled in the cache database: the request set's
fingerprint, its custom_id -> request key map and the time. A run killed while the create
call was in flight leaves that intent behind, and the restart first looks for a batch the
provider did create (OpenAI: our fingerprint in the batch metadata; Anthropic, whose batches
carry no metadata: a recent batch of the same size, checked against our custom_ids once it
has ended) before it submits anything, so no item is paid for twice. Finished items go to the cache like any response;
expired or failed items are resubmitted a few times, then reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from caravan.llm.accounting import RunStats
from caravan.llm.backends.anthropic_api import messages_body, response_from_message
from caravan.llm.backends.errors import classify_sdk_error
from caravan.llm.backends.openai_api import chat_body
from caravan.llm.cache import ResponseCache, response_from_json
from caravan.llm.cache_scope import backend_scope
from caravan.llm.engine import EngineConfig
from caravan.llm.guard import RunGuard
from caravan.llm.pricing import PriceTable, worst_case_cost
from caravan.llm.progress import RunProgress
from caravan.llm.structured import ParseFailure, check_schema, parse_reply
from caravan.llm.types import Request, Response, TransientError, Usage

from caravan.errors import CaravanError
from caravan.secrets import redact_text

MAX_RESUBMITS = 3
FIND_WINDOW_S = 600.0  # clock skew allowed between us and the provider when matching batches


def intent_token(custom_ids: Iterable[str]) -> str:
    """The fingerprint of a request set, journaled before its batch is created."""
    return hashlib.sha256("\n".join(sorted(custom_ids)).encode()).hexdigest()[:32]


class OpenAIBatches:
    """Upload a JSONL file, create a batch, poll, download output and error files."""

    name = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def __init__(self, client: Any) -> None:
        import openai

        self.client = client
        self.sdk = openai

    def line(self, custom_id: str, request: Request) -> bytes:
        body = chat_body(request)
        body.update(body.pop("extra_body", {}))
        item = {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": body,
        }
        return (json.dumps(item, ensure_ascii=False) + "\n").encode()

    async def submit(self, lines: list[bytes], token: str) -> tuple[str, dict[str, Any]]:
        upload = await self.client.files.create(
            file=("batch.jsonl", b"".join(lines)), purpose="batch"
        )
        batch = await self.client.batches.create(
            input_file_id=upload.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"caravan_token": token},
        )
        return batch.id, {"input_file_id": upload.id}

    async def find(self, token: str, custom_ids: set[str], since: float, known: set[str]):
        """The batch a dead run created under `token` (in its metadata), if there is one."""
        async for batch in self.client.batches.list(limit=100):
            if batch.created_at < since - FIND_WINDOW_S:
                break  # newest first: everything further is older than our intent
            if batch.id in known:
                continue
            if (batch.metadata or {}).get("caravan_token") == token:
                return batch.id
        return None

    async def status(self, batch_id: str) -> str:
        """'running', 'ended', or a terminal failure ('failed', 'expired', 'cancelled')."""
        batch = await self.client.batches.retrieve(batch_id)
        if batch.status in ("completed",):
            return "ended"
        if batch.status in ("failed", "expired", "cancelled"):
            return batch.status
        return "running"

    async def results(self, batch_id: str) -> dict[str, Any]:
        """custom_id -> completion dict, or an error string."""
        batch = await self.client.batches.retrieve(batch_id)
        out: dict[str, Any] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self.client.files.content(file_id)
            for raw in content.text.splitlines():
                if not raw.strip():
                    continue
                item = json.loads(raw)
                response = item.get("response") or {}
                if response.get("status_code") == 200:
                    out[item["custom_id"]] = response["body"]
                else:
                    error = item.get("error") or (response.get("body") or {}).get("error") or {}
                    code = error.get("code") or response.get("status_code") or "error"
                    out[item["custom_id"]] = (
                        f"batch item failed ({code}): {error.get('message', '')}"
                    )
        return out

    @staticmethod
    def to_response(request: Request, body: dict[str, Any]) -> Response:
        choice = (body.get("choices") or [{}])[0]
        usage = body.get("usage") or {}
        return Response(
            request_id=request.id,
            text=(choice.get("message") or {}).get("content"),
            finish_reason=choice.get("finish_reason"),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
        )


class AnthropicBatches:
    """messages.batches: create with inline requests, poll, stream results (unordered)."""

    name = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def __init__(self, client: Any) -> None:
        import anthropic

        self.client = client
        self.sdk = anthropic

    def line(self, custom_id: str, request: Request) -> bytes:
        return json.dumps({"custom_id": custom_id, "params": messages_body(request)}).encode()

    async def submit(self, lines: list[bytes], token: str) -> tuple[str, dict[str, Any]]:
        batch = await self.client.messages.batches.create(requests=[json.loads(x) for x in lines])
        return batch.id, {}

    async def find(self, token: str, custom_ids: set[str], since: float, known: set[str]):
        """A batch created since our intent with exactly our request count, not journaled
        under another id. Message batches carry no metadata, so an ended one is checked
        against our custom_ids; a running one is taken on its size and time (if it is not
        ours after all, its items are missing when it is collected, and are submitted)."""
        async for batch in self.client.messages.batches.list(limit=100):
            if batch.created_at.timestamp() < since - FIND_WINDOW_S:
                break  # newest first
            counts = batch.request_counts
            total = sum(
                getattr(counts, k, 0) or 0
                for k in ("processing", "succeeded", "errored", "canceled", "expired")
            )
            if batch.id in known or total != len(custom_ids):
                continue
            if batch.processing_status != "ended":
                return batch.id
            results = await self.client.messages.batches.results(batch.id)
            if {entry.custom_id async for entry in results} == custom_ids:
                return batch.id
        return None

    async def status(self, batch_id: str) -> str:
        batch = await self.client.messages.batches.retrieve(batch_id)
        return "ended" if batch.processing_status == "ended" else "running"

    async def results(self, batch_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async for entry in await self.client.messages.batches.results(batch_id):
            result = entry.result
            if result.type == "succeeded":
                out[entry.custom_id] = result.message
            else:
                detail = getattr(result, "error", None)
                out[entry.custom_id] = f"batch item {result.type}: {detail or ''}".strip()
        return out

    @staticmethod
    def to_response(request: Request, message: Any) -> Response:
        return response_from_message(request, message, 0.0)


def batch_api_for(backend: Any) -> OpenAIBatches | AnthropicBatches:
    from caravan.llm.backends.anthropic_api import AnthropicBackend
    from caravan.llm.backends.openai_api import OpenAIBackend

    if isinstance(backend, OpenAIBackend):
        return OpenAIBatches(backend.client)
    if isinstance(backend, AnthropicBackend):
        return AnthropicBatches(backend.client)
    raise CaravanError(
        f"batch mode exists for the openai and anthropic providers, not {backend.name!r}"
    )


def split_batches(
    lines: list[tuple[str, bytes]], max_requests: int, max_bytes: int
) -> list[list[tuple[str, bytes]]]:
    """Consecutive chunks within the provider's request-count and size limits."""
    chunks: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for cid, line in lines:
        if len(line) > max_bytes:
            raise CaravanError(f"request {cid}: one request is larger than a whole batch may be")
        if current and (len(current) >= max_requests or size + len(line) > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append((cid, line))
        size += len(line)
    if current:
        chunks.append(current)
    return chunks


class BatchRun:
    def __init__(
        self,
        api: OpenAIBatches | AnthropicBatches,
        cache: ResponseCache,
        config: EngineConfig,
        prices: PriceTable,
        poll_s: float,
        max_wait_s: float | None,
        scope: str | None = None,
        guard: RunGuard | None = None,
    ) -> None:
        self.api = api
        self.scope = scope or api.name
        self.guard = guard or RunGuard()
        self._reserved: dict[str, float] = {}  # batch id -> worst case held against the cap
        self.cache = cache
        self.config = config
        self.prices = prices
        self.poll_s = poll_s
        self.max_wait_s = max_wait_s
        self.stats = RunStats()
        self._tried_tokens: set[str] = set()

    async def _call(self, what: str, coro: Any) -> Any:
        """Batch endpoint calls are retried on transient errors like any other call."""
        for attempt in range(self.config.max_retries + 1):
            try:
                return await coro()
            except Exception as exc:  # noqa: BLE001 - classified below
                error = classify_sdk_error(exc, self.api.sdk, what)
                if not isinstance(error, TransientError) or attempt == self.config.max_retries:
                    raise error from exc
                self.stats.retries[error.kind] += 1
                delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2**attempt)
                await asyncio.sleep(max(delay, error.retry_after or 0))
        raise AssertionError("unreachable")

    async def run(self, requests: list[Request]) -> list[Response]:
        name = self.api.name
        keys = [r.cache_key(self.scope) for r in requests]
        self.stats = RunStats(total=len(requests))
        stored = {} if self.config.refresh else self.cache.get_many(keys)
        results: dict[str, Response] = {k: response_from_json(v, None) for k, v in stored.items()}
        first: dict[str, Request] = {}
        for key, request in zip(keys, requests, strict=True):
            first.setdefault(key, request)
        progress = RunProgress(self.config.progress, "batch")
        self.stats.total = len(first)
        self.stats.cached = sum(k in results for k in first)
        if self.config.progress or self.config.summary:
            note = " (--refresh: asking again)" if self.config.refresh else ""
            progress.console.print(
                f"cache: {self.cache.path} ({self.stats.cached} of {len(first)} answered "
                f"already){note}",
                highlight=False,
                soft_wrap=True,
            )
        progress.start(self.stats)
        tries: dict[str, int] = {}
        try:
            # Batches a previous run submitted: collect them, never submit their items again.
            open_batches = {}
            for b in self.cache.open_batches(name):
                if not any(key in first for key in b["items"].values()):
                    continue
                batch_id = b["batch_id"]
                if b["status"] == "submitting":  # died while asking: did the provider get it?
                    found = await self._find(b["info"], set(b["items"]))
                    if found is None:
                        self.cache.set_batch_status(batch_id, "abandoned")
                        continue
                    self.cache.confirm_batch(batch_id, found, b["info"])
                    batch_id = found
                open_batches[batch_id] = b["items"]
            in_flight = {key for items in open_batches.values() for key in items.values()}
            todo = [k for k in first if k not in results and k not in in_flight]
            deadline = None if self.max_wait_s is None else time.monotonic() + self.max_wait_s
            while True:
                if todo:
                    submitted = await self._submit(todo, first)
                    open_batches.update(submitted)
                    sent = {k for items in submitted.values() for k in items.values()}
                    for k in todo:
                        tries[k] = tries.get(k, 0) + 1
                        if k not in sent:  # over the spending cap: never submitted
                            results[k] = Response(
                                first[k].id,
                                error=f"request {first[k].id}: not sent: {self.guard.stop_reason}",
                                error_kind="budget",
                            )
                    todo = []
                if not open_batches:
                    break
                for batch_id in list(open_batches):
                    state = await self._call(
                        f"batch {batch_id}", lambda b=batch_id: self.api.status(b)
                    )
                    if state == "running":
                        continue
                    items = open_batches.pop(batch_id)
                    retry = await self._collect(
                        batch_id, state, items, first, results, tries, progress
                    )
                    todo.extend(retry)
                if todo or not open_batches:
                    continue
                if deadline is not None and time.monotonic() > deadline:
                    break
                await asyncio.sleep(self.poll_s)
        finally:
            progress.stop(self.stats, summary=False)
        out = []
        for key, request in zip(keys, requests, strict=True):
            response = results.get(key) or Response(
                request.id,
                error=f"request {request.id}: its batch is still running; run again to collect it",
                error_kind="batch_pending",
            )
            response = replace(response, request_id=request.id)
            self.guard.finished(response.ok)
            out.append(response)
        # Count per input row, as the engine does (duplicates share one batch item).
        self.stats.total = len(out)
        self.stats.ok = sum(r.ok and not r.cached for r in out)
        self.stats.cached = sum(r.cached for r in out)
        self.stats.failed = sum(not r.ok for r in out)
        if self.config.progress and self.config.summary:
            for line in self.stats.summary_lines():
                progress.console.print(line, highlight=False)
        return out

    async def _find(self, intent: dict[str, Any], custom_ids: set[str]) -> str | None:
        """The batch an earlier attempt created for this intent, if the provider has one."""
        known = self.cache.batch_ids(self.api.name)
        token, since = intent["token"], float(intent.get("since", 0.0))
        return await self._call(
            "batch lookup", lambda: self.api.find(token, custom_ids, since, known)
        )

    async def _submit_once(
        self, chunk: list[tuple[str, bytes]], intent: dict[str, Any]
    ) -> tuple[str, Any]:
        """Submit, unless an earlier attempt whose reply was lost already created it."""
        token = intent["token"]
        if token in self._tried_tokens:
            found = await self.api.find(
                token, {cid for cid, _ in chunk}, intent["since"],
                self.cache.batch_ids(self.api.name),
            )  # fmt: skip
            if found is not None:
                return found, {}
        self._tried_tokens.add(token)
        return await self.api.submit([line for _, line in chunk], token)

    async def _submit(
        self, keys: list[str], first: dict[str, Request]
    ) -> dict[str, dict[str, str]]:
        lines = [(key, self.api.line(key, first[key])) for key in keys]
        submitted = {}
        for chunk in split_batches(lines, self.api.max_requests, self.api.max_bytes):
            worst = self._worst_case([first[cid] for cid, _ in chunk])
            if not self.guard.reserve(worst):
                break  # the rest stays unsent; the caller reports it
            items = {cid: cid for cid, _ in chunk}  # custom_id is the request key
            intent = {"token": intent_token(items), "since": time.time()}
            placeholder = f"submitting:{intent['token']}:{intent['since']}"
            # Journal the intent first: a run killed mid-request can still find its batch.
            self.cache.add_batch(placeholder, self.api.name, intent, items, "submitting")
            batch_id, info = await self._call(
                "batch submit", lambda c=chunk, i=intent: self._submit_once(c, i)
            )
            self.cache.confirm_batch(placeholder, batch_id, {**info, **intent})
            self._reserved[batch_id] = worst
            submitted[batch_id] = items
        return submitted

    def _worst_case(self, requests: list[Request]) -> float:
        """The most a batch of `requests` can cost (batch prices); 0 without a cap."""
        if self.guard.max_cost is None:
            return 0.0
        total = 0.0
        for request in requests:
            worst = worst_case_cost(self.prices, request, self.api.name, batch=True)
            if worst is None:
                raise CaravanError(
                    f"--max-cost: model {request.model!r} has no known price or output limit, "
                    "so its spending cannot be capped; add it to a --prices table "
                    "(input, output, max_output) or set --max-tokens"
                )
            total += worst
        return total

    async def _collect(
        self,
        batch_id: str,
        state: str,
        items: dict[str, str],
        first: dict[str, Request],
        results: dict[str, Response],
        tries: dict[str, int],
        progress: RunProgress,
    ) -> list[str]:
        """Store finished items; return the keys to resubmit."""
        found = await self._call(f"batch {batch_id} results", lambda: self.api.results(batch_id))
        done: list[tuple[str, str, str, Response]] = []
        failed: list[tuple[str, Response]] = []
        retry: list[str] = []
        for custom_id, key in items.items():
            request = first.get(key)
            payload = found.get(custom_id)
            if key in results:
                continue
            if request is None:
                # Paid for by an earlier run that asked for other things: keep it anyway.
                if payload is not None and not isinstance(payload, str):
                    orphan = self.api.to_response(Request([], "", id=None), payload)
                    done.append((key, self.api.name, "", orphan))
                continue
            if payload is None or isinstance(payload, str):
                message = payload or f"batch {batch_id} ended {state} without this item"
                kind = (
                    "batch_expired" if "expired" in message or state == "expired" else "batch_error"
                )
                error = Response(
                    request.id,
                    error=redact_text(f"request {request.id}: {message}"),
                    error_kind=kind,
                )
            else:
                response = self.api.to_response(request, payload)
                response.cost_usd = self.prices.cost(request.model, response.usage, batch=True)
                self.stats.spend(request.model, response.usage, response.cost_usd)
                try:
                    if request.schema is not None:
                        response.parsed = parse_reply(response.text, request.schema)
                except ParseFailure as exc:
                    error = replace(
                        response, error=f"request {request.id}: {exc}", error_kind="parse_failure"
                    )
                else:
                    response.attempts = tries.get(key, 1)
                    done.append((key, self.api.name, request.model, response))
                    results[key] = response
                    continue
            limit = (
                self.config.parse_retries if error.error_kind == "parse_failure" else MAX_RESUBMITS
            )
            if tries.get(key, 1) <= limit:
                self.stats.retries[error.error_kind or "error"] += 1  # always set above
                retry.append(key)
            else:
                error.attempts = tries.get(key, 1)
                failed.append((key, error))
                results[key] = error
        if done:
            self.cache.put_many(done)
        if failed:
            self.cache.record_failures(failed)
        self.cache.set_batch_status(batch_id, "collected")
        billed = sum(r.cost_usd or 0.0 for k, _, _, r in done if k in first)
        self.guard.settle(self._reserved.pop(batch_id, 0.0), billed)
        finished = [r for k, _, _, r in done if k in first] + [r for _, r in failed]
        for response in finished:
            self.stats.finish(response)
        progress.advance(self.stats, len(finished))
        return retry


async def run_batch(
    backend: Any,
    requests: list[Request],
    cache: ResponseCache,
    config: EngineConfig,
    prices: PriceTable,
    poll_s: float = 30.0,
    max_wait_s: float | None = None,
    guard: RunGuard | None = None,
) -> list[Response]:
    """Answer `requests` through the provider's Batch API; results in input order."""
    for schema in {id(r.schema): r.schema for r in requests if r.schema}.values():
        check_schema(schema)
    run = BatchRun(
        batch_api_for(backend), cache, config, prices, poll_s, max_wait_s,
        scope=backend_scope(backend), guard=guard,
    )  # fmt: skip
    return await run.run(requests)
