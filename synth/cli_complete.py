"""`synth complete`: a file of prompts in, one answered row per prompt out.

A thin call of the shared runner: the options make an `LLM` session, the rows go through
the `Complete` stage (`output="columns"`) with the chosen executor, and `finish` writes
them with provenance. Every answer is cached the moment it arrives, and finished batches
are journaled beside the output, so a killed run resumes without paying twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from caravan.cli_run import call_options, executor_options

INPUT_ID = "__input_id__"  # the input's own `id` column while --id-field names another


@click.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help="Prompts: .jsonl, .json, .parquet or .arrow.")  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Answered rows, written as .parquet (or .arrow).")  # fmt: skip
@click.option("--model", required=True, help="Model name as the provider spells it.")
@click.option("--provider", type=click.Choice(["openai", "anthropic", "local", "vllm"]),
              default=None,
              help="openai also covers any OpenAI-compatible server via --base-url. Default: "
                   "openai with --base-url or a gpt-*/o* model, anthropic for claude-*, else "
                   "openai if OPENAI_API_KEY is set, else local (in-process transformers).")  # fmt: skip
@click.option("--base-url", default=None,
              help="API base URL, e.g. http://localhost:8000/v1 for `vllm serve`.")  # fmt: skip
@click.option("--text-field", default=None,
              help="Answer this plain-text column (as one user message) instead of messages.")  # fmt: skip
@click.option("--messages-field", default="messages", show_default=True,
              help="Column holding chat messages.")  # fmt: skip
@click.option("--id-field", default="id", show_default=True,
              help="Column with row ids (the row number when absent).")  # fmt: skip
@click.option("--system", default=None, help="System prompt added where a row has none.")
@click.option("--temperature", type=float, default=None)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--schema", "schema_path", type=click.Path(path_type=Path, exists=True),
              default=None, help="JSON schema file the replies must match.")  # fmt: skip
@call_options
@executor_options
def complete(**opts: Any) -> None:
    """Answer a column of prompts with a model: one output row per input row, in order,
    with response, usage, cost and error columns. Finished answers are cached, so an
    interrupted run picks up where it stopped and never pays twice."""
    from caravan.synth.stages import Complete

    from caravan.cli_run import estimate_lines, finish, pop_calls, pop_executor, run_steps
    from caravan.errors import CaravanError

    calls, executor = pop_calls(opts), pop_executor(opts)
    params = {k: opts.pop(k) for k in ("temperature", "max_tokens", "seed")}
    path, output, id_field = opts.pop("input_path"), opts.pop("output"), opts.pop("id_field")
    text_field, messages_field = opts.pop("text_field"), opts.pop("messages_field")
    schema_path = opts.pop("schema_path")
    schema = read_schema(schema_path) if schema_path is not None else None
    llm = calls.session(
        opts.pop("model"), opts.pop("provider"), opts.pop("base_url"), system=opts.pop("system"),
        **{k: v for k, v in params.items() if v is not None},
    )  # fmt: skip
    data = read_prompts(path, text_field or messages_field, bool(text_field), id_field)
    stage = Complete(llm, schema=schema, text_field=text_field,
                     messages_field=None if text_field else messages_field,
                     output="columns")  # fmt: skip
    try:
        requests = stage.plan(data.table)[0][1]
    except CaravanError as exc:
        raise CaravanError(f"{path}: {exc}") from exc
    if calls.dry_run:
        for line in estimate_lines([llm], [(llm, requests)]):
            click.echo(line)
        return
    shown = llm.settings.progress
    if shown and llm.cache_path is not None:
        note = " (--refresh: asking again)" if llm.settings.refresh else ""
        hits = llm.estimate(requests).cached
        click.echo(f"cache: {llm.cache_path} ({hits} of {len(requests)} answered already){note}",
                   err=True)  # fmt: skip
    # the Batch API answers one submission in hours: send the whole file at once
    batch_size = max(1, data.table.num_rows) if llm.settings.batch else None
    result = run_steps([stage], data, output=output, executor=executor,
                       progress=shown, max_cost=calls.max_cost,
                       batch_size=batch_size)  # fmt: skip
    result = restore_ids(result, id_field)
    config = {**llm.describe(), "system": llm.system, "batch": llm.settings.batch,
              "schema": str(schema_path) if schema_path else None, "text_field": text_field,
              "messages_field": messages_field}  # fmt: skip
    written = finish(result, output, None, config=config)
    errors = result.table.column("error").to_pylist() if result.table.num_rows else []
    failed = sum(e is not None for e in errors)
    if shown:
        click.echo(summary(result.table), err=True)
    click.echo(f"wrote {len(errors)} rows to {written} ({failed} failed)")
    check_outcome(calls, result, written, len(errors) - failed, failed)


def summary(table: Any) -> str:
    """One line from the output columns (the same whichever executor ran the calls)."""
    if not table.num_rows:
        return "summary: no rows"
    rows = table.select(["error", "cached", "prompt_tokens", "completion_tokens", "cost_usd",
                         "attempts"]).to_pylist()  # fmt: skip
    fresh = [r for r in rows if not r["cached"] and r["error"] is None]
    costs = [r["cost_usd"] for r in fresh]
    cost = "unknown" if any(c is None for c in costs) else f"${sum(costs):.4f}"
    tokens = sum((r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0) for r in fresh)
    retries = sum(max(0, (r["attempts"] or 0) - 1) for r in rows)
    failed = sum(r["error"] is not None for r in rows)
    return (f"summary: {len(rows) - failed} ok, {failed} failed, "
            f"{sum(bool(r['cached']) for r in rows)} from the cache; {tokens:,} new tokens, "
            f"cost {cost}; {retries} retries")  # fmt: skip


def read_schema(path: Path) -> dict[str, Any]:
    from caravan.llm.structured import check_schema

    from caravan.errors import CaravanError

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaravanError(f"{path}: not a readable JSON schema: {exc}") from exc
    check_schema(schema)
    return schema


def read_prompts(path: Path, field: str, text: bool, id_field: str) -> Any:
    """The input rows, each checked to hold a prompt (errors name the file and line), with
    the runner's `id` taken from `id_field` (the row number where there is none)."""
    import pyarrow as pa
    from caravan.records import load_records
    from caravan.synth.stages import RESPONSE_COLUMNS

    from caravan.dataset import Dataset
    from caravan.errors import CaravanError
    from caravan.runner import ensure_ids

    loaded = load_records(path)
    if loaded.bad_rows:
        raise CaravanError(f"{loaded.bad_rows[0]} ({len(loaded.bad_rows)} bad rows)")
    table = loaded.table
    clash = [c for c in (*RESPONSE_COLUMNS, INPUT_ID) if c in table.column_names]
    if clash:
        raise CaravanError(f"{path}: input already has output column(s) {', '.join(clash)}")
    values = table.column(field).to_pylist() if field in table.column_names else [None] * len(
        table)  # fmt: skip
    for i, value in enumerate(values):
        if value is None or (text and not isinstance(value, str)):
            want = "a text" if text else "a messages"
            raise CaravanError(f"{loaded.locations[i]}: `{field}` must hold {want} value")
    given = table.column(id_field).to_pylist() if id_field in table.column_names else None
    ids = [str(v) if v is not None else str(i) for i, v in enumerate(given or [None] * len(table))]
    if given is None:
        table = table.add_column(0, id_field, pa.array(ids, pa.string()))
    if id_field == "id":
        table = table.set_column(table.column_names.index("id"), "id", pa.array(ids, pa.string()))
    else:
        if "id" in table.column_names:
            table = table.rename_columns([INPUT_ID if c == "id" else c for c in table.column_names])
        table = table.add_column(0, "id", pa.array(ids, pa.string()))
    return Dataset(ensure_ids(table, str(path)), inputs={loaded.source: loaded.fingerprint})


