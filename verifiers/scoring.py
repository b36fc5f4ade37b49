"""Score a table of responses (the engine behind `verify score`).

Adds three columns: `score` (the assembled reward, null when a verifier failed), `checks`
(JSON: one entry per (ground_truth, dataset) pair with its score and what the checker saw,
e.g. per-constraint or per-test outcomes) and `errors` (null, or why the row has no score).

Long runs (code tests, big files) checkpoint each finished chunk to a hidden JSONL beside the
output; a rerun with the same input and settings picks up where the last one stopped, and
the checkpoint is removed once the output is written.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.verifiers.rewards import RewardConfig, RewardResult, _completion_text, compute_rewards

from caravan.errors import CaravanError

ADDED = ("score", "checks", "errors")


@dataclass
class VerifierStats:
    pairs: int = 0
    scored: int = 0
    errors: int = 0
    score_sum: float = 0.0
    full: int = 0

    @property
    def mean(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


@dataclass
class Summary:
    rows: int = 0
    rows_scored: int = 0
    resumed: int = 0
    by_verifier: dict[str, VerifierStats] = field(
        default_factory=lambda: defaultdict(VerifierStats)
    )

    def add(self, added: dict[str, Any]) -> None:
        """Count one scored row from its added columns (so resumed rows count too)."""
        self.rows += 1
        self.rows_scored += added["score"] is not None
        for pair in json.loads(added["checks"]):
            stats = self.by_verifier[pair["verifier"] or f"? {pair['dataset']}"]
            stats.pairs += 1
            if pair["error"]:
                stats.errors += 1
            elif pair["score"] is not None:
                stats.scored += 1
                stats.score_sum += pair["score"]
                stats.full += pair["score"] >= 1.0


def response_text(value: Any, column: str, index: int) -> str:
    if value is None:
        raise CaravanError(f"row {index + 1}: `{column}` is empty")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        assistant = [m for m in value if m.get("role") == "assistant"]
        return _completion_text(assistant[-1:] or value[-1:])
    return _completion_text(value)


def _added(result: RewardResult) -> dict[str, Any]:
    checks = json.dumps(
        [
            {
                "dataset": p.dataset,
                "verifier": p.verifier,
                "score": p.score,
                "details": p.details,
                "error": p.error,
            }
            for p in result.pairs
        ],
        ensure_ascii=False,
        default=str,
    )
    errors = result.errors
    return {
        "score": result.reward,
        "checks": checks,
        "errors": "; ".join(errors) if errors else None,
    }


class Checkpoint:
    """Finished rows of an interrupted run, keyed by row index, valid for one input+config."""

    def __init__(self, path: Path, key: dict[str, Any]) -> None:
        self.path = path
        self.key = key
        self.done: dict[int, dict[str, Any]] = {}
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            header = json.loads(lines[0]) if lines else None
            if header == key:
                for n, line in enumerate(lines[1:], start=1):
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # a torn line from a crash: redo the rest
                        path.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
                        break
                    self.done[rec["i"]] = {k: rec[k] for k in ADDED}
        if not self.done:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(key) + "\n", encoding="utf-8")

    def save(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            for i, added in items:
                fh.write(json.dumps({"i": i, **added}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def score_rows(
    rows: list[dict[str, Any]],
    *,
    response_column: str = "response",
    truncated_column: str | None = None,
    config: RewardConfig | None = None,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
    source: str = "input",
    checkpoint: Checkpoint | None = None,
) -> tuple[list[dict[str, Any]], Summary]:
    """Score every row; returns the rows with score/checks/errors added, and a summary."""
    if rows:
        for col in (response_column, "ground_truth", "dataset"):
            if col not in rows[0]:
                raise CaravanError(
                    f"{source}: no `{col}` column (columns: {', '.join(rows[0])}); "
                    "use --response-column to name the response column"
                )
    done = dict(checkpoint.done) if checkpoint else {}
    summary = Summary(resumed=len(done))
    if progress is not None and done:
        progress(len(done))
    todo = [i for i in range(len(rows)) if i not in done]
    for start in range(0, len(todo), chunk):
        idx = todo[start : start + chunk]
        texts = []
        for i in idx:
            try:
                texts.append(response_text(rows[i].get(response_column), response_column, i))
            except CaravanError as exc:
                raise CaravanError(f"{source}: {exc}") from exc
        flags = [bool(rows[i].get(truncated_column)) for i in idx] if truncated_column else None
        results = compute_rewards(
            texts,
            [rows[i].get("ground_truth") for i in idx],
            [rows[i].get("dataset") for i in idx],
            truncated=flags,
            config=config,
        )
        batch = [(i, _added(r)) for i, r in zip(idx, results, strict=True)]
        done.update(batch)
        if checkpoint is not None:
            checkpoint.save(batch)
        if progress is not None:
            progress(len(idx))
    out = []
    for i, row in enumerate(rows):
        summary.add(done[i])
        out.append({**row, **done[i]})
    return out, summary
