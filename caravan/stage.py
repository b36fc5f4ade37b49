"""The stage contract: a batch of rows in, output rows, rejected rows and counters out.

A stage does one step of data work and nothing else: no file I/O, no event loop, no
progress display (the runner owns those). It declares the record kinds it consumes and
produces, loads heavy things once per worker in `setup()`, and answers
`await process(batch)` for an Arrow table of rows. Every row carries a stable `id`; a
rejected row keeps its id and says why, in one format for every stage.

Global steps that must see every row at once (dedup, decontamination aggregation,
binarization statistics) subclass `GlobalStage` instead; the runner hands them the whole
table in one call.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

import pyarrow as pa

REJECTED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("details", pa.list_(pa.string())),
        ("row", pa.string()),  # the input row as JSON: nothing is lost
    ]
)


def reason_code(text: str) -> str:
    """`constraints not stated in prompt` -> `constraints_not_stated_in_prompt`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "rejected"


@dataclass
class Rejection:
    """One row a stage did not pass on: its id, a reason code and human-readable details."""

    id: str
    reason: str
    details: list[str] = field(default_factory=list)
    row: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.reason = reason_code(self.reason)
        self.details = [str(d) for d in (self.details or [])]


@dataclass
class StageResult:
    """What one `process` call produced."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)

    def table(self) -> pa.Table:
        from caravan.records.readers import rows_to_table

        return (
            rows_to_table(self.rows) if self.rows else pa.table({"id": pa.array([], pa.string())})
        )


def rejected_table(stage: str, rejections: list[Rejection]) -> pa.Table:
    """The one rejected-rows format, for every stage."""
    return pa.table(
        {
            "id": [str(r.id) for r in rejections],
            "stage": [stage] * len(rejections),
            "reason": [r.reason for r in rejections],
            "details": [list(r.details) for r in rejections],
            "row": [
                json.dumps(r.row, ensure_ascii=False, default=str) if r.row is not None else None
                for r in rejections
            ],
        },
        schema=REJECTED_SCHEMA,
    )


def public_value(value: Any) -> Any:
    """A setting as provenance records it: sessions by their public description."""
    if hasattr(value, "describe"):
        return value.describe()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: public_value(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): public_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_value(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class Stage:
    """A per-batch step. Subclasses set `name`, `consumes`, `produces` and implement
    `process`; calling a stage on data runs it with the local runner and returns a
    `caravan.dataset.Dataset` (`.table`, `.rejected`, `.stats`)."""

    name: ClassVar[str] = "stage"
    consumes: ClassVar[str | None] = None  # a record kind name, or None for any rows
    produces: ClassVar[str | None] = None
    batch_size: ClassVar[int] = 256  # rows per process() call

    def select(self, table: pa.Table) -> pa.Table:
        """Which input rows to work on (e.g. a seeded sample of n); the runner calls this
        once on the whole input, before batching. Default: all of them."""
        return table

    def setup(self) -> None:
        """Load models, indexes, templates: once per worker, before the first batch."""

    def shared_state(self) -> Any:
        """Something heavy every worker reads but none changes (an index), built once per
        run by a distributed executor and shared (Ray: the object store); None: nothing."""
        return None

    def use_shared_state(self, state: Any) -> None:
        """A worker takes the shared state instead of building it in `setup()`."""

    async def process(self, batch: pa.Table) -> StageResult:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """What provenance records for this stage (never keys: sessions describe themselves)."""
        return {k: public_value(v) for k, v in vars(self).items() if not k.startswith("_")}

    def sessions(self) -> list[Any]:
        """The LLM sessions this stage calls (for dry runs and the cost limit)."""
        from caravan.session import LLM

        found: list[Any] = []
        for v in vars(self).values():
            items = v if isinstance(v, list | tuple) else [v]
            found.extend(x for x in items if isinstance(x, LLM))
        return found

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        """Dry run: (session, requests) this stage would send first for `batch`."""
        return []

    def dry_output(self, batch: pa.Table) -> pa.Table:
        """Dry run: rows shaped like the output, for estimating the stages after this one."""
        return batch

    def __call__(self, data: Any, **run_options: Any) -> Any:
        from caravan.runner import run_stage

        return run_stage(self, data, **run_options)


class GlobalStage(Stage):
    """A step that needs every row at once; `process` gets the whole table."""

    batch_size: ClassVar[int] = 0


def rows_of(batch: pa.Table) -> list[dict[str, Any]]:
    return batch.to_pylist()


def placeholder_text(max_tokens: int | None) -> str:
    """Dry runs: the longest reply a request may get (about 4 characters a token)."""
    return "x" * (4 * (max_tokens or 256))
