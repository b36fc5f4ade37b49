"""What every data CLI shares, so each command is a thin call of the runner.

- `call_options`: the model-call options, generated from `LLMSettings` (one documented
  dataclass, TRL's pattern) plus `--cache`, `--max-cost`, `--max-batch-size`, `--device`
  and `--dry-run`; `pop_calls` turns them into `CallArgs`, and `CallArgs.session(...)`
  into an `LLM` session. Every session of one command shares one `RunGuard`, so
  `--max-cost` covers the whole command and a dead endpoint stops it once.
- `executor_options`: `--executor local|ray`, `--ray-address`, `--ray-workers`.
- `run_steps`: runs a command's stages over its input with the chosen executor, journaling
  finished batches beside the output (a rerun skips them), and `finish` writes the rows,
  the one rejected-rows side file and provenance, then drops the journal.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from caravan.options import dataclass_options, pop_dataclass

if TYPE_CHECKING:
    from caravan.dataset import Dataset
    from caravan.session import LLM, LLMSettings

EXECUTORS = ("local", "ray")


def _settings_cls() -> type:
    from caravan.session import LLMSettings  # no llm/ import: --help stays fast

    return LLMSettings


def call_options(fn: Callable) -> Callable:
    """The model-call options of every model-calling data command."""
    extra = [
        click.option("--cache", type=click.Path(path_type=Path), default=None,
                     help="SQLite cache/resume file [default: $CARAVAN_LLM_CACHE, else "
                          "$CARAVAN_CACHE_DIR/llm/responses.sqlite, else "
                          "~/.cache/caravan/llm/responses.sqlite]."),
        click.option("--max-cost", type=click.FloatRange(min=0), default=None,
                     help="Spending cap in USD for the whole command: no request is sent once "
                          "spent + in-flight worst case would pass it; what is done is written "
                          "and the exit status is non-zero. With --executor ray the cap is "
                          "checked per worker and per finished batch."),
        click.option("--max-batch-size", type=click.IntRange(min=1), default=None,
                     help="local/vllm: prompts generated together [default: --concurrency]."),
        click.option("--device", default=None, help="local: torch device, e.g. cpu or cuda."),
        click.option("--dry-run", is_flag=True,
                     help="Estimate requests, tokens and cost; send nothing."),
    ]  # fmt: skip
    fn = dataclass_options(_settings_cls())(fn)
    for deco in reversed(extra):
        fn = deco(fn)
    return fn


@dataclass
class CallArgs:
    """The call options of one command, and the guard all its sessions share."""

    settings: LLMSettings
    cache: Path | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    max_cost: float | None = None
    dry_run: bool = False
    guard: Any = None

    def session(
        self, model: str, provider: str | None = None, base_url: str | None = None, **params: Any
    ) -> LLM:
        from caravan.session import IN_PROCESS, LLM

        llm = LLM(
            model, provider, base_url, cache=self.cache or True, settings=self.settings,
            backend_options=dict(self.backend_options), guard=self.guard, **params,
        )  # fmt: skip
        if llm.provider not in IN_PROCESS:  # --device, --max-batch-size: local models only
            llm.backend_options = {}
        return llm

    def check(self, result: Dataset | None = None) -> None:
        """After the outputs are written: exit non-zero if the run stopped early (here, or
        on a Ray worker, whose guard the driver does not see)."""
        if self.guard is not None:
            self.guard.check()
        halted = sum(v for k, v in (result.stats if result is not None else {}).items()
                     if k.endswith(".batches_stopped"))  # fmt: skip
        if halted:
            from caravan.llm.guard import RunStopped

            raise RunStopped(
                f"{halted} batches stopped early on the Ray workers (cost cap or a dead "
                "endpoint); outputs written; rerun to resume from the cache"
            )


def pop_calls(opts: dict[str, Any]) -> CallArgs:
    from caravan.llm.guard import RunGuard

    settings = pop_dataclass(_settings_cls(), opts)
    backend = {k: opts.pop(k) for k in ("max_batch_size", "device")}
    max_cost = opts.pop("max_cost")
    return CallArgs(
        settings=settings,
        cache=opts.pop("cache"),
        backend_options={k: v for k, v in backend.items() if v is not None},
        max_cost=max_cost,
        dry_run=opts.pop("dry_run"),
        guard=RunGuard(max_cost=max_cost),
    )


def executor_options(fn: Callable) -> Callable:
    """`--executor`, `--ray-address`, `--ray-workers`."""
    decorators = [
        click.option("--executor", type=click.Choice(EXECUTORS), default="local",
                     show_default=True,
                     help="Where the batches run: this process, or a Ray cluster's actors."),
        click.option("--ray-address", default=None, envvar="RAY_ADDRESS",
                     help="Ray cluster for --executor ray [default: $RAY_ADDRESS, else a "
                          "local Ray]."),
        click.option("--ray-workers", type=click.IntRange(min=1), default=None,
                     help="Actors per stage with --executor ray [default: the cluster's CPUs]."),
    ]  # fmt: skip
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


@dataclass
class ExecutorArgs:
    executor: str = "local"
    ray_address: str | None = None
    ray_workers: int | None = None


def pop_executor(opts: dict[str, Any]) -> ExecutorArgs:
    return ExecutorArgs(opts.pop("executor"), opts.pop("ray_address"), opts.pop("ray_workers"))


def journal_for(output: Path) -> Path:
    """Finished batches of a command writing `output` (removed once it is written)."""
    return output.with_name(f".{output.name}.journal")


def run_steps(
    steps: Sequence[Any],
    data: Any,
    *,
    output: Path | None = None,
    executor: ExecutorArgs | None = None,
    progress: bool = True,
    max_cost: float | None = None,
    batch_size: int | None = None,
    workers: Any = None,
    labels: Sequence[str] | None = None,
) -> Dataset:
    """Run `steps` in order over `data` with the chosen executor; finished batches are
    journaled beside `output`, so a killed run resumes without redoing them. `workers`:
    local processes for CPU-bound steps, or a started `caravan.runner.BatchPool` (the local
    executor; Ray has --ray-workers);
    `labels`: what progress shows per step (default: the stage names)."""
    from caravan.aio import run_sync
    from caravan.journal import Journal
    from caravan.pipeline import stage_runner
    from caravan.runner import read

    exe = executor or ExecutorArgs()
    runner = stage_runner(exe.executor, exe.ray_address, exe.ray_workers)
    jnl = Journal(journal_for(output)) if output is not None else None
    current = read(data)
    for i, stage in enumerate(steps):
        options: dict[str, Any] = {"journal": jnl, "progress": progress}
        if exe.executor == "ray":
            options["max_cost"] = max_cost  # locally the sessions' guard enforces it exactly
        elif workers is not None and workers != 1:
            options["workers"] = workers
        if batch_size:
            options["batch_size"] = batch_size
        if labels:
            options["label"] = labels[i]
        current = run_sync(runner(stage, current, **options))
    return current


def finish(
    result: Dataset,
    output: Path,
    kind: str | None,
    *,
    rejected: Path | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write the rows, the rejected side file and provenance; then drop the journal, unless
    a batch is unfinished (a failed or unsent request), so a rerun redoes only those."""
    from caravan.secrets import public_argv

    path = result.write(
        output, kind, rejected=rejected, config=config, command=public_argv(sys.argv)
    )
    unfinished = sum(v for k, v in result.stats.items() if k.endswith(".batches_unfinished"))
    if not unfinished:  # else a rerun still skips every finished batch
        shutil.rmtree(journal_for(output), ignore_errors=True)
    return path


def estimate_lines(sessions: Sequence[LLM], plans: Sequence[tuple[Any, list[Any]]]) -> list[str]:
    """Dry-run lines for (session, requests) pairs, one block per session."""
    lines: list[str] = []
    for session, requests in plans:
        est = session.estimate(requests)
        block = est.lines()
        if session.provider in ("local", "vllm"):
            block[-1] = "estimated cost: $0 (runs on this machine)"
        if len(plans) > 1:
            lines.append(f"{session.model}:")
            block = ["  " + line for line in block]
        lines.extend(block)
    return lines
