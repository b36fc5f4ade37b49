"""`verify` command group: score responses, build RLVR datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from caravan.verifiers.registry import known_verifiers
from caravan.verifiers.rewards import RewardConfig
from caravan.verifiers.thinking import ThinkingConfig
from rich.console import Console
from rich.table import Table

from caravan.cli_support import group
from caravan.errors import CaravanError
from caravan.progress import StepProgress

_err = Console(stderr=True)


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
) -> None:
    """Score every response; add `score`, `checks` and `errors` columns; print a summary."""
    from caravan.records import Provenance, load_records, write_records
    from caravan.records.readers import handle_bad_rows
    from caravan.verifiers.scoring import Checkpoint, score_rows

    if unsafe_local_exec:
        from caravan.verifiers.code.sandbox import set_unsafe_local_exec

        set_unsafe_local_exec(True)
        _err.print(
            "[bold red]warning:[/] --unsafe-local-exec: where no OS sandbox is available, "
            "model-written code runs unisolated with your rights"
        )

    loaded = load_records(input_, split=split)
    handle_bad_rows(loaded.bad_rows, None, loaded.source, "fail", None)
    rows = loaded.table.to_pylist()
    cfg = RewardConfig(
        value=value,
        weights=_weights(weights),
        strict_thinking=strict_thinking,
        thinking=ThinkingConfig(opened_in_prompt=think_in_prompt),
        truncated_penalty=truncated_penalty,
        format_weight=format_weight,
    )
    key = {
        "input": loaded.fingerprint,
        "response_column": response_column,
        "truncated_column": truncated_column,
        "config": repr(cfg),
    }
    checkpoint = Checkpoint(output.with_name(f".{output.name}.partial.jsonl"), key)
    if checkpoint.done:
        click.echo(f"resuming: {len(checkpoint.done)} rows already scored", err=True)
    with StepProgress("scoring", len(rows), unit="rows") as progress:
        scored, summary = score_rows(
            rows,
            response_column=response_column,
            truncated_column=truncated_column,
            config=cfg,
            progress=progress.advance,
            source=loaded.source,
            checkpoint=checkpoint,
        )
    prov = Provenance.capture(
        config={"value": value, "weights": cfg.weights, "strict_thinking": strict_thinking,
                "think_in_prompt": think_in_prompt, "truncated_penalty": truncated_penalty,
                "format_weight": format_weight},
        inputs={loaded.source: loaded.fingerprint},
    )  # fmt: skip
    if not scored:
        raise CaravanError(f"{loaded.source}: no rows to score")
    write_records(scored, output, provenance=prov)
    checkpoint.remove()
    table = Table("verifier", "pairs", "scored", "errors", "mean score", "all correct")
    for name in sorted(summary.by_verifier):
        st = summary.by_verifier[name]
        mean = "-" if st.mean is None else f"{st.mean:.3f}"
        full = "-" if not st.scored else f"{st.full / st.scored:.1%}"
        table.add_row(name, str(st.pairs), str(st.scored), str(st.errors), mean, full)
    Console().print(table)
    click.echo(
        f"wrote {len(scored)} rows to {output} ({summary.rows_scored} scored, "
        f"{summary.rows - summary.rows_scored} with errors)"
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
              help="Write rows that cannot be converted here (JSONL) instead of failing.")  # fmt: skip
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
) -> None:
    """Build an RLVR dataset (messages, ground_truth, dataset, constraint_type, constraint)."""
    from caravan.records import BadRow, Provenance, load_records, write_records
    from caravan.records.readers import handle_bad_rows
    from caravan.verifiers.rlvr import BUILDERS, to_verl

    sources = (
        [("gsm8k", s) for s in gsm8k]
        + [("math", s) for s in math_]
        + [("ifeval", s) for s in ifeval]
    )
    if not sources:
        raise CaravanError("give at least one source: --gsm8k, --math or --ifeval")
    rows: list[dict] = []
    inputs: dict[str, str] = {}
    counts: dict[str, int] = {}
    seen_ids: set[str] = set()
    bad: list[BadRow] = []
    for task, src in sources:
        loaded = load_records(src, split=split)
        handle_bad_rows(loaded.bad_rows, None, loaded.source, "fail", None)
        inputs[loaded.source] = loaded.fingerprint
        src_rows = loaded.table.to_pylist()
        if limit is not None:
            src_rows = src_rows[: limit + (few_shot if task != "ifeval" else 0)]
        shots = few_shot if task != "ifeval" else 0
        built: list[dict[str, Any]] = []
        locs = loaded.locations[: len(src_rows)]
        for item in BUILDERS[task](src_rows, loaded.source, shots=shots, seed=seed, locations=locs):
            if isinstance(item, BadRow):
                bad.append(item)
            else:
                built.append(item)
        if limit is not None:
            built = built[:limit]
        for row in built:  # the same task from two sources: keep ids unique
            base, n = row["id"], 1
            while row["id"] in seen_ids:
                n += 1
                row["id"] = f"{base}-{n}"
            seen_ids.add(row["id"])
        rows.extend(built)
        counts[f"{task} ({loaded.source})"] = len(built)
    if bad:
        handle_bad_rows(
            bad, None, ", ".join(inputs), "quarantine" if quarantine else "fail", quarantine
        )
        click.echo(f"set aside {len(bad)} unconvertible rows in {quarantine}", err=True)
    prov = Provenance.capture(
        config={"few_shot": few_shot, "seed": seed, "limit": limit}, inputs=inputs
    )
    write_records(rows, output, "rlvr", provenance=prov)
    for label, n in counts.items():
        click.echo(f"{n:>7} rows  {label}")
    click.echo(f"wrote {len(rows)} RLVR rows to {output}")
    if verl_output is not None:
        verl_rows = [to_verl(r, split or "train") for r in rows]
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
