"""When a run must stop sending: a spending cap, and failures no retry can fix.

One RunGuard is shared by every model call a command makes, so a cap covers all its stages
and a dead endpoint found in one stage is not retried in the next. Stopping never drops
work: answers already received are kept (and cached), unsent requests come back as
failures naming the reason, and the command exits non-zero with that reason once its
outputs are written. The next run resumes from the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from caravan.errors import CaravanError

# Error kinds that mean "every request to this endpoint will fail the same way".
FATAL_KINDS = ("auth", "not_found", "connect")
CONNECT_ATTEMPTS = 3  # a refused connection is tried this often before the run gives up
FATAL_STREAK = 5  # after some successes, this many fatal failures in a row stop the run


T = TypeVar("T")


class RunStopped(CaravanError):
    """The run stopped early; `reason` is the one line to show."""


@dataclass
class RunGuard:
    """Spending cap (USD, None = no cap) and the reason the run stopped (None = running)."""

    max_cost: float | None = None
    spent: float = 0.0
    reserved: float = 0.0
    stop_reason: str | None = None
    successes: int = 0  # live calls that worked (the breaker's evidence the endpoint works)
    fatal_streak: int = 0
    answered: int = 0  # requests with an answer, cached ones included
    failed: int = 0  # requests that ended with an error
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_cost is not None and self.max_cost < 0:
            raise CaravanError(f"--max-cost must be >= 0, got {self.max_cost}")

    def __getstate__(self) -> dict:
        """Stages carrying a guard travel to Ray workers; the lock is made anew there."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason

    # ---- spending -------------------------------------------------------------------------

    def reserve(self, worst_usd: float) -> bool:
        """Hold `worst_usd` for a call about to be sent; False (and stop) if the cap would
        be passed by what is spent plus everything in flight at its worst."""
        with self._lock:
            if self.stop_reason is not None:
                return False
            if self.max_cost is None:
                return True
            if self.spent + self.reserved + worst_usd > self.max_cost + 1e-12:
                self.stop_reason = (
                    f"--max-cost ${self.max_cost:g} reached: ${self.spent:.4f} spent, "
                    f"${self.reserved:.4f} more could still be billed for calls in flight; "
                    "no new request was sent"
                )
                return False
            self.reserved += worst_usd
            return True

    def settle(self, reserved_usd: float, cost_usd: float | None) -> None:
        """A call came back: release its hold and count what it really cost."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved_usd)
            self.spent += cost_usd or 0.0

    # ---- failures -------------------------------------------------------------------------

    def succeeded(self) -> None:
        with self._lock:
            self.successes += 1
            self.fatal_streak = 0

    def failed_fatally(self, reason: str) -> bool:
        """A call failed in a way retries cannot fix. Stop the run (True) when nothing has
        worked yet, or after FATAL_STREAK such failures in a row."""
        with self._lock:
            self.fatal_streak += 1
            if self.successes == 0 or self.fatal_streak >= FATAL_STREAK:
                if self.stop_reason is None:
                    self.stop_reason = reason
                return True
            return False

    def finished(self, ok: bool) -> None:
        """Count a request's final outcome."""
        with self._lock:
            if ok:
                self.answered += 1
            else:
                self.failed += 1

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn`; if it fails after the run stopped, the stop is the cause to report
        ("cannot connect to ...", not "no prompt survived")."""
        try:
            return fn(*args, **kwargs)
        except CaravanError as exc:
            if self.stop_reason is None or isinstance(exc, RunStopped):
                raise
            raise RunStopped(f"{self.stop_reason} (then: {exc})") from exc

    def check(self) -> None:
        """Raise RunStopped if the run stopped early, or if requests were made and none
        was answered (call after outputs are written)."""
        if self.stop_reason is not None:
            raise RunStopped(
                f"{self.stop_reason} ({self.answered} requests answered, {self.failed} not; "
                "outputs written; rerun to resume from the cache)"
            )
        if self.failed and not self.answered:
            raise RunStopped(f"all {self.failed} model requests failed (outputs written)")
