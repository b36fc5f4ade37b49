"""`verify` command group: score responses, build RLVR datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from caravan.verifiers.registry import known_verifiers
from caravan.verifiers.rewards import RewardConfig
from caravan.verifiers.thinking import ThinkingConfig

from caravan.cli_run import executor_options
from caravan.cli_support import group
from caravan.errors import CaravanError

if TYPE_CHECKING:
    import pyarrow as pa

    from caravan.dataset import Dataset



def _err() -> Any:
    from rich.console import Console  # rich loads on use: --help stays fast

    return Console(stderr=True)


@group(name="verify")
def cli() -> None:
    """Check responses against verifiable ground truth: IFEval constraints, GSM8K, MATH, code.

    The same checkers serve as RLVR rewards (TRL, verl) and as data filters."""


def _weights(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise CaravanError(f"--weight expects NAME=NUMBER, got {item!r}")
    return out


@cli.command()
@click.option(
    "--input", "input_", required=True, help="Responses file (Parquet/JSONL/...) or hub id."
)
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Scored file to write (.parquet or .arrow).")  # fmt: skip
@click.option("--response-column", default="response", show_default=True,
              help="Column with the model response (text or a message list).")  # fmt: skip
@click.option(
    "--truncated-column", default=None, help="Boolean column: response hit the length limit."
)
@click.option("--value", default=10.0, show_default=True, help="Reward for a verified answer.")
@click.option("--weight", "weights", multiple=True, help="Per-verifier weight, e.g. math=0.5.")
@click.option(
    "--strict-thinking", is_flag=True, help="Malformed <think> part scores 0 (null response)."
)
@click.option(
    "--think-in-prompt",
    is_flag=True,
    help="The chat template opened <think> in the prompt: responses start inside the block.",
)
@click.option(
    "--truncated-penalty", type=float, default=None, help="Reward for truncated responses."
)
@click.option("--format-weight", type=float, default=0.0, show_default=True,
              help="Add this x 1 for a well-formed <think>...</think> answer.")  # fmt: skip
@click.option("--split", default=None, help="Hub split, when --input is a hub id.")
@click.option("--unsafe-local-exec", is_flag=True,
              help="Run code rows even where no OS sandbox is available (bubblewrap + user "
                   "namespaces): the code runs with your user's rights.")  # fmt: skip
@executor_options
def score(
    input_: str,
    output: Path,
    response_column: str,
    truncated_column: str | None,
    value: float,
    weights: tuple[str, ...],
    strict_thinking: bool,
    think_in_prompt: bool,
    truncated_penalty: float | None,
    format_weight: float,
    split: str | None,
    unsafe_local_exec: bool,
    **opts: Any,
) -> None:
    """Score every response; add `score`, `checks` and `errors` columns; print a summary.

    Finished batches are journaled beside the output: a rerun resumes without rescoring."""
    from caravan.verifiers.scoring import check_input, summarize
    from caravan.verifiers.stages import Score

    from caravan.cli_run import finish, pop_executor, run_steps
    from caravan.runner import read

    executor = pop_executor(opts)
    if unsafe_local_exec:
        _err().print(
            "[bold red]warning:[/] --unsafe-local-exec: where no OS sandbox is available, "
            "model-written code runs unisolated with your rights"
        )
    data = read(input_, split=split)
    check_input(data.table, response_column, next(iter(data.inputs), input_))
    cfg = RewardConfig(
        value=value,
        weights=_weights(weights),
        strict_thinking=strict_thinking,
        thinking=ThinkingConfig(opened_in_prompt=think_in_prompt),
        truncated_penalty=truncated_penalty,
        format_weight=format_weight,
    )
    stage = Score(response_column, truncated_column=truncated_column, config=cfg,
                  unsafe_local_exec=unsafe_local_exec)  # fmt: skip
    result = run_steps([stage], data, output=output, executor=executor)
    resumed = result.stats.get(f"{stage.name}.batches_resumed", 0)
    if resumed:
        click.echo(f"resumed {resumed} finished batches from the journal", err=True)
    finish(result, output, None)
    summary = summarize(result.table.to_pylist())
    from rich.console import Console
    from rich.table import Table

    table = Table("verifier", "pairs", "scored", "errors", "mean score", "all correct")
    for name in sorted(summary.by_verifier):
        st = summary.by_verifier[name]
        mean = "-" if st.mean is None else f"{st.mean:.3f}"
        full = "-" if not st.scored else f"{st.full / st.scored:.1%}"
        table.add_row(name, str(st.pairs), str(st.scored), str(st.errors), mean, full)
    Console().print(table)
    click.echo(
        f"wrote {summary.rows} rows to {output} ({summary.rows_scored} scored, "
        f"{summary.rows - summary.rows_scored} with errors)"
    )


def _read_located(src: str, split: str | None) -> tuple[Dataset, list[Any]]:
    """A source as the runner reads it, plus each row's place in its file (for errors)."""
    from caravan.records import load_records
    from caravan.records.readers import handle_bad_rows

    from caravan.dataset import Dataset
    from caravan.runner import ensure_ids

    loaded = load_records(src, split=split)
    handle_bad_rows(loaded.bad_rows, None, loaded.source, "fail", None)
    table = ensure_ids(loaded.table, loaded.source)
    return Dataset(table, inputs={loaded.source: loaded.fingerprint}), loaded.locations


