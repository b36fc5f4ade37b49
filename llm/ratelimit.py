"""Client-side requests/minute and tokens/minute limits (token buckets) plus a shared
cool-down when the server says Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

Sleep = Callable[[float], Awaitable[None]]


class Bucket:
    """Refills `per_minute` units a minute, holds at most a minute's worth."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.level = self.capacity
        self._clock = clock
        self._sleep = sleep
        self.stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def take(self, amount: float) -> None:
        amount = min(amount, self.capacity)  # one huge request still goes, alone
        while True:
            self._refill()
            if self.level >= amount:
                self.level -= amount
                return
            await self._sleep((amount - self.level) / self.rate)


class Limiter:
    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self.requests = Bucket(rpm, clock, sleep) if rpm else None
        self.tokens = Bucket(tpm, clock, sleep) if tpm else None
        self.resume_at = 0.0  # clock time before which nobody sends (Retry-After)

    def cool_down(self, seconds: float) -> None:
        self.resume_at = max(self.resume_at, self._clock() + seconds)

    async def acquire(self, tokens: int) -> None:
        wait = self.resume_at - self._clock()
        if wait > 0:
            await self._sleep(wait)
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(tokens)


# ---- one limit over many workers ---------------------------------------------------------

class RateLimiter(Protocol):
    """What an engine needs of a limiter: this process's `Limiter` or a cluster-wide one."""

    async def acquire(self, tokens: int) -> None: ...

    def cool_down(self, seconds: float) -> None: ...


LimiterFactory = Callable[[float | None, float | None, str], RateLimiter]
_shared: LimiterFactory | None = None


def use_shared_limits(factory: LimiterFactory | None) -> None:
    """From now on, limited engines in this process take their tokens from `factory(rpm,
    tpm, scope)` (e.g. one bucket per cluster) instead of a bucket of their own."""
    global _shared
    _shared = factory


def make_limiter(
    rpm: float | None, tpm: float | None, scope: str, sleep: Sleep = asyncio.sleep
) -> RateLimiter:
    """A limiter for one engine run; `scope` (backend and model) names the provider limit."""
    if _shared is not None and (rpm or tpm):
        return _shared(rpm, tpm, scope)
    return Limiter(rpm, tpm, sleep)
