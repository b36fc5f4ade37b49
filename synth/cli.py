"""`synth` command group."""

from __future__ import annotations

from pathlib import Path

import click

from caravan.cli_support import group


@group(name="synth")
def cli() -> None:
    """Persona-driven synthesis of verifiable prompts and their solutions.

    From one-sentence personas, a strong model writes precise instruction-following
    prompts with machine-checkable constraints, math, grade-school, algebra and code
    problems, then solves them (`generate`, `solve`), builds persona-IF preference pairs
    (`relax`) and removes near-duplicate prompts (`dedup`). `complete` answers a file of
    prompts with any model."""


@cli.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Prompts: .jsonl, .json, .parquet or .arrow.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Answered rows, written as .parquet (or .arrow).",
)
@click.option("--model", required=True, help="Model name as the provider spells it.")
@click.option(
    "--provider",
    type=click.Choice(["openai", "anthropic", "local", "vllm"]),
    default=None,
    help="openai also covers any OpenAI-compatible server via --base-url. Default: openai "
    "with --base-url or a gpt-*/o* model, anthropic for claude-*, else openai if "
    "OPENAI_API_KEY is set, else local (in-process transformers).",
)
@click.option(
    "--base-url", default=None, help="API base URL, e.g. http://localhost:8000/v1 for `vllm serve`."
)
@click.option(
    "--concurrency",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests in flight at once; for local/vllm, the generation batch size.",
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite cache/resume file [default: $CARAVAN_LLM_CACHE, else "
    "$CARAVAN_CACHE_DIR/llm/responses.sqlite, else ~/.cache/caravan/llm/responses.sqlite].",
)
@click.option(
    "--refresh", is_flag=True, help="Ask again even for cached prompts; overwrite the cache."
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Spending cap in USD: no request is sent once spent + in-flight worst case would "
    "pass it; answers so far are written and the exit status is non-zero.",
)
@click.option(
    "--batch",
    is_flag=True,
    help="Use the provider's Batch API (about half price, "
    "hours not seconds); submitted batches are resumed on restart.",
)
@click.option(
    "--poll-interval",
    "batch_poll_s",
    default=30.0,
    show_default=True,
    type=float,
    help="Seconds between batch status checks (with --batch).",
)
@click.option("--dry-run", is_flag=True, help="Estimate tokens and cost; send nothing.")
@click.option(
    "--text-field",
    default=None,
    help="Answer this plain-text column (as one user message) instead of messages.",
)
@click.option(
    "--messages-field", default="messages", show_default=True, help="Column holding chat messages."
)
@click.option(
    "--id-field",
    default="id",
    show_default=True,
    help="Column with row ids (the row number when absent).",
)
@click.option("--system", default=None, help="System prompt added where a row has none.")
@click.option("--temperature", type=float, default=None)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="JSON schema file the replies must match.",
)
@click.option("--max-retries", default=8, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--timeout", default=120.0, show_default=True, type=float, help="Seconds per attempt."
)
@click.option("--rpm", type=float, default=None, help="Client-side requests per minute.")
@click.option("--tpm", type=float, default=None, help="Client-side tokens per minute.")
@click.option(
    "--prices",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="YAML price table overriding the built-in one.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="local/vllm: prompts generated together (backend default when unset).",
)
@click.option("--device", default=None, help="local: torch device, e.g. cpu or cuda.")
@click.option("--no-progress", is_flag=True, help="No progress bar or summary.")
def complete(**opts) -> None:
    """Answer a column of prompts with a model: one output row per input row, in order,
    with response, usage, cost and error columns. Finished answers are cached, so an
    interrupted run picks up where it stopped and never pays twice."""
    from caravan.llm.job import CompleteJob, dry_run, run_job

    params = {
        k: opts.pop(k) for k in ("temperature", "max_tokens", "seed") if opts.get(k) is not None
    }
    for k in ("temperature", "max_tokens", "seed"):
        opts.pop(k, None)
    backend_options = {
        k: opts.pop(k) for k in ("max_batch_size", "device") if opts.get(k) is not None
    }
    for k in ("max_batch_size", "device"):
        opts.pop(k, None)
    is_dry = opts.pop("dry_run")
    timeout = opts.pop("timeout")
    job = CompleteJob(
        input=opts.pop("input_path"),
        params=params,
        backend_options=backend_options,
        timeout_s=timeout,
        progress=not opts.pop("no_progress"),
        **opts,
    )
    if is_dry:
        for line in dry_run(job).lines():
            click.echo(line)
        return
    path, responses = run_job(job)
    failed = sum(not r.ok for r in responses)
    click.echo(f"wrote {len(responses)} rows to {path} ({failed} failed)")


def _register() -> None:
    from caravan.synth.cli_generate import generate
    from caravan.synth.cli_solve import dedup, relax, solve

    for command in (generate, solve, relax, dedup):
        cli.add_command(command)


_register()