def _located(result: Dataset, source: pa.Table, locations: list[Any]) -> list[Any]:
    """The rows a stage rejected as BadRows at their file and 1-based line; their details
    in `result.rejected` gain the same place."""
    import pyarrow as pa
    from caravan.records.validate import BadRow

    from caravan.stage import REJECTED_SCHEMA

    where = {i: n for n, i in enumerate(source.column("id").to_pylist())}
    bad, rejected = [], result.rejected.to_pylist()
    for rec in rejected:
        loc = locations[where[rec["id"]]]
        bad.append(BadRow(loc, "; ".join(rec["details"]), row=json.loads(rec["row"] or "null")))
        rec["details"] = [f"{loc}: {d}" for d in rec["details"]]
    result.rejected = pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA)
    return bad


def _merge(parts: list[Dataset]) -> Dataset:
    """One dataset from the sources' results: rows in order (an id repeated by another
    source gets `-2`, `-3`, ...), rejected rows, summed counters, every lineage and input."""
    import pyarrow as pa
    from caravan.records.readers import rows_to_table

    from caravan.dataset import Dataset

    rows, seen = [], set()
    for part in parts:
        for row in part.to_list():
            base, n = row["id"], 1
            while row["id"] in seen:
                n += 1
                row["id"] = f"{base}-{n}"
            seen.add(row["id"])
            rows.append(row)
    stats: dict[str, int] = {}
    for part in parts:
        for k, v in part.stats.items():
            stats[k] = stats.get(k, 0) + v
    return Dataset(
        rows_to_table(rows) if rows else pa.table({"id": pa.array([], pa.string())}),
        pa.concat_tables([p.rejected for p in parts]),
        stats,
        [s for p in parts for s in p.steps],
        {k: v for p in parts for k, v in p.inputs.items()},
    )


@cli.command("build-rlvr")
@click.option("--gsm8k", "gsm8k", multiple=True, help="GSM8K source (question, answer with ####).")
@click.option("--math", "math_", multiple=True, help="MATH source (problem, answer or solution).")
@click.option("--ifeval", multiple=True, help="IF source (prompt, instruction_id_list, kwargs).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="RLVR dataset to write (.parquet), open-instruct columns.")  # fmt: skip
@click.option("--verl-output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write verl's parquet layout here.")  # fmt: skip
@click.option(
    "--few-shot", default=0, show_default=True, help="Worked examples before GSM8K/MATH prompts."
)
@click.option("--seed", default=0, show_default=True, help="Seed for few-shot example choice.")
@click.option("--limit", type=int, default=None, help="At most this many rows per source.")
@click.option("--split", default=None, help="Hub split for hub-id sources (default: train).")
@click.option("--quarantine", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write rows that cannot be converted here (JSONL: id, stage, reason, "
                   "details, row) instead of failing.")  # fmt: skip
@executor_options
def build_rlvr(
    gsm8k: tuple[str, ...],
    math_: tuple[str, ...],
    ifeval: tuple[str, ...],
    output: Path,
    verl_output: Path | None,
    few_shot: int,
    seed: int,
    limit: int | None,
    split: str | None,
    quarantine: Path | None,
    **opts: Any,
) -> None:
    """Build an RLVR dataset (messages, ground_truth, dataset, constraint_type, constraint)."""
    from caravan.records import Provenance, write_records
    from caravan.verifiers.rlvr import to_verl
    from caravan.verifiers.stages import BuildRLVR

    from caravan.cli_run import finish, pop_executor, run_steps
    from caravan.secrets import public_argv

    sources = (
        [("gsm8k", s) for s in gsm8k]
        + [("math", s) for s in math_]
        + [("ifeval", s) for s in ifeval]
    )
    if not sources:
        raise CaravanError("give at least one source: --gsm8k, --math or --ifeval")
    executor = pop_executor(opts)
    parts = []
    counts: dict[str, int] = {}
    bad: list[Any] = []
    for task, src in sources:
        data, locations = _read_located(src, split)
        if limit is not None:  # the few-shot examples come on top of `limit` rows
            data.table = data.table.slice(0, limit + (few_shot if task != "ifeval" else 0))
        stage = BuildRLVR(task, few_shot=few_shot, seed=seed)
        built = run_steps([stage], data, output=output, executor=executor)
        if limit is not None:
            built.table = built.table.slice(0, limit)
        bad.extend(_located(built, data.table, locations))
        parts.append(built)
        counts[f"{task} ({next(iter(data.inputs), src)})"] = built.table.num_rows
    result = _merge(parts)
    if bad and quarantine is None:
        from caravan.records.readers import handle_bad_rows

        handle_bad_rows(bad, None, ", ".join(result.inputs), "fail", None)
    config = {"few_shot": few_shot, "seed": seed, "limit": limit}
    finish(result, output, "rlvr", rejected=quarantine, config=config)
    if bad:
        click.echo(f"set aside {len(bad)} unconvertible rows in {quarantine}", err=True)
    for label, n in counts.items():
        click.echo(f"{n:>7} rows  {label}")
    click.echo(f"wrote {len(result)} RLVR rows to {output}")
    if verl_output is not None:
        verl_rows = [to_verl(r, split or "train") for r in result.to_list()]
        prov = Provenance.capture(config=result.provenance_config(config), inputs=result.inputs,
                                  command=public_argv(sys.argv))  # fmt: skip
        write_records(verl_rows, verl_output, provenance=prov)
        click.echo(f"wrote {len(verl_rows)} verl rows to {verl_output}")


@cli.command("list")
def list_verifiers() -> None:
    """List the verifiers and the `dataset` names they answer to."""
    from caravan.verifiers.registry import get_verifier

    for name in known_verifiers():
        v = get_verifier(name)
        click.echo(f"{name:<8} aliases: {', '.join(v.aliases) or '-'}  {v.doc}")


__all__ = ["cli", "read_records"]  # noqa: F822 - read_records loads on use (__getattr__)


def __getattr__(name: str):  # `read_records` stays importable from here, loaded on use
    if name == "read_records":
        from caravan.records import read_records

        return read_records
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
