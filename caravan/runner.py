"""The local runner: everything a stage must not do itself.

It reads and batches inputs (any records source, `datasets.Dataset`, `pa.Table`, a list of
dicts), gives every row a stable `id`, calls `setup()` once and `process()` per batch,
journals finished batches (resume), shows progress, enforces a cost limit, and collects
output rows, rejected rows and counters into a `Dataset` that carries the chain's lineage.
With `workers > 1` a CPU-bound stage's batches run in that many local processes (see
`BatchPool`); results still come back, and are journaled, in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import Counter, deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from caravan.aio import run_sync
from caravan.dataset import Dataset, empty_rejected
from caravan.errors import CaravanError
from caravan.journal import Journal, batch_key
from caravan.progress import StageProgress
from caravan.stage import GlobalStage, Stage, StageResult, rejected_table


class CostLimitReached(CaravanError):
    """Fresh model calls cost more than `max_cost`; finished batches are journaled."""


def row_id(row: dict[str, Any]) -> str:
    """A content id for a row that came without one: equal rows, equal ids, every run."""
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return "r-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _content_ids(rows: list[dict[str, Any]], given: list[str | None]) -> list[str]:
    """Given ids kept; the rest content ids, where identical rows (the same answer sampled
    twice) get `-2`, `-3`, ... in input order, so they stay apart and stable."""
    out: list[str] = []
    taken: set[str] = {g for g in given if g is not None}
    for g, r in zip(given, rows, strict=True):
        if g is None:
            base = g = row_id(r)
            n = 1
            while g in taken:
                n += 1
                g = f"{base}-{n}"
            taken.add(g)
        out.append(g)
    return out


def ensure_ids(table: pa.Table, source: str) -> pa.Table:
    """Every row gets a string `id` (kept when present); a repeated given id is an error."""
    if "id" in table.column_names:
        col = table.column("id")
        if (
            pa.types.is_string(col.type)
            and col.null_count == 0
            and not pc.any(pc.equal(col, "")).as_py()
            and len(pc.unique(col)) == len(col)
        ):
            return table  # unique, non-empty string ids: nothing to fix (checked in Arrow)
        ids = col.to_pylist()
        given = [str(v) if v not in (None, "") else None for v in ids]
        fixed = [v for v in given if v is not None]
        if len(fixed) < len(given):
            fixed = _content_ids(table.to_pylist(), given)
        table = table.set_column(table.column_names.index("id"), "id", pa.array(fixed, pa.string()))
    else:
        fixed = _content_ids(table.to_pylist(), [None] * table.num_rows)
        table = table.add_column(0, "id", pa.array(fixed, pa.string()))
    seen: dict[str, int] = {}
    for i, v in enumerate(fixed):
        if v in seen:
            raise CaravanError(
                f"{source} row {i + 1}: id {v!r} repeats row {seen[v] + 1}; ids must be unique"
            )
        seen[v] = i
    return table


def read(
    source: Any, *, split: str | None = None, config: str | None = None, kind: str | None = None
) -> Dataset:
    """Rows from a path (JSONL, JSON, Parquet, Arrow, folder), a hub id, `"example"` (the
    bundled personas), a `datasets.Dataset`, a `pa.Table` or a list of dicts."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, pa.Table):
        return Dataset(ensure_ids(source, "<table>"))
    if isinstance(source, list):
        from caravan.records.readers import rows_to_table

        bad = next((i for i, r in enumerate(source) if not isinstance(r, dict)), None)
        if bad is not None:
            raise CaravanError(f"<rows> row {bad + 1}: expected a dict, got {type(source[bad])}")
        return Dataset(ensure_ids(rows_to_table(source), "<rows>"))
    if type(source).__name__ in ("Dataset", "IterableDataset") and hasattr(source, "features"):
        table = source.with_format("arrow")[:] if hasattr(source, "with_format") else None
        if table is None:
            raise CaravanError("a streaming datasets.IterableDataset: read it with a hub id")
        return Dataset(ensure_ids(pa.table(table), "<datasets.Dataset>"))
    if isinstance(source, str | Path):
        from caravan.records import load_records
        from caravan.records.readers import handle_bad_rows

        if str(source) == "example":
            from caravan.synth.personas import example_personas_path

            source = example_personas_path()
        loaded = load_records(source, kind, split=split, config=config)
        handle_bad_rows(loaded.bad_rows, kind, loaded.source, "fail", None)
        return Dataset(
            ensure_ids(loaded.table, loaded.source), inputs={loaded.source: loaded.fingerprint}
        )
    raise CaravanError(f"cannot read {type(source).__name__}: give a path, hub id, table or rows")


