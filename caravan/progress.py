"""Row progress for a stage: a rich bar on a terminal, a plain line every few seconds
otherwise (CI logs, batch jobs), nothing when disabled."""

from __future__ import annotations

import sys
import time
from typing import Any


class StageProgress:
    def __init__(self, label: str, total: int, enabled: bool = True, every_s: float = 10.0):
        self.label, self.total, self.enabled, self.every_s = label, total, enabled, every_s
        self.done = self.rejected = 0
        self._bar: Any = None
        self._task: Any = None
        self._last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __enter__(self) -> StageProgress:
        if self.enabled and self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=False,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, info="")
        return self

    def advance(self, rows: int, rejected: int) -> None:
        self.done += rows
        self.rejected += rejected
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=rows, info=f"{self.rejected} rejected")
        elif time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self._line()

    def _line(self) -> None:
        print(
            f"{self.label}: {self.done}/{self.total} rows, {self.rejected} rejected",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled:
            self._line()
