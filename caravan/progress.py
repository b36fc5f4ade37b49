"""Progress for long steps: a rich bar on a terminal, periodic plain lines otherwise.

Under nohup or Slurm stderr is a file: a live bar there is either invisible or a wall of
control codes, and a silent hour looks like a hang. So off a terminal every long step
prints one line every CARAVAN_PROGRESS_EVERY seconds (default 30) and one when it ends:

    dedup: 41,000/120,000 (34%) 1,370/s eta 58s
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, Self, TextIO

EVERY_ENV = "CARAVAN_PROGRESS_EVERY"
DEFAULT_EVERY_S = 30.0


def progress_every_s() -> float:
    """Seconds between plain progress lines (CARAVAN_PROGRESS_EVERY, default 30)."""
    raw = os.environ.get(EVERY_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_EVERY_S
    except ValueError:
        return DEFAULT_EVERY_S


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class PlainTicker:
    """One line per interval (and a last one at the end) instead of a live bar."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        unit: str = "",
        every_s: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.every_s = progress_every_s() if every_s is None else every_s
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = self.last = clock()
        self.done = 0

    def line(self, info: str = "") -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"{self.label}: {self.done:,}/{self.total:,}{unit} ({pct:.0f}%) {rate:,.1f}/s"
            if 0 < self.done < self.total and rate > 0:
                text += f" eta {_eta((self.total - self.done) / rate)}"
        else:
            text = f"{self.label}: {self.done:,}{unit} {rate:,.1f}/s"
        return f"{text} {info}".rstrip()

    def update(self, done: int, info: str = "") -> None:
        self.done = done
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            print(self.line(info), file=self.stream, flush=True)

    def finish(self, info: str = "") -> None:
        print(self.line(info) + f" done in {_eta(self.clock() - self.started)}",
              file=self.stream, flush=True)  # fmt: skip


class StepProgress:
    """`with StepProgress("dedup", total) as p: ... p.advance()`: bar or plain lines."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        enabled: bool = True,
        unit: str = "",
        stream: TextIO | None = None,
        every_s: float | None = None,
    ) -> None:
        self.label, self.total, self.enabled, self.unit = label, total, enabled, unit
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.done = 0
        self._ticker: PlainTicker | None = None
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if not self.enabled:
            return self
        if is_terminal(self.stream):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream), transient=False,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, info="")
        else:
            self._ticker = PlainTicker(
                self.label, self.total, unit=self.unit, every_s=self.every_s, stream=self.stream
            )
        return self

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self.done += n
        if self._bar is not None:
            fields = {} if info is None else {"info": info}
            self._bar.update(self._task, advance=n, **fields)
        elif self._ticker is not None:
            self._ticker.update(self.done, info or "")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._ticker is not None and exc[0] is None:
            self._ticker.finish()


class StageProgress(StepProgress):
    """Rows through a stage, with the running count of rejected rows as the info text."""

    def __init__(
        self, label: str, total: int | None, enabled: bool = True, every_s: float | None = None
    ) -> None:
        super().__init__(label, total, enabled=enabled, unit="rows", every_s=every_s)
        self.rejected = 0
        self.tty = is_terminal(self.stream)

    def advance(self, n: int = 1, info: str | int | None = None) -> None:
        """`advance(rows, rejected)`: rows done and rows rejected in this batch."""
        self.rejected += int(info or 0)
        super().advance(n, f"{self.rejected} rejected")

    def __exit__(self, *exc: object) -> None:
        if self._ticker is not None and exc[0] is None:
            self._ticker.finish(f"{self.rejected} rejected")
            self._ticker = None
        super().__exit__(*exc)
