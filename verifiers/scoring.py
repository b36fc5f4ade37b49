"""Score a table of responses (the engine behind `verify score`).

Adds three columns: `score` (the assembled reward, null when a verifier failed), `checks`
(JSON: one entry per (ground_truth, dataset) pair with its score and what the checker saw,
e.g. per-constraint or per-test outcomes) and `errors` (null, or why the row has no score).
The `verify.Score` stage calls it per batch (the runner journals finished batches, so a
rerun resumes); `summarize` rebuilds the per-verifier summary from the added columns.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from caravan.verifiers.rewards import RewardConfig, RewardResult, _completion_text, compute_rewards

from caravan.errors import CaravanError


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

    def add(self, added: dict[str, Any]) -> None:
        """Count one scored row from its added columns."""
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


def response_text(value: Any, column: str) -> str:
    if value is None:
        raise CaravanError(f"`{column}` is empty")
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


def summarize(rows: Iterable[dict[str, Any]]) -> Summary:
    """The summary of scored rows (any that carry the added columns)."""
    summary = Summary()
    for row in rows:
        summary.add(row)
    return summary


REQUIRED = ("ground_truth", "dataset")


def check_columns(columns: Sequence[str], response_column: str, source: str) -> None:
    """Fail when a needed column is missing, naming the file and the columns it has."""
    for col in (response_column, *REQUIRED):
        if col not in columns:
            raise CaravanError(
                f"{source}: no `{col}` column (columns: {', '.join(columns)}); "
                "use --response-column to name the response column"
            )


def check_input(table: pa.Table, response_column: str, source: str) -> None:
    """What `verify score` checks before any row is scored (on whichever executor): rows,
    columns, and no empty response (named by its 1-based row)."""
    if table.num_rows == 0:
        raise CaravanError(f"{source}: no rows to score")
    check_columns(table.column_names, response_column, source)
    empty = table.column(response_column).is_null().to_pylist()
    if True in empty:
        raise CaravanError(f"{source}: row {empty.index(True) + 1}: `{response_column}` is empty")


def score_rows(
    rows: list[dict[str, Any]],
    *,
    response_column: str = "response",
    truncated_column: str | None = None,
    config: RewardConfig | None = None,
    source: str = "input",
) -> tuple[list[dict[str, Any]], Summary]:
    """Score every row; returns the rows with score/checks/errors added, and a summary.
    Errors name `source` and the row's 1-based place."""
    if rows:
        check_columns(list(rows[0]), response_column, source)
    texts = []
    for i, row in enumerate(rows):
        try:
            texts.append(response_text(row.get(response_column), response_column))
        except CaravanError as exc:
            raise CaravanError(f"{source}: row {i + 1}: {exc}") from exc
    flags = [bool(r.get(truncated_column)) for r in rows] if truncated_column else None
    results = compute_rewards(
        texts,
        [r.get("ground_truth") for r in rows],
        [r.get("dataset") for r in rows],
        truncated=flags,
        config=config,
    )
    out = [{**row, **_added(r)} for row, r in zip(rows, results, strict=True)]
    return out, summarize(out)