def batches_of(table: pa.Table, size: int) -> list[pa.Table]:
    """The batches every executor cuts, so journal keys match across executors."""
    if size <= 0 or table.num_rows <= size:
        return [table]
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def table_bytes(table: pa.Table) -> bytes:
    """A batch as Arrow IPC bytes: what crosses to a worker process or Ray actor (pickling a
    slice would ship its parent's whole buffers)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


_WORKER: dict[str, Any] = {}


def _start_worker(stage: Stage, state: Any) -> None:
    if state is not None:
        stage.use_shared_state(state)
    else:
        stage.setup()
    _WORKER.update(stage=stage, loop=asyncio.new_event_loop())


def _ready() -> int:
    import os

    return os.getpid()


def _process_in_worker(data: bytes) -> StageResult:
    stage = _WORKER["stage"]
    result = _WORKER["loop"].run_until_complete(stage.process(table_from_bytes(data)))
    if not isinstance(result, StageResult):
        raise CaravanError(f"stage {stage.name}: process() must return a StageResult")
    return result


class BatchPool:
    """Local worker processes for a CPU-bound stage (no model sessions: their spending and
    guards live in this process). Heavy state comes from `stage.shared_state()`, built once
    here; on Linux the workers are forked before any batch is sent and share it
    copy-on-write (spawned, and sent it pickled, where fork is missing or other threads
    run). At most two batches per worker are in flight, so memory stays bounded. Pass one
    as `workers` to several runs of the same stage to start the processes only once."""

    def __init__(self, stage: Stage, workers: int) -> None:
        import multiprocessing as mp
        import threading
        from concurrent.futures import ProcessPoolExecutor

        if stage.sessions():
            raise CaravanError(f"stage {stage.name}: calls models; run it with workers=1 or on Ray")
        self.stage = stage
        state = stage.shared_state()
        can_fork = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
        self.workers = workers
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("fork" if can_fork else "spawn"),
            initializer=_start_worker,
            initargs=(stage, state),
        )
        for f in [self.executor.submit(_ready) for _ in range(workers)]:
            f.result()  # every worker up before the first batch (and any progress thread)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


async def process_batch(stage: Stage, batch: pa.Table) -> tuple[StageResult, bool]:
    """`stage.process(batch)` and whether the batch finished: none of its requests failed
    or went unsent (then a rerun must redo it, asking only what the cache lacks)."""
    from caravan.session import BATCH_FAILURES

    box = [0]
    token = BATCH_FAILURES.set(box)
    try:
        result = await stage.process(batch)
    finally:
        BATCH_FAILURES.reset(token)
    if not isinstance(result, StageResult):
        raise CaravanError(f"stage {stage.name}: process() must return a StageResult")
    return result, box[0] == 0 and not stopped(stage)


def overlap(stage: Stage) -> int:
    """Batches in flight at once here: two for stages that only call API models (the next
    batch's requests fill the slots the current batch's slowest requests leave idle; the
    session's gate keeps the total at `concurrency`), else one."""
    from caravan.session import IN_PROCESS

    sessions = stage.sessions()
    api = sessions and all(s.provider not in IN_PROCESS and not s.settings.batch
                           for s in sessions)  # fmt: skip
    return 2 if api else 1


async def _outcomes(
    stage: Stage,
    batches: list[pa.Table],
    keys: list[str | None],
    jnl: Journal | None,
    pool: BatchPool | None,
) -> AsyncGenerator[tuple[pa.Table, str | None, StageResult, bool, bool], None]:
    """(batch, key, result, resumed, finished) in input order: journaled, else processed
    here (`overlap` batches at once) or in the pool (a window of two batches per worker).
    Not finished: a request of the batch failed or was never sent."""
    ready = False
    pending: deque[tuple[pa.Table, str | None, Any, bool]] = deque()
    window = 2 * pool.workers if pool is not None else overlap(stage)

    async def resolved(item: Any) -> tuple[StageResult, bool]:
        if isinstance(item, tuple):
            return item
        out = await item
        return out if isinstance(out, tuple) else (out, True)  # the pool's: no model calls

    try:
        for batch, key in zip(batches, keys, strict=True):
            result = jnl.get(key) if jnl is not None and key is not None else None
            if result is not None:
                pending.append((batch, key, (result, True), True))
            elif pool is not None:
                future = pool.executor.submit(_process_in_worker, table_bytes(batch))
                pending.append((batch, key, asyncio.wrap_future(future), False))
            else:
                if not ready:
                    stage.setup()
                    ready = True
                task = asyncio.ensure_future(process_batch(stage, batch))
                pending.append((batch, key, task, False))
            while len(pending) >= window or (pending and pending[0][3]):
                b, k, item, resumed = pending.popleft()
                out, finished = await resolved(item)
                yield b, k, out, resumed, finished
        while pending:
            b, k, item, resumed = pending.popleft()
            out, finished = await resolved(item)
            yield b, k, out, resumed, finished
    finally:  # an error or a cost stop: batches in flight finish, so their paid replies
        in_flight = [item for *_, item, _resumed in pending  # reach the cache
                     if isinstance(item, asyncio.Future) and not item.done()]  # fmt: skip
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)


