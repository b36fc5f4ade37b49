import threading

import pytest
from caravan.verifiers.procpool import TimeoutPool

from caravan.errors import CaravanError


def test_values_errors_and_timeouts_come_back_as_outcomes():
    with TimeoutPool("math:sqrt", workers=1, timeout=5) as pool:
        assert pool.call(16).value == 4.0
        bad = pool.call(-1)
        assert not bad.ok and "ValueError" in bad.error
    with TimeoutPool("time:sleep", workers=1, timeout=0.5) as pool:
        out = pool.call(30)
        assert not out.ok and "timed out" in out.error
        assert pool.restarts == 1
        assert pool.call(0).ok  # a fresh worker took the slot


def test_a_crashing_worker_is_replaced():
    with TimeoutPool("os:_exit", workers=1, timeout=5) as pool:
        out = pool.call(3)
        assert not out.ok and "died" in out.error
        out = pool.call(3)  # a new worker is started for the next item
        assert "died" in out.error


def test_map_from_many_threads_keeps_order():
    with TimeoutPool("math:factorial", workers=2, timeout=10) as pool:
        results: dict[int, list] = {}

        def run(k):
            results[k] = [o.value for o in pool.map([(i,) for i in range(k, k + 5)])]

        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import math

        assert results == {k: [math.factorial(i) for i in range(k, k + 5)] for k in range(4)}


def test_memory_limit_turns_a_memory_bomb_into_an_error():
    with TimeoutPool("os:urandom", workers=1, timeout=10, memory_mb=600) as pool:
        out = pool.call(2 * 1024**3)
        assert not out.ok
        assert pool.call(4).ok


def test_unknown_target_fails_clearly():
    with (
        TimeoutPool("no_such_module_xyz:f", workers=1) as pool,
        pytest.raises(CaravanError, match="failed to start"),
    ):
        pool.call(1)


def test_prestart_starts_a_worker_in_the_background_and_calls_reuse_it():
    with TimeoutPool("math:sqrt", workers=2, timeout=30) as pool:
        started = threading.Event()
        real_start = pool._start
        starts = []

        def counted_start():
            worker = real_start()
            starts.append(worker)
            started.set()
            return worker

        pool._start = counted_start
        pool.prestart()
        pool.prestart()  # only the first call does anything
        assert started.wait(60)
        assert pool.call(9).value == 3.0
        assert len(starts) == 1  # the call found the prestarted worker ready
