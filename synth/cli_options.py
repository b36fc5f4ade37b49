"""What the model-calling synth commands share: which model answers (synth's defaults:
GPT-4o with an OpenAI key, Claude for code, else a local model), the call options every data
command shares (`caravan.cli_run`, generated from `LLMSettings`), and writing the result."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from caravan.synth.models import LOCAL_MODEL_ENV, PROVIDERS, ModelChoice, choose_model

from caravan.cli_run import call_options

if TYPE_CHECKING:
    import pyarrow as pa

    from caravan.cli_run import CallArgs, ExecutorArgs
    from caravan.dataset import Dataset
    from caravan.session import LLM


def model_options(fn: Callable) -> Callable:
    """The model-choice flags plus the shared call options."""
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
    ]  # fmt: skip
    fn = call_options(fn)
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def pop_choice_args(opts: dict[str, Any]) -> dict[str, Any]:
    """The raw model flags (for commands that resolve a model per task)."""
    return {k: opts.pop(k) for k in ("model", "provider", "base_url", "local_model")}


def pop_choice(opts: dict[str, Any], prefer: str = "openai") -> ModelChoice:
    return choose_model(**pop_choice_args(opts), prefer=prefer)


def session(calls: CallArgs, choice: ModelChoice) -> LLM:
    return calls.session(choice.model, choice.provider, choice.base_url)


def model_lines(
    choices: dict[int, ModelChoice], plans: Sequence[tuple[Any, list[Any]]]
) -> list[str]:
    """Dry run: per session, `model: ...` and its estimate (indented when several)."""
    from caravan.cli_run import estimate_lines

    lines: list[str] = []
    for llm, requests in plans:
        choice = choices[id(llm)]
        block = estimate_lines([llm], [(llm, requests)])
        lines.append(f"model: {choice.label()} ({choice.why})")
        lines.extend(("  " + line if len(plans) > 1 else line) for line in block)
    return lines


def input_data(rows: list[dict[str, Any]], source: str, fingerprint: str) -> Dataset:
    """Checked input rows as the runner's Dataset, naming the file they came from."""
    from caravan.runner import read

    data = read(rows)
    data.inputs = {source: fingerprint}
    return data


def reason_counts(rejected: pa.Table) -> str:
    """`3 request failed, 1 truncated`: the reason codes, as words, most common first."""
    from collections import Counter

    counts = Counter(rejected.column("reason").to_pylist())
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in counts.most_common())


def rejected_note(result: Dataset, side: Path) -> str:
    n = result.rejected.num_rows
    return f"{n} rejected" + (f" ({reason_counts(result.rejected)})" if n else "") + f" -> {side}"


def run_and_write(
    calls: CallArgs,
    steps: Sequence[Any],
    data: Any,
    output: Path,
    kind: str | None,
    *,
    executor: ExecutorArgs,
    what: str,
    rejected: Path | None = None,
    config: dict[str, Any] | None = None,
    explain: Callable[[Dataset], str | None] | None = None,
) -> tuple[Dataset, Path]:
    """Run `steps` and write the rows, the rejected side file and provenance. With no row
    left, write only the side file and fail naming it (`explain` may add why). A failure
    after the run stopped early (cost cap, dead endpoint) reports the stop as its cause;
    its rerun asks again only what was not answered (the cache has the rest)."""
    from caravan.cli_run import finish, journal_for, run_steps
    from caravan.dataset import rejected_path_for, write_rejected
    from caravan.errors import CaravanError

    side = Path(rejected) if rejected else rejected_path_for(output)

    def go() -> Dataset:
        result = run_steps(
            steps, data, output=output, executor=executor, progress=calls.settings.progress,
            max_cost=calls.max_cost,
        )  # fmt: skip
        if result.table.num_rows == 0:
            write_rejected(result.rejected, side)
            shutil.rmtree(journal_for(output), ignore_errors=True)  # a rerun asks again
            why = explain(result) if explain else None
            raise CaravanError(
                f"no {what} survived ({result.rejected.num_rows} rejected, reasons in {side})"
                + (f"; {why}" if why else "")
            )
        finish(result, output, kind, rejected=rejected, config=config)
        return result

    return calls.guard.run(go), side
