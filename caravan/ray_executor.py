"""The Ray executor: the same stages, their batches spread over a Ray cluster's actors.

    import caravan as cv
    out = cv.ray.apply(cv.read("prompts.jsonl"), cv.synth.Complete(llm=gpt4o))

The driver reads and batches the input exactly as the local runner does (so journal keys
match: a run started locally resumes on Ray and back), ships the unfinished batches to a
pool of actors through `ray.data` (`map_batches` with a callable class, so `setup()` runs
once per actor; `process` runs on the actor's own event loop), and journals each batch's
result as it comes back. The output is assembled in input order by the local runner's own
code, so both executors give the same rows, rejected rows, counters and lineage.

Heavy read-only state (decontam's eval index) is built once on the driver
(`stage.shared_state()`) and put in the object store. Workers write LLM responses to one
cache shard each and read every shard; API rate limits are held by one named actor per
cluster, so N workers share the provider's limit instead of multiplying it.
`GlobalStage`s run on the driver over the whole table. In-process models (local
transformers, vLLM) run in engine actors of their own (caravan/ray_engines.py), shared by
every worker, so the stage's actors need no GPU.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa

from caravan.errors import CaravanError

NAMESPACE = "caravan"
LIMITS_ACTOR = "caravan-rate-limits"


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise CaravanError(
            "the Ray executor needs Ray: pip install 'caravan-posttrain[ray]'"
        ) from exc
    return ray


def init(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to the cluster at `address` (else $RAY_ADDRESS), or start a local Ray with
    `num_cpus` (default: this machine's CPUs, at most 4). Reuses a running connection."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": True}
    if address:
        ray.init(address=address, **options)
    else:
        cpus = num_cpus or min(os.cpu_count() or 1, 4)
        ray.init(num_cpus=cpus, include_dashboard=False, **options)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # caravan shows its own, one per stage
    ctx.print_on_execution_start = False
    return ray


# ---- one rate limit per cluster -----------------------------------------------------------


class TokenBuckets:
    """Requests/min and tokens/min buckets per scope (backend and model), as reservations:
    a caller takes what it needs now and is told how long to wait before sending, so the
    buckets never block the actor and every worker draws on the same minute."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[tuple[str, str], list[float]] = {}  # -> [level, stamp]
        self._resume_at: dict[str, float] = {}
        self._taken: dict[tuple[str, str], float] = {}

    def _take(self, scope: str, kind: str, per_minute: float, amount: float, now: float) -> float:
        level, stamp = self._state.get((scope, kind), (per_minute, now))
        rate = per_minute / 60.0
        level = min(per_minute, level + (now - stamp) * rate) - min(amount, per_minute)
        self._state[(scope, kind)] = [level, now]
        self._taken[(scope, kind)] = self._taken.get((scope, kind), 0.0) + amount
        return max(0.0, -level / rate)

    def reserve(self, scope: str, rpm: float | None, tpm: float | None, tokens: int) -> float:
        """Seconds the caller waits before sending one request of `tokens` tokens."""
        now = self._clock()
        wait = max(0.0, self._resume_at.get(scope, 0.0) - now)
        if rpm:
            wait = max(wait, self._take(scope, "requests", rpm, 1, now))
        if tpm:
            wait = max(wait, self._take(scope, "tokens", tpm, tokens, now))
        return wait

    def taken(self) -> dict[str, float]:
        """How much each `scope|kind` bucket has handed out since the actor started."""
        return {f"{scope}|{kind}": v for (scope, kind), v in self._taken.items()}

    def cool_down(self, scope: str, seconds: float) -> None:
        """The server said Retry-After: nobody in the cluster sends to it before then."""
        self._resume_at[scope] = max(self._resume_at.get(scope, 0.0), self._clock() + seconds)


class ClusterLimiter:
    """The engine's limiter interface (`acquire`, `cool_down`) backed by the named actor."""

    def __init__(self, actor: Any, rpm: float | None, tpm: float | None, scope: str) -> None:
        self.actor, self.rpm, self.tpm, self.scope = actor, rpm, tpm, scope

    async def acquire(self, tokens: int) -> None:
        wait = await self.actor.reserve.remote(self.scope, self.rpm, self.tpm, tokens)
        if wait > 0:
            await asyncio.sleep(wait)

    def cool_down(self, seconds: float) -> None:
        self.actor.cool_down.remote(self.scope, seconds)


def limits_actor() -> Any:
    """The cluster's one TokenBuckets actor (created on first use, found by name after)."""
    ray = _ray()
    remote = ray.remote(num_cpus=0)(TokenBuckets)
    return remote.options(name=LIMITS_ACTOR, namespace=NAMESPACE, get_if_exists=True).remote()


# ---- the workers -------------------------------------------------------------------------


class StageWorker:
    """One actor of the pool: sets the stage up once, then runs `process` per batch."""

    def __init__(self, stage: Any, shared: list[Any], limits: Any) -> None:
        from caravan.llm.cache import use_worker_shard
        from caravan.llm.ratelimit import use_shared_limits

        use_worker_shard(f"worker-{uuid.uuid4().hex[:12]}")
        if limits is not None:
            use_shared_limits(lambda rpm, tpm, scope: ClusterLimiter(limits, rpm, tpm, scope))
        self.stage = stage
        self.loop = asyncio.new_event_loop()
        if shared:
            self.stage.use_shared_state(_ray().get(shared[0]))
        else:
            self.stage.setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        from caravan.runner import process_batch, stopped, table_from_bytes

        keys, results, spent, halted, finished = [], [], [], [], []
        for key, blob in zip(batch.column("key").to_pylist(), batch.column("batch").to_pylist(),
                             strict=True):  # fmt: skip
            sessions = self.stage.sessions()
            before = [s.spent_usd for s in sessions]
            result, whole = self.loop.run_until_complete(
                process_batch(self.stage, table_from_bytes(blob))
            )
            keys.append(key)
            results.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            spent.append([s.spent_usd - b for s, b in zip(sessions, before, strict=True)])
            halted.append(stopped(self.stage))
            finished.append(whole)
        return pa.table(
            {
                "key": keys,
                "result": pa.array(results, pa.binary()),
                "spent": pa.array(spent, pa.list_(pa.float64())),
                "stopped": pa.array(halted, pa.bool_()),
                "finished": pa.array(finished, pa.bool_()),
            }
        )


