"""The engine every model call goes through: cache, limits, retries, parsing, accounting.

Backends only make calls. The engine decides what still needs calling (cache), how many go
at once (bounded in flight, requests/tokens per minute), what to do when one fails (retry
transient errors with exponential backoff and jitter, honour Retry-After, record the rest),
and when a result counts as done (after its row is committed to the cache).

In-process backends (local transformers, vLLM) get whole batches of up to `concurrency`
requests, one batch at a time. A shared RunGuard stops new sends once a spending cap would be
passed or the endpoint fails in a way no retry fixes (bad key, unknown model, nothing
listening); unsent requests then come back as failures naming the reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from caravan.llm.accounting import RunStats
from caravan.llm.cache import ResponseCache, response_from_json
from caravan.llm.cache_scope import backend_scope, endpoint
from caravan.llm.guard import CONNECT_ATTEMPTS, FATAL_KINDS, RunGuard
from caravan.llm.pricing import PriceTable, worst_case_cost
from caravan.llm.progress import RunProgress
from caravan.llm.ratelimit import make_limiter
from caravan.llm.structured import ParseFailure, check_schema, parse_reply
from caravan.llm.tokens import estimate_prompt_tokens, expected_output_tokens
from caravan.llm.types import PermanentError, Request, Response, TransientError

from caravan.errors import CaravanError
from caravan.secrets import redact_text


@dataclass
class EngineConfig:
    """How hard to push and how patiently to retry."""

    concurrency: int = 64
    max_retries: int = 8  # transient failures retried per request
    timeout_s: float = 120.0  # per attempt
    rpm: float | None = None
    tpm: float | None = None
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    parse_retries: int = 2  # extra attempts for a reply that does not match the schema
    progress: bool = True
    summary: bool = True
    batch_pricing: bool = False  # price at the batch discount (Batch APIs)
    refresh: bool = False  # ask again even when the cache has an answer, and overwrite it

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise CaravanError("concurrency must be at least 1")
        if self.max_retries < 0 or self.parse_retries < 0:
            raise CaravanError("retry limits cannot be negative")
        if self.timeout_s <= 0:
            raise CaravanError("timeout must be positive")


def is_batching(backend: Any) -> bool:
    """In-process backends take whole batches (they may also offer a one-request `complete`,
    which the engine does not use: one request at a time wastes the accelerator)."""
    return hasattr(backend, "complete_batch")


def open_cache(cache: ResponseCache | str | Path | None) -> ResponseCache | None:
    if cache is None or isinstance(cache, ResponseCache):
        return cache
    return ResponseCache(cache)


class Engine:
    """Run requests through one backend. Results come back in input order, one per request;
    a request that failed after its retries is a Response with `error` set."""

    def __init__(
        self,
        backend: Any,
        *,
        cache: ResponseCache | str | Path | None = None,
        config: EngineConfig | None = None,
        prices: PriceTable | None = None,
        guard: RunGuard | None = None,
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.backend = backend
        self.gate = gate  # shared by several engines of one session: requests in flight
        self.cache = open_cache(cache)
        self.config = config or EngineConfig()
        self.prices = prices or PriceTable()
        self.guard = guard or RunGuard()
        self.stats = RunStats()
        self._worst: dict[str, float] = {}  # request cache key -> most one attempt can cost
        self._writes: list[tuple[str, str, str, Response]] = []
        self._flush_future: asyncio.Future | None = None
        self._rng = random.Random()
        self._sleep = asyncio.sleep  # backoff waits; tests swap in a recorder

    # ---- public ---------------------------------------------------------------------------

    def run(self, requests: Sequence[Request]) -> list[Response]:
        return asyncio.run(self.arun(requests))

    async def arun(self, requests: Sequence[Request]) -> list[Response]:
        requests = list(requests)
        self.stats = RunStats(total=len(requests))
        for schema in {id(r.schema): r.schema for r in requests if r.schema}.values():
            check_schema(schema)
        scope = backend_scope(self.backend)
        keys = [r.cache_key(scope) for r in requests]
        results: list[Response | None] = [None] * len(requests)
        stored = {}
        if self.cache is not None and not self.config.refresh:
            stored = self.cache.get_many(keys)
        pending: dict[str, list[int]] = {}
        for i, (req, key) in enumerate(zip(requests, keys, strict=True)):
            if key in stored:
                hit = results[i] = response_from_json(stored[key], req.id)
                self.stats.finish(hit)
                self.guard.finished(True)
            else:
                pending.setdefault(key, []).append(i)
        self._plan_spending(requests, keys, stored, scope.split("|", 1)[0])
        progress = RunProgress(self.config.progress)
        if self.cache is not None and (self.config.progress or self.config.summary):
            hits = sum(1 for k in keys if k in stored)
            note = " (--refresh: asking again)" if self.config.refresh else ""
            progress.console.print(
                f"cache: {self.cache.path} ({hits} of {len(requests)} answered already){note}",
                highlight=False,
                soft_wrap=True,
            )
        progress.start(self.stats)
        model = requests[0].model if requests else ""
        self._limiter = make_limiter(
            self.config.rpm, self.config.tpm, f"{scope}|{model}", self._sleep
        )

        def deliver(key: str, response: Response) -> None:
            for n, i in enumerate(pending[key]):
                # Duplicates of one request share its single call.
                out = response if n == 0 else replace(response, cached=response.ok)
                done = results[i] = replace(out, request_id=requests[i].id)
                self.stats.finish(done)
                self.guard.finished(out.ok)
            progress.advance(self.stats, len(pending[key]))

        try:
            if pending:
                work = [(key, requests[idx[0]]) for key, idx in pending.items()]
                if is_batching(self.backend):
                    await self._run_batching(work, deliver)
                else:
                    await self._run_async(work, deliver)
        finally:
            progress.stop(self.stats, summary=self.config.summary)
        return [r for r in results if r is not None]

    # ---- spending cap and stopping -------------------------------------------------------

    def _plan_spending(
        self, requests: list[Request], keys: list[str], stored: dict, provider: str
    ) -> None:
        """Worst-case cost of every request to send; a cap needs all of them known."""
        self._worst = {}
        if self.guard.max_cost is None or is_batching(self.backend):
            return  # in-process generation is not billed per token
        for request, key in zip(requests, keys, strict=True):
            if key in stored or key in self._worst:
                continue
            worst = worst_case_cost(self.prices, request, provider, batch=self.config.batch_pricing)
            if worst is None:
                raise CaravanError(
                    f"--max-cost: model {request.model!r} has no known price or output limit, "
                    "so its spending cannot be capped; add it to a --prices table "
                    "(input, output, max_output) or set --max-tokens"
                )
            self._worst[key] = worst

    def _stop_kind(self) -> str:
        reason = self.guard.stop_reason or ""
        return "budget" if reason.startswith("--max-cost") else "not_sent"

    def _unsent(self, request: Request) -> Response:
        reason = self.guard.stop_reason or "the run stopped"
        message = f"request {request.id}: not sent: {reason}"
        return self._failure(request, message, self._stop_kind(), 0)

    def _endpoint(self) -> str:
        return endpoint(self.backend.name, getattr(self.backend, "base_url", None))

    def _fatal_reason(self, kind: str, message: str) -> str:
        if kind == "connect":
            return f"cannot connect to {self._endpoint()}"
        what = {"auth": "rejected the credentials", "not_found": "does not know this model/path"}
        detail = message.split(": ", 1)[-1] if message.startswith("request ") else message
        return f"{self._endpoint()} {what.get(kind, kind)}: {detail}"

    # ---- API backends ---------------------------------------------------------------------

    async def _run_async(self, work: list[tuple[str, Request]], deliver: Any) -> None:
        queue = list(reversed(work))

        async def worker() -> None:
            while queue:
                key, request = queue.pop()
                if self.guard.stopped:
                    deliver(key, self._unsent(request))
                    continue
                if self.gate is None:
                    response = await self._call_with_retries(request, self._worst.get(key, 0.0))
                else:
                    async with self.gate:
                        response = await self._call_with_retries(
                            request, self._worst.get(key, 0.0)
                        )
                await self._commit(key, request, response)
                deliver(key, response)

        workers = [
            asyncio.create_task(worker()) for _ in range(min(self.config.concurrency, len(work)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _call_with_retries(self, request: Request, worst: float = 0.0) -> Response:
        cfg = self.config
        attempts = 0
        parse_failures = 0
        estimate = estimate_prompt_tokens(request) + expected_output_tokens(request)
        while True:
            attempts += 1
            await self._limiter.acquire(estimate)
            if not self.guard.reserve(worst):
                if attempts == 1:
                    return self._unsent(request)
                return self._failure(
                    request, f"request {request.id}: not retried: {self.guard.stop_reason}",
                    self._stop_kind(), attempts - 1,
                )  # fmt: skip
            settled = False
            error: TransientError | None = None
            try:
                response = await asyncio.wait_for(self.backend.complete(request), cfg.timeout_s)
            except TimeoutError:
                error = TransientError(
                    f"request {request.id}: no reply within {cfg.timeout_s:g}s", "timeout"
                )
            except TransientError as exc:
                error = exc
            except PermanentError as exc:
                self.guard.settle(worst, 0.0)
                settled = True
                if exc.kind in FATAL_KINDS:
                    self.guard.failed_fatally(self._fatal_reason(exc.kind, str(exc)))
                return self._failure(request, str(exc), exc.kind, attempts)
            except Exception as exc:  # noqa: BLE001 - one bad call must not end the run
                self.guard.settle(worst, 0.0)
                settled = True
                return self._failure(
                    request, f"{exc.__class__.__name__}: {exc}", "client", attempts
                )
            else:
                outcome = self._accept(request, response, attempts)
                self.guard.settle(worst, response.cost_usd)
                settled = True
                if outcome is not None:
                    if outcome.ok:
                        self.guard.succeeded()
                    return outcome
                parse_failures += 1
                if parse_failures > cfg.parse_retries:
                    return self._parse_failure(request, response, attempts)
                self.stats.retries["parse_failure"] += 1
                continue
            finally:
                if not settled:  # a timeout may still be billed: keep the worst case counted
                    billed = error is not None and error.kind == "timeout"
                    self.guard.settle(worst, worst if billed else 0.0)
            assert error is not None
            if error.kind == "connect" and attempts >= CONNECT_ATTEMPTS:
                self.guard.failed_fatally(self._fatal_reason("connect", str(error)))
            if self.guard.stopped:
                return self._failure(
                    request, f"{error} (not retried: {self.guard.stop_reason})", error.kind,
                    attempts,
                )  # fmt: skip
            if attempts > cfg.max_retries:
                return self._failure(
                    request, f"{error} (gave up after {attempts} attempts)", error.kind, attempts
                )
            self.stats.retries[error.kind] += 1
            delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempts - 1))
            delay *= self._rng.uniform(0.5, 1.0)
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
                if error.kind == "rate_limit":
                    self._limiter.cool_down(error.retry_after)
            await self._sleep(delay)

    def _accept(self, request: Request, response: Response, attempts: int) -> Response | None:
        """Price the reply and parse it against the schema; None means it did not parse."""
        response.request_id = request.id
        response.attempts = attempts
        if response.cost_usd is None and is_batching(self.backend):
            response.cost_usd = 0.0  # in-process generation is not billed per token
        elif response.cost_usd is None:
            response.cost_usd = self.prices.cost(
                request.model, response.usage, batch=self.config.batch_pricing
            )
        self.stats.spend(request.model, response.usage, response.cost_usd)
        if not response.ok or request.schema is None:
            return response
        try:
            response.parsed = parse_reply(response.text, request.schema)
        except ParseFailure as exc:
            response.error = str(exc)
            return None
        return response

    def _parse_failure(self, request: Request, response: Response, attempts: int) -> Response:
        return replace(
            response,
            error=f"request {request.id}: {response.error}",
            error_kind="parse_failure",
            parsed=None,
            attempts=attempts,
        )

    def _failure(self, request: Request, message: str, kind: str, attempts: int) -> Response:
        return Response(
            request_id=request.id,
            error=redact_text(message),
            error_kind=kind,
            attempts=attempts,
        )

    # ---- persistence: a result is done once committed -------------------------------------

    async def _commit(self, key: str, request: Request, response: Response) -> None:
        if self.cache is None:
            return
        if not response.ok:
            self.cache.record_failures([(key, response)])
            return
        self._writes.append((key, self.backend.name, request.model, response))
        if self._flush_future is None:
            self._flush_future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._flush)
        await asyncio.shield(self._flush_future)

    def _flush(self) -> None:
        """Group commit: every result finished in this loop turn, one transaction."""
        writes, future, cache = self._writes, self._flush_future, self.cache
        assert future is not None and cache is not None  # _commit set both, then scheduled us
        self._writes, self._flush_future = [], None
        try:
            cache.put_many(writes)
        except Exception as exc:  # noqa: BLE001 - surfaced to every waiting worker
            future.set_exception(CaravanError(f"{cache.path}: cannot save responses: {exc}"))
        else:
            future.set_result(None)

    # ---- in-process batching backends -----------------------------------------------------

    async def _run_batching(self, work: list[tuple[str, Request]], deliver: Any) -> None:
        """Hand the backend whole batches of up to `concurrency` pending requests (or its own
        max_batch_size, if smaller), one batch at a time, generated in a worker thread."""
        cfg = self.config
        size = min(cfg.concurrency, max(1, int(getattr(self.backend, "max_batch_size", 1 << 30))))
        queue = list(work)
        tries: dict[str, int] = {}
        solo: set[str] = set()  # requests of a failed batch, retried one by one
        while queue:
            if self.guard.stopped:
                for key, request in queue:
                    deliver(key, self._unsent(request))
                return
            take = 1 if queue[0][0] in solo else min(size, len(queue))
            take = next((i for i in range(1, take) if queue[i][0] in solo), take)
            chunk, queue = queue[:take], queue[take:]
            requests = [r for _, r in chunk]
            started = time.perf_counter()
            try:
                responses = await asyncio.to_thread(self.backend.complete_batch, requests)
                if len(responses) != len(requests):
                    raise PermanentError(
                        f"{self.backend.name}: returned {len(responses)} responses "
                        f"for {len(requests)} requests",
                        "backend",
                    )
            except TransientError as exc:
                attempt = max(tries.get(k, 0) for k, _ in chunk) + 1
                if attempt <= cfg.max_retries:
                    for k, _ in chunk:
                        tries[k] = attempt
                    self.stats.retries[exc.kind] += len(chunk)
                    queue = chunk + queue
                    await self._sleep(min(cfg.backoff_max_s, cfg.backoff_base_s * 2**attempt))
                    continue
                responses = [self._failure(r, str(exc), exc.kind, attempt) for r in requests]
            except Exception as exc:  # noqa: BLE001 - record, never crash the run
                if len(chunk) > 1:
                    # One bad request must not fail its batch-mates: retry them singly.
                    solo.update(k for k, _ in chunk)
                    queue = chunk + queue
                    continue
                kind = getattr(exc, "kind", "backend")
                message = f"{exc.__class__.__name__}: {exc}"
                responses = [
                    self._failure(r, f"request {r.id}: {message}", kind, 1) for r in requests
                ]
            per_item = (time.perf_counter() - started) / max(1, len(requests))
            finished: list[tuple[str, Request, Response]] = []
            for (key, request), response in zip(chunk, responses, strict=True):
                attempt = tries.get(key, 0) + 1
                if response.ok:
                    response.latency_s = response.latency_s or per_item
                    outcome = self._accept(request, response, attempt)
                    if outcome is None:
                        tries[key] = attempt
                        if attempt <= cfg.parse_retries:
                            self.stats.retries["parse_failure"] += 1
                            queue.append((key, request))
                            continue
                        outcome = self._parse_failure(request, response, attempt)
                    response = outcome
                else:
                    response = replace(response, request_id=request.id, attempts=attempt)
                finished.append((key, request, response))
            # One transaction for the whole batch, then the results count as done.
            await asyncio.gather(*(self._commit(k, q, r) for k, q, r in finished))
            for key, _, response in finished:
                if response.ok:
                    self.guard.succeeded()
                deliver(key, response)
