"""Score a table of responses (the engine behind `verify score`).

Adds three columns: `score` (the assembled reward, null when a verifier failed), `checks`
(JSON: one entry per (ground_truth, dataset) pair with its score and what the checker saw,
e.g. per-constraint or per-test outcomes) and `errors` (null, or why the row has no score).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caravan.errors import CaravanError
from verifiers.rewards import RewardConfig, RewardResult, _completion_text, compute_rewards


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
    by_verifier: dict[str, VerifierStats] = field(
        default_factory=lambda: defaultdict(VerifierStats)
    )

    def add(self, result: RewardResult) -> None:
        self.rows += 1
        self.rows_scored += result.reward is not None
        for pair in result.pairs:
            stats = self.by_verifier[pair.verifier or f"? {pair.dataset}"]
            stats.pairs += 1
            if pair.error:
                stats.errors += 1
            elif pair.score is not None:
                stats.scored += 1
                stats.score_sum += pair.score
                stats.full += pair.score >= 1.0


def response_text(value: Any, column: str, index: int) -> str:
    if value is None:
        raise CaravanError(f"row {index}: `{column}` is empty")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        assistant = [m for m in value if m.get("role") == "assistant"]
        return _completion_text(assistant[-1:] or value[-1:])
    return _completion_text(value)


def _checks_json(result: RewardResult) -> str:
    return json.dumps(
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


def score_rows(
    rows: list[dict[str, Any]],
    *,
    response_column: str = "response",
    truncated_column: str | None = None,
    config: RewardConfig | None = None,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
    source: str = "input",
) -> tuple[list[dict[str, Any]], Summary]:
    """Score every row; returns the rows with score/checks/errors added, and a summary."""
    if rows:
        for col in (response_column, "ground_truth", "dataset"):
            if col not in rows[0]:
                raise CaravanError(
                    f"{source}: no `{col}` column (columns: {', '.join(rows[0])}); "
                    "use --response-column to name the response column"
                )
    summary = Summary()
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        texts: list[str] = []
        for k, row in enumerate(part):
            try:
                texts.append(response_text(row.get(response_column), response_column, start + k))
            except CaravanError as exc:
                raise CaravanError(f"{source}: {exc}") from exc
        flags = None
        if truncated_column:
            flags = [bool(row.get(truncated_column)) for row in part]
        results = compute_rewards(
            texts,
            [row.get("ground_truth") for row in part],
            [row.get("dataset") for row in part],
            truncated=flags,
            config=config,
        )
        for row, result in zip(part, results, strict=True):
            summary.add(result)
            errors = result.errors
            out.append(
                {
                    **row,
                    "score": result.reward,
                    "checks": _checks_json(result),
                    "errors": "; ".join(errors) if errors else None,
                }
            )
        if progress is not None:
            progress(len(part))
    return out, summary
