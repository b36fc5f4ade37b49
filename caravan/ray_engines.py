"""In-cluster generation for in-process models (local transformers, vLLM) on Ray.

A stage worker that held its own copy of a vLLM model would put N copies on a cluster of N
workers, none of them with a GPU asked for. Instead, each in-process model gets a few
engine actors (`EngineActor`: the model loaded once per replica, with the GPUs and CPUs
its `ray:` placement asks for), named per (weights fingerprint, backend options, resources)
in the caravan namespace so every stage worker of the cluster finds the same ones. The
sessions a stage ships to its workers carry a `RemoteBackend` instead of a model: it has
the batching-backend interface the engine uses (`complete_batch`, `max_batch_size`,
`cache_scope`), and sends each batch to the least busy replica. The engine around it (cache,
retries, parsing) still runs in the stage worker, with the cache scope the model itself
reports, so cached answers, resume and the sharded cache work as before.

Engine actors outlive a stage (the next stage on the same model reuses them, no reload) and
are released when a later stage does not need them, or by `release_engines()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError
from caravan.placement import Placement, engine_resources
from caravan.ray_executor import NAMESPACE, _ray
from caravan.session import IN_PROCESS

ENGINE_PREFIX = "caravan-engine"
READY_NOTICE_S = 60.0  # say what the run waits for when engines take longer than this


# ---- the actor ---------------------------------------------------------------------------


class EngineActor:
    """One replica of an in-process model: loaded once, answers whole batches for every
    stage worker. Failures come back as values, so the worker's engine sees the backend's
    own error kinds (Ray would wrap them)."""

    def __init__(self, provider: str, model: str, options: dict[str, Any]) -> None:
        from caravan.llm.backends import make_backend

        self.backend = make_backend(provider, model, **options)
        self.loads = 0
        self.batches = 0
        self.requests = 0
        self.callers: set[str] = set()

    def ready(self) -> str:
        """Load the model now (a bad checkpoint fails the run before any work) and say
        the cache scope of the weights it loaded."""
        from caravan.llm.cache_scope import backend_scope

        load = getattr(self.backend, "load", None)
        if callable(load):
            load()
            self.loads += 1
        return backend_scope(self.backend)

    def complete_batch(self, requests: list[Any], caller: str) -> tuple[str, Any]:
        from caravan.llm.types import PermanentError, TransientError

        self.callers.add(caller)
        self.batches += 1
        self.requests += len(requests)
        try:
            return "ok", self.backend.complete_batch(requests)
        except TransientError as exc:
            return "transient", (str(exc), exc.kind, exc.retry_after)
        except PermanentError as exc:
            return "permanent", (str(exc), exc.kind)
        except Exception as exc:  # noqa: BLE001 - the worker's engine decides what to do
            return "error", (type(exc).__name__, str(exc), getattr(exc, "kind", "backend"))

    def stats(self) -> dict[str, Any]:
        """What this replica holds (the resources Ray gave it) and did: model loads,
        batches and requests served, and for whom."""
        return {
            "pid": os.getpid(),
            "resources": _ray().get_runtime_context().get_assigned_resources(),
            "loads": self.loads,
            "batches": self.batches,
            "requests": self.requests,
            "callers": sorted(self.callers),
        }


class RemoteError(Exception):
    """An engine actor's failure that is neither transient nor permanent."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def remote_error(name: str, message: str, kind: str) -> RemoteError:
    """The actor's exception, re-raised in the stage worker under its own class name, so a
    failed request reads the same as when the model ran in the worker."""
    return type(name, (RemoteError,), {})(message, kind)


# ---- the stage worker's side ---------------------------------------------------------------


