"""A process pool with a per-item timeout that kills and replaces a hung worker.

Why not concurrent.futures: its ProcessPoolExecutor cannot stop one running task, and
signal.alarm only works in the main thread. Here each call checks a worker out, sends one
item over a pipe and waits at most `timeout` seconds; a worker that overruns (or dies) is
killed and a fresh one takes its slot on the next call. Calls are safe from any number of
threads (a thread blocks until a worker is free) and from asyncio via `acall`/`amap`.
Workers are fresh interpreters (`python -m verifiers.procpool`), not multiprocessing children,
so a caller's script is never re-imported and needs no `if __name__ == "__main__"` guard; a
replacement costs one interpreter start plus the warm-up import. Each worker runs under an
address-space limit, ignores Ctrl-C (the parent decides when work stops) and has its output
discarded.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from caravan.errors import CaravanError

_START_TIMEOUT = 120.0
_FEW = 4  # items a running worker takes on alone rather than waiting for another to start


@dataclass(frozen=True)
class Outcome:
    """What one item produced: a value, or an error (timeout, worker death, exception)."""

    ok: bool
    value: Any = None
    error: str | None = None


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _worker_main(
    conn_in: Connection,
    conn_out: Connection,
    target: str,
    memory_mb: int | None,
    warm_up: str | None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        fn = _resolve(target)
        if warm_up:
            _resolve(warm_up)()
        conn_out.send(("ready", None))
    except BaseException as exc:  # noqa: BLE001 - report, then exit
        conn_out.send(("dead", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            args = conn_in.recv()
        except (EOFError, OSError):
            return
        if args is None:
            return
        try:
            conn_out.send(("ok", fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - MemoryError, RecursionError included
            try:
                conn_out.send(("err", f"{type(exc).__name__}: {str(exc)[:300]}"))
            except Exception:  # noqa: BLE001 - unpicklable or broken pipe
                return


@dataclass(eq=False)
class _Worker:
    proc: subprocess.Popen
    send: Connection
    recv: Connection

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.send.close()
        self.recv.close()


class TimeoutPool:
    """Run `target(*args)` ("module:function") in worker processes, one item at a time."""

    def __init__(
        self,
        target: str,
        *,
        workers: int | None = None,
        timeout: float = 5.0,
        memory_mb: int | None = 2048,
        warm_up: str | None = None,
    ) -> None:
        self.target = target
        self.size = workers or max(1, min(4, os.cpu_count() or 1))
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.warm_up = warm_up
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(self.size):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._closed = False
        self._prestarted = False
        self._prestarting = threading.Event()  # set while the background start runs
        self.restarts = 0

    def prestart(self, count: int = 1) -> None:
        """Start up to `count` workers in a background thread and return at once, so the first
        item that needs a worker finds one ready instead of waiting for an interpreter start.
        Only the first call does anything."""
        if self._prestarted:
            return
        with self._lock:
            if self._prestarted or self._closed:
                return
            self._prestarted = True

        def run() -> None:
            try:
                for _ in range(min(count, self.size)):
                    try:
                        slot = self._idle.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        if slot is None and not self._closed:
                            slot = self._start()
                    except Exception:  # noqa: BLE001 - the next call retries and reports it
                        slot = None
                    finally:
                        self._idle.put(slot)
            finally:
                self._prestarting.clear()

        self._prestarting.set()
        threading.Thread(target=run, name=f"prestart {self.target}", daemon=True).start()

    def _checkout(self) -> _Worker | None:
        """An idle worker, or an empty slot to start one in. While the background start is
        under way, wait for its worker rather than paying for a second start."""
        worker = self._idle.get()
        if worker is None and self._prestarting.is_set():
            self._idle.put(None)
            deadline = time.monotonic() + _START_TIMEOUT
            while self._prestarting.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
            worker = self._idle.get()
        return worker

    def _start(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        cmd = [
            sys.executable,
            "-m",
            "caravan.verifiers.procpool",
            str(to_child_r),
            str(from_child_w),
            self.target,
            str(self.memory_mb or 0),
            self.warm_up or "",
        ]
        try:
            proc = subprocess.Popen(
                cmd,
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        worker = _Worker(
            proc, Connection(to_child_w, readable=False), Connection(from_child_r, writable=False)
        )
        if not worker.recv.poll(_START_TIMEOUT):
            self._kill(worker)
            raise CaravanError(f"worker for {self.target} did not start in {_START_TIMEOUT}s")
        try:
            status, detail = worker.recv.recv()
        except (EOFError, OSError):
            status, detail = "dead", "exited during start-up"
        if status != "ready":
            self._kill(worker)
            raise CaravanError(f"worker for {self.target} failed to start: {detail}")
        with self._lock:
            self._live.add(worker)
        return worker

    def _kill(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        try:
            worker.proc.kill()
            worker.proc.wait(5)
        finally:
            worker.close()

    def call(self, *args: Any, timeout: float | None = None) -> Outcome:
        """Run one item; never raises for the item's own failure, never waits past timeout."""
        if self._closed:
            raise CaravanError("the verifier worker pool is closed")
        limit = self.timeout if timeout is None else timeout
        worker = self._checkout()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._kill(worker)
                    self.restarts += 1
                    worker = None
                worker = self._start()
            worker.send.send(args)
            if not worker.recv.poll(limit):
                self._kill(worker)
                worker = None
                self.restarts += 1
                return Outcome(False, error=f"timed out after {limit:g}s")
            status, value = worker.recv.recv()
            if status == "ok":
                return Outcome(True, value)
            return Outcome(False, error=value)
        except (EOFError, OSError):
            if worker is not None:
                self._kill(worker)
            worker = None
            self.restarts += 1
            return Outcome(False, error="worker process died (crash or memory limit)")
        finally:
            self._idle.put(worker)

    def map(self, items: Sequence[Sequence[Any]], timeout: float | None = None) -> list[Outcome]:
        """Run many items across all workers; results in input order."""
        if not items:
            return []
        threads = min(self.size, len(items))
        with self._lock:
            live = len(self._live)
        if len(items) <= _FEW and (live or self._prestarting.is_set()):
            threads = min(threads, max(live, 1))  # a few items: no new interpreter for them
        if threads == 1:
            return [self.call(*args, timeout=timeout) for args in items]
        with ThreadPoolExecutor(max_workers=threads) as ex:
            return list(ex.map(lambda a: self.call(*a, timeout=timeout), items))

    async def acall(self, *args: Any, timeout: float | None = None) -> Outcome:
        return await asyncio.to_thread(self.call, *args, timeout=timeout)

    async def amap(
        self, items: Sequence[Sequence[Any]], timeout: float | None = None
    ) -> list[Outcome]:
        return await asyncio.to_thread(self.map, items, timeout)

    def close(self) -> None:
        """Stop every worker (idle ones politely, busy ones by force)."""
        self._closed = True
        with self._lock:
            live = list(self._live)
        for worker in live:
            try:
                worker.send.send(None)
                worker.proc.wait(1)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if worker.alive():
                worker.proc.kill()
                worker.proc.wait(5)
            worker.close()
        with self._lock:
            self._live.clear()

    def __enter__(self) -> TimeoutPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: dict[str, TimeoutPool] = {}
_shared_lock = threading.Lock()


def shared_pool(key: str, factory: Any) -> TimeoutPool:
    """One lazily created pool per key for the whole process, closed at exit."""
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool._closed:
            pool = factory()
            _shared[key] = pool
        return pool


@atexit.register
def _close_shared() -> None:
    for pool in list(_shared.values()):
        pool.close()


if __name__ == "__main__":
    _worker_main(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        sys.argv[3],
        int(sys.argv[4]) or None,
        sys.argv[5] or None,
    )
