"""Requests/minute and tokens/minute limits on a fake clock."""

from __future__ import annotations

import asyncio

from caravan.llm.ratelimit import Limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_requests_per_minute():
    clock = FakeClock()
    limiter = Limiter(rpm=60, sleep=clock.sleep, clock=clock)

    async def go():
        for _ in range(65):
            await limiter.acquire(1)

    asyncio.run(go())
    assert len(clock.sleeps) == 5  # a minute's burst, then one a second
    assert clock.now == 5.0


def test_tokens_per_minute_and_huge_request():
    clock = FakeClock()
    limiter = Limiter(tpm=600, sleep=clock.sleep, clock=clock)

    async def go():
        await limiter.acquire(500)
        await limiter.acquire(300)  # 100 left: waits for 200 more at 10/s
        await limiter.acquire(10_000)  # larger than the bucket: waits for a full one

    asyncio.run(go())
    assert clock.sleeps[0] == 20.0
    assert clock.now == 20.0 + 60.0


def test_retry_after_cool_down_holds_everyone():
    clock = FakeClock()
    limiter = Limiter(sleep=clock.sleep, clock=clock)
    limiter.cool_down(3)
    limiter.cool_down(1)  # a shorter one does not shorten it
    asyncio.run(limiter.acquire(1))
    assert clock.sleeps == [3]