def restore_ids(result: Any, id_field: str) -> Any:
    """Undo `read_prompts`' id column when --id-field named another one."""
    if id_field == "id" or "id" not in result.table.column_names:
        return result
    from dataclasses import replace

    table = result.table.drop_columns(["id"])
    table = table.rename_columns(["id" if c == INPUT_ID else c for c in table.column_names])
    return replace(result, table=table)


def check_outcome(calls: Any, result: Any, path: Path, ok: int, failed: int) -> None:
    """After writing: a run that stopped early (spending cap, dead endpoint) or in which
    every request failed exits non-zero, naming the cause; rerunning resumes from the cache."""
    from caravan.llm.guard import RunStopped

    from caravan.errors import CaravanError

    guard = calls.guard
    if guard is not None and guard.stop_reason is not None:
        raise RunStopped(
            f"{guard.stop_reason} ({ok} of {ok + failed} rows answered, all rows written to "
            f"{path}; rerun to resume from the cache)"
        )
    if failed and not ok:
        first = next(r for r in result.table.to_pylist() if r["error"] is not None)
        raise CaravanError(
            f"all {failed} requests failed, e.g. {first['error_kind']}: {first['error']} "
            f"(rows written to {path} with their errors)"
        )
    calls.check(result)  # batches a Ray worker stopped early
