"""Resumable checks: a progress log of finished chunks beside the report.

After each chunk (in file order) `decontam check` appends one JSON line with what the
chunk produced (row count, tokens, rows without text, matches with their training text).
If a check stops part-way, running the same command again (same data, eval sets,
settings and chunk size: the log's first line holds a key over all of them) replays the
log and scans only the rest. A finished check deletes its log.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def progress_path_for(report: Path) -> Path:
    return report.with_name(report.name + ".progress.jsonl")


def run_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Done:
    """Replayed chunks of one training dataset, in order."""

    chunks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(c["rows"] for c in self.chunks)


class ProgressLog:
    """Append-only JSONL log; entries of a different run key are ignored and replaced."""

    def __init__(self, path: Path, key: str, resume: bool = True) -> None:
        self.path, self.key = path, key
        self.done: dict[str, Done] = {}
        if resume and path.exists():
            self._load()
        if not self.done:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key}) + "\n")
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        try:
            if json.loads(lines[0]).get("key") != self.key:
                return
        except (json.JSONDecodeError, AttributeError):
            return
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut short by the crash: everything before it is good
            self.done.setdefault(rec["train"], Done()).chunks.append(rec)

    def append(
        self, train: str, start: int, rows: int, tokens: int, empty: list[int], matches: list
    ) -> None:
        rec = {
            "train": train,
            "start": start,
            "rows": rows,
            "tokens": tokens,
            "empty": empty,
            "matches": [list(m) for m in matches],
        }
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self, finished: bool) -> None:
        self._fh.close()
        if finished:
            os.unlink(self.path)
