"""An LLM session: one model with its backend, cache and engine settings for its lifetime.

    gpt4o = LLM("gpt-4o", temperature=0.7)
    replies = gpt4o.complete(["Name a prime."])          # sync, in or out of a running loop
    replies = await gpt4o.acomplete(["Name a prime."])   # async
    gpt4o.estimate(["Name a prime."]).lines()            # dry run: nothing is sent

Every call goes through llm/'s engine (cache, retries, limits, accounting), and the session
is the one place that builds what a call needs (backend, cache, engine settings, Batch API
mode): `caravan.llm.complete` is a one-call session, the CLIs make theirs from the options
`LLMSettings` generates. It also keeps the running spend, so a runner can stop at a cost limit.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caravan.errors import CaravanError

if TYPE_CHECKING:
    import asyncio  # loaded on the first call: every CLI's --help imports this module

IN_PROCESS = ("local", "vllm")

# Failed requests of the batch being processed: the runner sets a fresh box per batch, so
# batches in flight together each learn whether their own requests all succeeded.
BATCH_FAILURES: ContextVar[list[int] | None] = ContextVar("caravan_batch_failures", default=None)


@dataclass
class LLMSettings:
    """How a session makes calls. Each documented field is also a CLI option."""

    concurrency: int = field(default=64, metadata={"help": "Requests in flight at once."})
    max_retries: int = field(
        default=8, metadata={"help": "Retries of a transient failure (429, 5xx, timeout)."}
    )
    timeout_s: float = field(
        default=120.0, metadata={"help": "Seconds per attempt.", "flag": "timeout"}
    )
    rpm: float | None = field(default=None, metadata={"help": "Requests per minute, at most."})
    tpm: float | None = field(default=None, metadata={"help": "Tokens per minute, at most."})
    prices: Path | None = field(
        default=None, metadata={"help": "YAML price table overriding the bundled prices."}
    )
    batch: bool = field(
        default=False, metadata={"help": "Use the provider's Batch API (half price, slower)."}
    )
    batch_poll_s: float = field(
        default=30.0,
        metadata={"help": "Seconds between Batch API status checks.", "flag": "poll-interval"},
    )
    refresh: bool = field(
        default=False,
        metadata={"help": "Ask again even for cached prompts; overwrite the cached answers."},
    )
    progress: bool = field(default=True, metadata={"help": "Show the call progress bar."})
    # Python only (no "help", so no CLI option): give up on a Batch API run after this long
    batch_max_wait_s: float | None = None

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class LLM:
    """A model plus how to call it. Sampling params (temperature, max_tokens, seed...) given
    here apply to every request unless a request sets its own."""

    def __init__(
        self,
        model: str,
        provider: str | None = None,
        base_url: str | None = None,
        *,
        cache: str | Path | bool | Any = True,
        settings: LLMSettings | None = None,
        backend_options: dict[str, Any] | None = None,
        system: str | None = None,
        guard: Any = None,
        backend: Any = None,
        placement: Any = None,
        **params: Any,
    ) -> None:
        from caravan.llm.backends import PROVIDERS, resolve_provider
        from caravan.placement import parse_placement

        base = asdict(settings) if settings is not None else {}
        for name in list(params):
            if name in LLMSettings.names():
                base[name] = params.pop(name)
        self.settings = LLMSettings(**base)
        self.model = model
        self.base_url = base_url
        self.provider = resolve_provider(provider, model, base_url)
        if self.provider not in PROVIDERS:
            raise CaravanError(f"unknown provider {self.provider!r}; choose {', '.join(PROVIDERS)}")
        self.params = dict(params)
        self.system = system
        self.backend_options = dict(backend_options or {})
        self.guard = guard  # a RunGuard shared by a command's sessions: one --max-cost for all
        # in-process models on Ray: the engine actors' resources and replicas (`ray:`)
        self.placement = (
            None if placement is None else parse_placement(placement, repr(self), self.provider)
        )
        self.engines: Any = None  # set by the Ray executor: a backend to those engine actors
        self._cache_arg = cache
        self._cache: Any = None
        self._backend: Any = backend  # given: the caller owns (and closes) it
        self._own_backend = backend is None
        self._lock = threading.Lock()
        self.spent_usd = 0.0  # fresh (not cached) calls of this session
        self.calls = 0
        self._gates: Any = weakref.WeakKeyDictionary()  # event loop -> its concurrency gate
        self._clients: Any = weakref.WeakKeyDictionary()  # loop -> held API client (or None)

    # ---- description ----------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"LLM({self.model!r}, provider={self.provider!r})"

    def describe(self) -> dict[str, Any]:
        """What provenance records: never a key, never URL credentials."""
        from caravan.secrets import public_url

        return {
            "model": self.model,
            "provider": self.provider,
            "base_url": public_url(self.base_url),
            "params": dict(self.params),
        }

    @classmethod
    def from_config(cls, data: dict[str, Any] | str, where: str = "llm") -> LLM:
        """From a pipeline file's mapping (`model`, `provider`, `base_url`, settings, params,
        and `ray`: the engine placement of an in-process model)."""
        if isinstance(data, str):
            data = {"model": data}
        if not isinstance(data, dict) or not data.get("model"):
            raise CaravanError(f"{where}: an LLM needs at least `model`")
        data = dict(data)
        params = data.pop("params", None) or {}
        if data.get("ray") is not None:
            data["placement"] = data.pop("ray")
        try:
            return cls(**data, **params)
        except CaravanError as exc:  # name the file's entry, not just the model
            raise CaravanError(f"{where}: {exc}") from exc

    def __getstate__(self) -> dict[str, Any]:
        """Sessions travel to Ray workers: the open cache, backend and lock stay behind, and
        the default cache is resolved here, so every worker uses the driver's cache file."""
        state = dict(self.__dict__)
        state.update(_cache=None, _backend=None, _own_backend=True, _lock=None, _gates=None,
                     _clients=None)
        if self._cache_arg is not False and self._cache_arg is not None:
            state["_cache_arg"] = self.cache_path
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._gates = weakref.WeakKeyDictionary()
        self._clients = weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        """`concurrency` permits shared by every call of this session on the running loop,
        so batches in flight together still send at most `concurrency` requests at once."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            gate = self._gates.get(loop)
            if gate is None:
                gate = self._gates[loop] = asyncio.Semaphore(self.settings.concurrency)
            return gate

    # ---- cache and backend ----------------------------------------------------------------

    @property
    def cache_path(self) -> Path | None:
        from caravan.llm.api import default_cache_path
        from caravan.llm.cache import ResponseCache

        c = self._cache_arg
        if c is True:
            return default_cache_path()
        if c is None or c is False:
            return None
        if isinstance(c, ResponseCache):
            return c.path
        return Path(c).expanduser()

    def _open_cache(self) -> Any:
        from caravan.llm.cache import ResponseCache, open_shared_cache

        with self._lock:
            if self._cache is None and self._cache_arg not in (False, None):
                arg, path = self._cache_arg, self.cache_path
                assert path is not None  # set whenever the argument is not False/None
                self._cache = arg if isinstance(arg, ResponseCache) else open_shared_cache(path)
            return self._cache

    def _in_process_backend(self) -> Any:
        """local/vllm: one backend for the session's life (a model loads once), or the
        engine actors the Ray executor placed the model in."""
        if self.engines is not None:  # the model runs in engine actors (Ray executor)
            return self.engines
        if self.provider not in IN_PROCESS:
            return None
        with self._lock:
            if self._backend is None:
                from caravan.llm.backends import in_process_options, make_backend

                options = in_process_options(
                    self.provider, self.backend_options, self.settings.concurrency
                )
                self._backend = make_backend(self.provider, self.model, **options)
            return self._backend

    def _call_backend(self) -> tuple[Any, bool]:
        """(backend, whether to close it after the call). An API client belongs to the
        event loop it was made on, and `complete` may run each call on a different loop,
        so API backends are made per call; in-process ones live as long as the session."""
        if self._backend is not None and not self._own_backend:
            return self._backend, False
        if self.provider in IN_PROCESS:
            return self._in_process_backend(), False
        import asyncio

        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            return self._api_backend(), True
        if self._clients[loop] is None:  # held: made on the first call, kept for the rest
            self._clients[loop] = self._api_backend()
        return self._clients[loop], False

    def _api_backend(self) -> Any:
        from caravan.llm.backends import make_backend

        options = dict(self.backend_options)
        options.setdefault("timeout", self.settings.timeout_s)
        return make_backend(self.provider, self.model, base_url=self.base_url, **options)

    @contextlib.asynccontextmanager
    async def held_client(self) -> AsyncIterator[None]:
        """Keep one API client (and its open connections) for every call made on this
        loop inside the block: a runner's batches do not reconnect per batch."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self.provider in IN_PROCESS or loop in self._clients:
            yield
            return
        self._clients[loop] = None  # made on the first call that needs it
        try:
            yield
        finally:
            client = self._clients.pop(loop, None)
            if client is not None and hasattr(client, "aclose"):
                await client.aclose()

    def engine_config(self, progress: bool | None = None) -> Any:
        """The engine settings of this session's calls."""
        from caravan.llm.engine import EngineConfig

        s = self.settings
        shown = s.progress if progress is None else progress
        return EngineConfig(
            concurrency=s.concurrency, max_retries=s.max_retries, timeout_s=s.timeout_s,
            rpm=s.rpm, tpm=s.tpm, progress=shown, summary=shown, batch_pricing=s.batch,
            refresh=s.refresh,
        )  # fmt: skip

    def scope(self) -> str:
        """The cache scope: what else, besides the request, changes the answer."""
        from caravan.llm.cache_scope import cache_scope

        hash_weights = self.backend_options.get("hash_weights")
        return cache_scope(self.provider, self.model, self.base_url, hash_weights)

    def prepare(self) -> None:
        """Fail fast, before any work, on a local model that cannot load."""
        if self.provider == "local":
            from caravan.synth.models import check_local_model

            check_local_model(self.model)

    def close(self) -> None:
        """Close the cache (when the session opened it)."""
        from caravan.llm.cache import ResponseCache

        if self._cache is not None and not isinstance(self._cache_arg, ResponseCache):
            self._cache.close()
        self._cache = None

    # ---- requests -------------------------------------------------------------------------

    def request(
        self,
        id: str,
        messages: list[dict[str, str]] | str,
        params: dict[str, Any] | None = None,
        schema: Any = None,
    ) -> Any:
        """One Request of this session's model; `params` override the session's."""
        from caravan.llm.api import to_request
        from caravan.llm.structured import schema_of

        merged = {**self.params, **(params or {})}
        schema_dict = schema_of(schema) if schema is not None else None
        item = {"id": id, "messages": messages} if not isinstance(messages, str) else {
            "id": id, "prompt": messages}  # fmt: skip
        return to_request(item, self.model, 0, merged, schema_dict, self.system)

    def _requests(self, inputs: Any, schema: Any = None) -> list[Any]:
        from caravan.llm.api import build_requests

        return build_requests(
            list(inputs), self.model, params=self.params, schema=schema, system=self.system
        )

    async def acomplete(self, inputs: Any, *, schema: Any = None, progress: bool | None = None):
        """One Response per input (text, messages, {"messages"|"prompt", "id"}, Request)."""
        from caravan.llm.engine import Engine
        from caravan.llm.guard import RunGuard
        from caravan.llm.pricing import PriceTable

        requests = self._requests(inputs, schema)
        if not requests:
            return []
        s = self.settings
        guard = self.guard if self.guard is not None else RunGuard()
        cache = self._open_cache()
        if s.batch and cache is None:
            raise CaravanError("batch mode needs a cache: it journals submitted batches")
        config, prices = self.engine_config(progress), PriceTable(s.prices)
        backend, owned = self._call_backend()
        try:
            if s.batch:
                from caravan.llm.batch import run_batch

                responses = await run_batch(
                    backend, requests, cache, config, prices, s.batch_poll_s,
                    s.batch_max_wait_s, guard=guard,
                )  # fmt: skip
            else:
                engine = Engine(backend, cache=cache, config=config, prices=prices, guard=guard,
                                gate=None if self.provider in IN_PROCESS else self._gate())  # fmt: skip
                responses = await engine.arun(requests)
        finally:
            if owned and hasattr(backend, "aclose"):
                await backend.aclose()
        fresh = [r for r in responses if not r.cached]
        self.calls += len(fresh)
        if (box := BATCH_FAILURES.get()) is not None:  # the runner's batch learns its failures
            box[0] += sum(1 for r in responses if not r.ok)
        self.spent_usd += sum(r.cost_usd or 0.0 for r in fresh)
        return responses

    def complete(self, inputs: Any, *, schema: Any = None, progress: bool | None = None):
        """Sync form of `acomplete`; works inside a running event loop too."""
        from caravan.aio import run_sync

        return run_sync(self.acomplete(inputs, schema=schema, progress=progress))

    def estimate(self, inputs: Any, *, schema: Any = None) -> Any:
        """What `complete(inputs)` would send and cost at most; sends nothing."""
        from caravan.llm.cache import ResponseCache
        from caravan.llm.estimate import estimate_cost
        from caravan.llm.pricing import PriceTable

        requests = self._requests(inputs, schema)
        path = self.cache_path
        opened = None if self.settings.refresh else self._cache  # refresh: every one is sent
        cache = opened or (ResponseCache(path) if path is not None and path.exists() and
                           not self.settings.refresh else None)  # fmt: skip
        try:
            return estimate_cost(
                requests,
                self.scope(),
                cache,
                PriceTable(self.settings.prices),
                batch=self.settings.batch,
                free=self.provider in IN_PROCESS,
            )
        finally:
            if cache is not None and cache is not opened:
                cache.close()