class RemoteBackend:
    """The batching-backend interface for a model that lives in engine actors: each batch
    goes to the replica with the fewest of this worker's batches in flight (ties: round
    robin from a random start, so the workers spread over the replicas)."""

    def __init__(
        self, name: str, model: str, actors: list[Any], scope: str, max_batch_size: int
    ) -> None:
        self.name, self.model, self.actors = name, model, list(actors)
        self.scope, self.max_batch_size = scope, max_batch_size
        self._setup()

    def _setup(self) -> None:
        self._busy = [0] * len(self.actors)
        self._turn = random.randrange(len(self.actors))
        self._lock = threading.Lock()
        self._caller = f"{socket.gethostname()}:{os.getpid()}"

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("name", "model", "actors", "scope",
                                              "max_batch_size")}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def cache_scope(self) -> str:
        return self.scope

    def _pick(self) -> int:
        with self._lock:
            n = len(self.actors)
            i = min(range(n), key=lambda j: (self._busy[j], (j - self._turn) % n))
            self._busy[i] += 1
            self._turn = (i + 1) % n
            return i

    def complete_batch(self, requests: list[Any]) -> list[Any]:
        """Runs in the engine's worker thread: waiting here never blocks the stage's loop."""
        from caravan.llm.types import PermanentError, TransientError

        ray = _ray()
        i = self._pick()
        try:
            status, value = ray.get(self.actors[i].complete_batch.remote(list(requests),
                                                                          self._caller))  # fmt: skip
        except ray.exceptions.RayActorError as exc:  # restarted by Ray; the engine retries
            raise TransientError(
                f"{self.name} engine for {self.model} (replica {i}) died: {exc}", "server"
            ) from exc
        finally:
            with self._lock:
                self._busy[i] -= 1
        if status == "ok":
            return value
        if status == "transient":
            raise TransientError(value[0], value[1], value[2])
        if status == "permanent":
            raise PermanentError(value[0], value[1])
        raise remote_error(*value)


# ---- the driver's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSpec:
    """One in-process model as engine actors: what they load and what they ask Ray for."""

    provider: str
    model: str
    options: tuple[tuple[str, Any], ...]  # backend options, sorted (hashable)
    scope: str  # the weights fingerprint, as the session's cache scope names it
    num_gpus: float
    num_cpus: float
    replicas: int

    @property
    def key(self) -> str:
        """Names the actors: the same model, options and resources share them."""
        data = [self.provider, self.model, self.scope, self.options, self.num_gpus,
                self.num_cpus]  # fmt: skip
        return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()[:16]

    def actor_name(self, replica: int) -> str:
        label = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.model).name)[:40]
        return f"{ENGINE_PREFIX}-{self.provider}-{label}-{self.key}-{replica}"

    def actor_options(self, replica: int) -> dict[str, Any]:
        """The `.options(...)` of replica `replica`'s actor."""
        return {
            "name": self.actor_name(replica),
            "namespace": NAMESPACE,
            "get_if_exists": True,
            "num_gpus": self.num_gpus,
            "num_cpus": self.num_cpus,
            "max_restarts": 2,
        }


def engine_spec(session: Any) -> EngineSpec:
    """The engine actors `session` (an in-process LLM) needs, from its `placement`."""
    from caravan.llm.backends import in_process_options

    options = in_process_options(
        session.provider, dict(session.backend_options), session.settings.concurrency
    )
    placement: Placement = session.placement or Placement()
    resources = engine_resources(session.provider, options, placement)
    return EngineSpec(
        provider=session.provider,
        model=session.model,
        options=tuple(sorted(options.items())),
        scope=session.scope(),
        num_gpus=resources["num_gpus"],
        num_cpus=resources["num_cpus"],
        replicas=placement.replicas,
    )


_STARTED: dict[str, Any] = {}  # actor name -> handle: the driver keeps them alive
_JOB: list[str] = []  # the Ray job those handles belong to


def _forget_old_job() -> None:
    """After `ray.shutdown()` and a new `init`, the old handles are gone with their actors."""
    context = _ray().get_runtime_context()
    job = f"{context.get_node_id()}/{context.get_job_id()}"  # job ids restart per cluster
    if [job] != _JOB:
        _STARTED.clear()
        _JOB[:] = [job]