# ---- the executor ------------------------------------------------------------------------


def _has_limits(stage: Any) -> bool:
    return any(s.settings.rpm or s.settings.tpm for s in stage.sessions())


def apply(
    data: Any,
    stage: Any,
    *,
    journal: str | Path | Any = None,
    progress: bool = True,
    max_cost: float | None = None,
    label: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    address: str | None = None,
) -> Any:
    """Run `stage` over `data` on Ray; the same options and result as `run_stage`, plus
    `workers` (actors in the pool; default: the cluster's CPUs / `num_cpus`), `num_cpus` and
    `num_gpus` per actor, and `address` (else $RAY_ADDRESS, else a local Ray)."""
    from caravan.journal import Journal, batch_key
    from caravan.progress import StageProgress
    from caravan.runner import (
        CostLimitReached,
        arun_stage,
        assemble,
        batches_of,
        read,
        table_bytes,
    )
    from caravan.stage import GlobalStage

    src = read(data)
    if isinstance(stage, GlobalStage):  # needs every row at once: the driver runs it
        from caravan.aio import run_sync

        return run_sync(arun_stage(stage, src, journal=journal, progress=progress,
                                   max_cost=max_cost, label=label))  # fmt: skip
    ray = init(address)
    label = label or stage.name
    jnl = journal if isinstance(journal, Journal) or journal is None else Journal(journal)
    settings = stage.settings()
    selected = stage.select(src.table)
    batches = batches_of(selected, batch_size or stage.batch_size)
    # content keys only when journaling (they cost a pass over every row); else positions
    keys = [batch_key(label, settings, b) if jnl is not None else str(i)
            for i, b in enumerate(batches)]  # fmt: skip
    done: dict[str, Any] = {}
    counters: Counter[str] = Counter()
    if jnl is not None:
        for key in keys:
            if (found := jnl.get(key)) is not None:
                done[key] = found
                counters["batches_resumed"] += 1
    todo = [(k, b) for k, b in zip(keys, batches, strict=True) if k not in done]
    sessions = stage.sessions()
    spent = 0.0
    with StageProgress(label, selected.num_rows, progress) as bar, ExitStack() as stack:
        for key, b in zip(keys, batches, strict=True):
            if key in done:
                bar.advance(b.num_rows, len(done[key].rejected))
        if todo:
            from caravan.ray_engines import engines_for

            state = stage.shared_state()
            shared = [ray.put(state)] if state is not None else []
            limits = limits_actor() if _has_limits(stage) else None
            # in-process models run in their own engine actors, not in every stage worker
            engines = stack.enter_context(engines_for(sessions))
            cpus = max(0.0, ray.cluster_resources().get("CPU", 1) - engines)
            size = max(1, min(len(todo), workers or int(cpus // max(num_cpus, 0.01)) or 1))
            # a few Ray blocks per worker, each of several stage batches: per-task overhead
            # stays small, the pool stays balanced, results still come back (and are
            # journaled) block by block; from_items builds blocks without remote tasks
            per_task = max(1, -(-len(todo) // (size * 4)))
            items = ray.data.from_items(
                [{"key": k, "batch": table_bytes(b)} for k, b in todo],
                override_num_blocks=-(-len(todo) // per_task),
            )
            out = items.map_batches(
                StageWorker,
                batch_size=None,
                batch_format="pyarrow",
                fn_constructor_args=(stage, shared, limits),
                compute=ray.data.ActorPoolStrategy(size=size),
                num_cpus=num_cpus,
                num_gpus=num_gpus or None,
            )
            rows_of = {k: b.num_rows for k, b in todo}
            for part in out.iter_batches(batch_size=None, batch_format="pyarrow"):
                for key, text, costs, halt, whole in zip(part.column("key").to_pylist(),
                                                         part.column("result").to_pylist(),
                                                         part.column("spent").to_pylist(),
                                                         part.column("stopped").to_pylist(),
                                                         part.column("finished").to_pylist(),
                                                         strict=True):  # fmt: skip
                    result = pickle.loads(text)
                    if jnl is not None and whole:  # failed or unsent requests: redo on a rerun
                        jnl.put(key, result)
                    if not whole:
                        counters["batches_unfinished"] += 1
                    if halt:
                        counters["batches_stopped"] += 1
                    done[key] = result
                    for session, cost in zip(sessions, costs, strict=False):
                        session.spent_usd += cost
                    spent += sum(costs)
                    bar.advance(rows_of[key], len(result.rejected))
                if max_cost is not None and spent > max_cost:
                    raise CostLimitReached(
                        f"{label}: fresh model calls cost ${spent:.4f}, over the limit of "
                        f"${max_cost:.4f}; finished batches are kept, run again to continue"
                    )
    rows: list[dict[str, Any]] = []
    rejected: list[Any] = []
    for key in keys:  # input order, whatever order the workers finished in
        rows.extend(done[key].rows)
        rejected.extend(done[key].rejected)
        counters.update(done[key].counters)
    return assemble(stage, src, selected, label, settings, rows, rejected, counters)
