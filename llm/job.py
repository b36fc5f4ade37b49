"""`synth complete` as a function: a file of prompts in, one answered row per prompt out."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.llm.api import acomplete, build_requests, default_cache_path
from caravan.llm.backends import resolve_provider
from caravan.llm.cache import ResponseCache
from caravan.llm.cache_scope import cache_scope
from caravan.llm.estimate import Estimate, estimate_cost
from caravan.llm.guard import RunGuard, RunStopped
from caravan.llm.pricing import PriceTable
from caravan.llm.structured import check_schema
from caravan.llm.types import Request, Response

from caravan.errors import CaravanError
from caravan.secrets import public_argv, public_url

OUTPUT_COLUMNS = (
    "response",
    "response_json",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
    "attempts",
    "cached",
    "error",
    "error_kind",
)


@dataclass
class CompleteJob:
    input: Path
    output: Path
    model: str
    provider: str | None = None  # None: guessed from model, base URL and keys
    base_url: str | None = None
    concurrency: int = 64
    cache: Path | None = None
    batch: bool = False
    batch_poll_s: float = 30.0
    text_field: str | None = None
    messages_field: str = "messages"
    id_field: str = "id"
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    backend_options: dict[str, Any] = field(default_factory=dict)  # local/vllm constructor
    schema_path: Path | None = None
    max_retries: int = 8
    timeout_s: float = 120.0
    rpm: float | None = None
    tpm: float | None = None
    prices: Path | None = None
    progress: bool = True
    refresh: bool = False  # ask again, overwrite cached answers
    max_cost: float | None = None  # USD cap for this run

    def config(self) -> dict[str, Any]:
        """What provenance records (no keys: those never enter the job)."""
        return {
            "model": self.model,
            "provider": resolve_provider(self.provider, self.model, self.base_url),
            "base_url": public_url(self.base_url),
            "params": self.params,
            "system": self.system,
            "schema": str(self.schema_path) if self.schema_path else None,
            "batch": self.batch,
            "text_field": self.text_field,
            "messages_field": self.messages_field,
        }


def load_rows(job: CompleteJob) -> tuple[list[dict[str, Any]], str]:
    """Input rows and the input's fingerprint; every row must carry a prompt."""
    from caravan.records import load_records

    loaded = load_records(job.input)
    if loaded.bad_rows:
        bad = loaded.bad_rows[0]
        raise CaravanError(f"{bad} ({len(loaded.bad_rows)} bad rows)")
    rows = loaded.table.to_pylist()
    field_name = job.text_field or job.messages_field
    clash = [c for c in OUTPUT_COLUMNS if c in loaded.table.column_names]
    if clash:
        raise CaravanError(f"{job.input}: input already has output column(s) {', '.join(clash)}")
    for i, row in enumerate(rows):
        value = row.get(field_name)
        if value is None or (job.text_field and not isinstance(value, str)):
            want = "a text" if job.text_field else "a messages"
            where = loaded.locations[i]
            raise CaravanError(f"{where}: `{field_name}` must hold {want} value")
    return rows, loaded.fingerprint


def to_requests(job: CompleteJob, rows: list[dict[str, Any]]) -> list[Request]:
    schema = None
    if job.schema_path is not None:
        try:
            schema = json.loads(Path(job.schema_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CaravanError(f"{job.schema_path}: not a readable JSON schema: {exc}") from exc
        check_schema(schema)
    items = []
    for i, row in enumerate(rows):
        rid = row.get(job.id_field)
        rid = str(rid) if rid is not None else str(i)
        if job.text_field:
            items.append({"id": rid, "prompt": row[job.text_field]})
        else:
            items.append({"id": rid, "messages": row[job.messages_field]})
    try:
        return build_requests(items, job.model, params=job.params, schema=schema, system=job.system)
    except CaravanError as exc:
        raise CaravanError(f"{job.input}: {exc}") from exc


def output_rows(
    rows: list[dict[str, Any]], responses: list[Response], id_field: str = "id"
) -> list[dict[str, Any]]:
    """Input columns first (an `id` of the row number is added where rows had none)."""
    out = []
    for i, (row, r) in enumerate(zip(rows, responses, strict=True)):
        ids = {} if id_field in row else {id_field: str(i)}
        out.append(
            {
                **ids,
                **row,
                "response": r.text,
                "response_json": json.dumps(r.parsed) if r.parsed is not None else None,
                "finish_reason": r.finish_reason,
                "prompt_tokens": r.usage.prompt_tokens,
                "completion_tokens": r.usage.completion_tokens,
                "cost_usd": r.cost_usd,
                "latency_s": r.latency_s,
                "attempts": r.attempts,
                "cached": r.cached,
                "error": r.error,
                "error_kind": r.error_kind,
            }
        )
    return out


def dry_run(job: CompleteJob) -> Estimate:
    rows, _ = load_rows(job)
    requests = to_requests(job, rows)
    cache_path = job.cache or default_cache_path()
    cache = ResponseCache(cache_path) if cache_path.exists() and not job.refresh else None
    try:
        provider = resolve_provider(job.provider, job.model, job.base_url)
        scope = cache_scope(
            provider, job.model, job.base_url, job.backend_options.get("hash_weights")
        )
        return estimate_cost(
            requests, scope, cache,
            PriceTable(job.prices), batch=job.batch, free=provider in ("local", "vllm"),
        )  # fmt: skip
    finally:
        if cache is not None:
            cache.close()


def run_job(job: CompleteJob) -> tuple[Path, list[Response]]:
    """Answer every row and write the output file (atomically, with provenance).

    Rows that failed are written too (error columns set). Then a run that stopped early
    (spending cap, dead endpoint) or in which every request failed raises a CaravanError
    naming the cause, so the command exits non-zero; rerunning resumes from the cache."""
    from caravan.records import Provenance, write_records

    rows, fingerprint = load_rows(job)
    requests = to_requests(job, rows)
    guard = RunGuard(max_cost=job.max_cost)
    responses = asyncio.run(
        acomplete(
            requests,
            job.model,
            provider=job.provider,
            base_url=job.base_url,
            cache=job.cache or default_cache_path(),
            concurrency=job.concurrency,
            max_retries=job.max_retries,
            timeout_s=job.timeout_s,
            rpm=job.rpm,
            tpm=job.tpm,
            prices=job.prices,
            progress=job.progress,
            batch=job.batch,
            batch_poll_s=job.batch_poll_s,
            backend_options=job.backend_options,
            refresh=job.refresh,
            guard=guard,
        )
    )
    provenance = Provenance.capture(
        config=job.config(), inputs={str(job.input): fingerprint}, command=public_argv()
    )
    path = write_records(
        output_rows(rows, responses, job.id_field), job.output, provenance=provenance
    )
    check_outcome(responses, guard, path)
    return path, responses


def check_outcome(responses: list[Response], guard: RunGuard, path: Path) -> None:
    """Raise when the run stopped early or nothing at all was answered."""
    ok = sum(r.ok for r in responses)
    if guard.stop_reason is not None:
        raise RunStopped(
            f"{guard.stop_reason} ({ok} of {len(responses)} rows answered, all rows written "
            f"to {path}; rerun to resume from the cache)"
        )
    if responses and ok == 0:
        first = responses[0]
        raise CaravanError(
            f"all {len(responses)} requests failed, e.g. {first.error_kind}: {first.error} "
            f"(rows written to {path} with their errors)"
        )
