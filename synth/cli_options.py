"""Options every model-calling synth command shares (model choice, calls, dry run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from caravan.synth.models import LOCAL_MODEL_ENV, PROVIDERS, ModelChoice, choose_model

if TYPE_CHECKING:
    from caravan.synth.calls import CallSettings


def model_options(fn: Callable) -> Callable:
    decorators = [
        click.option("--model", default=None,
                     help="Model name. Default: gpt-4o when OPENAI_API_KEY is set, else the "
                          f"local model (--local-model / ${LOCAL_MODEL_ENV})."),
        click.option("--provider", type=click.Choice(PROVIDERS), default=None,
                     help="openai also covers OpenAI-compatible servers (vLLM) via --base-url."),
        click.option("--base-url", default=None,
                     help="OpenAI-compatible server, e.g. http://localhost:8000/v1 (`vllm serve`)."),
        click.option("--local-model", default=None,
                     help=f"Local backend model (hub id or folder) [default: ${LOCAL_MODEL_ENV} "
                          "or Qwen/Qwen2.5-0.5B-Instruct]."),
        click.option("--cache", type=click.Path(path_type=Path), default=None,
                     help="SQLite cache/resume file [default: $CARAVAN_LLM_CACHE, else "
                          "$CARAVAN_CACHE_DIR/llm/responses.sqlite]."),
        click.option("--refresh", is_flag=True,
                     help="Ask again even for cached prompts; overwrite the cache."),
        click.option("--max-cost", type=click.FloatRange(min=0), default=None,
                     help="Spending cap in USD for the whole command: no request is sent once "
                          "spent + in-flight worst case would pass it; exit non-zero."),
        click.option("--concurrency", default=64, show_default=True, type=click.IntRange(min=1),
                     help="Requests in flight at once; for local/vllm, the generation batch size."),
        click.option("--max-retries", default=8, show_default=True, type=click.IntRange(min=0)),
        click.option("--timeout", default=120.0, show_default=True, type=float,
                     help="Seconds per attempt."),
        click.option("--prices", type=click.Path(path_type=Path, exists=True), default=None,
                     help="YAML price table overriding the built-in one."),
        click.option("--max-batch-size", type=click.IntRange(min=1), default=None,
                     help="local/vllm: prompts generated together."),
        click.option("--device", default=None, help="local: torch device, e.g. cpu or cuda."),
        click.option("--dry-run", is_flag=True, help="Estimate requests, tokens and cost; send nothing."),
        click.option("--no-progress", is_flag=True, help="No progress bar or usage summary."),
    ]  # fmt: skip
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def pop_calls(opts: dict[str, Any]) -> CallSettings:
    from caravan.llm.guard import RunGuard
    from caravan.synth.calls import CallSettings  # llm/ loads when a command runs, not for --help

    backend_options = {k: opts.pop(k) for k in ("max_batch_size", "device")}
    return CallSettings(
        cache=opts.pop("cache"),
        concurrency=opts.pop("concurrency"),
        max_retries=opts.pop("max_retries"),
        timeout_s=opts.pop("timeout"),
        prices=opts.pop("prices"),
        progress=not opts.pop("no_progress"),
        backend_options={k: v for k, v in backend_options.items() if v is not None},
        refresh=opts.pop("refresh"),
        guard=RunGuard(max_cost=opts.pop("max_cost")),
    )


def pop_choice(opts: dict[str, Any], prefer: str = "openai") -> ModelChoice:
    return choose_model(
        opts.pop("model"), opts.pop("provider"), opts.pop("base_url"), opts.pop("local_model"),
        prefer=prefer,
    )  # fmt: skip


def pop_choice_args(opts: dict[str, Any]) -> dict[str, Any]:
    """The raw model flags (for commands that resolve a model per task)."""
    return {k: opts.pop(k) for k in ("model", "provider", "base_url", "local_model")}