def _spent(stage: Stage) -> float:
    return sum(s.spent_usd for s in stage.sessions())


def stopped(stage: Stage) -> bool:
    """A session's guard stopped sending (cost cap, dead endpoint): the batch just done has
    unsent requests, so it must not be journaled as finished."""
    return any(s.guard is not None and s.guard.stopped for s in stage.sessions())


async def arun_stage(
    stage: Stage,
    data: Any,
    *,
    journal: str | Path | Journal | None = None,
    progress: bool = True,
    max_cost: float | None = None,
    label: str | None = None,
    batch_size: int | None = None,
    workers: int | BatchPool = 1,
) -> Dataset:
    """Run `stage` over `data`; see `run_stage`."""
    src = read(data)
    label = label or stage.name
    jnl = journal if isinstance(journal, Journal) or journal is None else Journal(journal)
    settings = stage.settings()
    size = 0 if isinstance(stage, GlobalStage) else (batch_size or stage.batch_size)
    selected = stage.select(src.table)
    batches = batches_of(selected, size)
    keys = [batch_key(label, settings, b) if jnl is not None else None for b in batches]
    start_spent = _spent(stage)
    rows: list[dict[str, Any]] = []
    rejected: list[Any] = []
    counters: Counter[str] = Counter()
    pool = workers if isinstance(workers, BatchPool) else None
    if pool is not None and pool.stage is not stage:
        raise CaravanError(f"stage {stage.name}: the worker pool was started for another stage")
    if pool is None and isinstance(workers, int) and workers > 1 and len(batches) > 1:
        pool = BatchPool(stage, workers)
    try:
        with StageProgress(label, selected.num_rows, progress) as bar:
            # aclosing: on an error or a cost stop, batches in flight finish first
            async with contextlib.AsyncExitStack() as clients:
                for session in stage.sessions():  # one client per session for every batch
                    await clients.enter_async_context(session.held_client())
                outcomes = await clients.enter_async_context(
                    aclosing(_outcomes(stage, batches, keys, jnl, pool))
                )
                async for batch, key, result, resumed, finished in outcomes:
                    if resumed:
                        counters["batches_resumed"] += 1
                    elif jnl is not None and key is not None and finished:
                        jnl.put(key, result)
                    if not finished:  # a failed or unsent request: a rerun redoes the batch,
                        counters["batches_unfinished"] += 1  # asking only what is not cached
                    rows.extend(result.rows)
                    rejected.extend(result.rejected)
                    counters.update(result.counters)
                    bar.advance(batch.num_rows, len(result.rejected))
                    spent = _spent(stage) - start_spent
                    if max_cost is not None and spent > max_cost:
                        raise CostLimitReached(
                            f"{label}: fresh model calls cost ${spent:.4f}, over the limit of "
                            f"${max_cost:.4f}; finished batches are kept, run again to continue"
                        )
    finally:
        if pool is not None and pool is not workers:  # a caller's pool serves its next run
            pool.close()
    return assemble(stage, src, selected, label, settings, rows, rejected, counters)


def assemble(
    stage: Stage,
    src: Dataset,
    selected: pa.Table,
    label: str,
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    rejected: list[Any],
    counters: Counter[str],
) -> Dataset:
    """The output Dataset of one stage run, from its batches' results in input order (shared
    by every executor, so they give the same table, rejected rows and lineage)."""
    from caravan.records.readers import rows_to_table

    ids = [str(r.get("id")) for r in rows]
    if len(set(ids)) != len(ids) or any(i in ("None", "") for i in ids):
        raise CaravanError(f"stage {stage.name}: every output row needs a unique `id`")
    counters["rows_in"] += selected.num_rows
    counters["rows_out"] += len(rows)
    counters["rejected"] += len(rejected)
    table = rows_to_table(rows) if rows else pa.table({"id": pa.array([], pa.string())})
    new_rejected = rejected_table(stage.name, rejected)
    all_rejected = pa.concat_tables([src.rejected, new_rejected]) if src.rejected.num_rows else (
        new_rejected if new_rejected.num_rows else empty_rejected()
    )  # fmt: skip
    step = {"stage": label, "settings": settings, "counters": dict(counters)}
    stats = dict(src.stats)
    stats.update({f"{label}.{k}": v for k, v in counters.items()})
    return Dataset(table, all_rejected, stats, [*src.steps, step], dict(src.inputs))


def run_stage(stage: Stage, data: Any, **options: Any) -> Dataset:
    """Run `stage` over `data` (anything `read` takes, or a previous stage's Dataset).

    Options: `journal` (folder: finished batches are skipped on a rerun), `progress`,
    `max_cost` (US dollars of fresh calls; stops after the batch that passes it),
    `label`, `batch_size`, `workers` (local processes for a CPU-bound stage without model
    calls, or a started `BatchPool`; default 1: this process). Works inside a running event
    loop too.
    """
    return run_sync(arun_stage(stage, data, **options))
