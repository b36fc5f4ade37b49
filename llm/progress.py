"""Live progress: done/total, rate, ETA, tokens and dollars so far."""

from __future__ import annotations

import sys
from typing import Any

from caravan.llm.accounting import RunStats
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from caravan.progress import PlainTicker, is_terminal


class _RateColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} req/s" if speed else "- req/s")


class RunProgress:
    """A rich progress bar on stderr; off a terminal (nohup, Slurm) a plain line every
    CARAVAN_PROGRESS_EVERY seconds (see caravan.progress); nothing when disabled."""

    def __init__(self, enabled: bool, label: str = "completing") -> None:
        self.enabled = enabled
        self.label = label
        self.console = Console(file=sys.stderr)
        self._progress: Progress | None = None
        self._task: Any = None
        self._ticks = 0
        self._plain: PlainTicker | None = None

    def start(self, stats: RunStats) -> None:
        if not self.enabled:
            return
        if not is_terminal(sys.stderr):
            self._plain = PlainTicker(self.label, stats.total, unit="requests")
            self._plain.done = stats.cached
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.label, total=stats.total, completed=stats.cached, info=""
        )

    def _info(self, stats: RunStats) -> str:
        retries = sum(stats.retries.values())
        return f"{stats.tokens:,} tok ${stats.cost_usd:.4f} fail {stats.failed} retry {retries}"

    def advance(self, stats: RunStats, n: int = 1) -> None:
        if self._plain is not None:
            self._plain.update(stats.done, self._info(stats))
            return
        if self._progress is None:
            return
        self._ticks += 1
        info = None
        if self._ticks % 16 == 0 or stats.done == stats.total:  # formatting is not free
            info = self._info(stats)
        if info is None:
            self._progress.advance(self._task, n)
        else:
            self._progress.update(self._task, advance=n, info=info)

    def stop(self, stats: RunStats, summary: bool = True) -> None:
        if self._plain is not None:
            self._plain.done = stats.done
            self._plain.finish(self._info(stats))
            self._plain = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.enabled and summary:
            for line in stats.summary_lines():
                self.console.print(line, highlight=False)