def start_engines(spec: EngineSpec) -> RemoteBackend:
    """Start (or find) the spec's replicas, wait until each has loaded the model, and return
    the backend that sends batches to them."""
    ray = _ray()
    have = ray.cluster_resources()
    for kind, need in (("GPU", spec.num_gpus), ("CPU", spec.num_cpus)):
        if need > have.get(kind, 0):
            raise CaravanError(
                f"{spec.provider} model {spec.model}: each engine replica asks for "
                f"{need:g} {kind}(s) (`ray: {{num_{kind.lower()}s: ...}}`), the cluster has "
                f"{have.get(kind, 0):g}"
            )
    remote = ray.remote(EngineActor)
    actors = []
    for replica in range(spec.replicas):
        name = spec.actor_name(replica)
        if name not in _STARTED:
            options = spec.actor_options(replica)
            _STARTED[name] = remote.options(**options).remote(
                spec.provider, spec.model, dict(spec.options)
            )
        actors.append(_STARTED[name])
    pending = [a.ready.remote() for a in actors]
    _, waiting = ray.wait(pending, num_returns=len(pending), timeout=READY_NOTICE_S)
    if waiting:  # loading a big model takes minutes; a replica may also wait for a node
        print(f"waiting for {len(waiting)} of {len(actors)} engine replicas of {spec.model} "
              f"({spec.num_gpus:g} GPUs, {spec.num_cpus:g} CPUs each): loading the model, or "
              "waiting for a node with that much free", file=sys.stderr, flush=True)  # fmt: skip
    try:
        scopes = ray.get(pending)
    except Exception as exc:
        release_engines({spec.actor_name(r) for r in range(spec.replicas)})
        raise CaravanError(f"{spec.provider} model {spec.model}: engine did not start: "
                           f"{exc}") from exc  # fmt: skip
    return RemoteBackend(spec.provider, spec.model, actors, scopes[0],
                         int(dict(spec.options).get("max_batch_size", 1)))  # fmt: skip


def release_engines(names: set[str] | None = None, wait_s: float = 30.0) -> None:
    """Stop this driver's engine actors (those named, else all), freeing their GPUs.
    `ray.kill` returns before the actor is gone; waiting until its name is free means the
    next stage's engines get the GPUs, and a same-named start never finds the dying one."""
    import time

    ray = _ray()
    stopped = [name for name in list(_STARTED) if names is None or name in names]
    for name in stopped:
        ray.kill(_STARTED.pop(name), no_restart=True)
    deadline = time.monotonic() + wait_s
    for name in stopped:
        while time.monotonic() < deadline:
            try:
                ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                break  # gone
            time.sleep(0.05)


@contextmanager
def engines_for(sessions: list[Any]) -> Iterator[float]:
    """While a stage runs on Ray, its in-process sessions send their batches to engine
    actors (started or found here; engines no session of this stage uses are released
    first, so their GPUs are free). Yields the CPUs the engines hold, so the stage's pool
    can leave them free. Sessions are pointed back at their own backends afterwards."""
    _forget_old_job()
    mine = [s for s in {id(s): s for s in sessions}.values() if s.provider in IN_PROCESS]
    specs = {id(s): engine_spec(s) for s in mine}
    needed = {sp.actor_name(r) for sp in specs.values() for r in range(sp.replicas)}
    release_engines(set(_STARTED) - needed)
    backends: dict[str, RemoteBackend] = {}
    try:
        for session in mine:
            spec = specs[id(session)]
            if spec.key + str(spec.replicas) not in backends:
                backends[spec.key + str(spec.replicas)] = start_engines(spec)
            session.engines = backends[spec.key + str(spec.replicas)]
        held = {sp.actor_name(r): sp.num_cpus for sp in specs.values() for r in range(sp.replicas)}
        yield sum(held.values())
    finally:
        for session in mine:
            session.engines = None
