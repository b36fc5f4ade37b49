"""`synth generate`."""

from __future__ import annotations

from pathlib import Path

import click
from caravan.synth.cli_options import model_options, pop_calls, pop_choice
from caravan.synth.dedup import DedupConfig
from caravan.synth.tasks import TASKS


@click.command()
@click.option("--persona", "personas", required=True,
              help="Personas: .jsonl/.json/.parquet file, a hub id (proj-persona/PersonaHub), "
                   "or `example` for the bundled file.")  # fmt: skip
@click.option("--task", required=True, type=click.Choice(TASKS))
@click.option("-n", "n", type=click.IntRange(min=1), default=None,
              help="Personas to use, sampled without replacement [default: all].")  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Prompts file (.parquet or .arrow).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--persona-field", default="persona", show_default=True)
@click.option("--persona-id-field", default="id", show_default=True,
              help="Column with persona ids (a hash of the text when absent).")  # fmt: skip
@click.option("--split", "persona_split", default=None, help="Hub split for a hub persona set.")
@click.option("--persona-config", default=None,
              help="Hub dataset config (proj-persona/PersonaHub: `persona`).")  # fmt: skip
@click.option("--template", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Your own template file (same {placeholders} as the bundled one).")  # fmt: skip
@click.option("--min-constraints", default=1, show_default=True, type=click.IntRange(1, 6))
@click.option("--max-constraints", default=3, show_default=True, type=click.IntRange(1, 6))
@click.option("--constraint-ids", default=None,
              help="Comma-separated instruction ids to draw from [default: all 54].")  # fmt: skip
@click.option("--max-attempts", default=3, show_default=True, type=click.IntRange(min=1),
              help="IF: draws per prompt until it states every constraint.")  # fmt: skip
@click.option("--temperature", default=0.7, show_default=True, type=float)
@click.option("--top-p", default=0.95, show_default=True, type=float)
@click.option("--max-tokens", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option("--no-dedup", is_flag=True, help="Keep duplicate prompts.")
@click.option("--dedup-threshold", default=0.8, show_default=True, type=float)
@click.option("--shingle-size", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--rejected", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Side file for rejected prompts [default: OUTPUT stem + .rejected.jsonl].")  # fmt: skip
@model_options
def generate(**opts) -> None:
    """Write one prompt per persona for TASK with a strong model.

    `if` prompts carry sampled IFEval-style constraints as RLVR ground truth and are
    checked to state each one; `math`, `gsm`, `algebra`, `code` and `instruction` prompts
    are checked for truncation. Duplicates are removed (MinHash LSH). Rejections go to a
    side file with reasons. Every reply is cached: rerunning resumes."""
    from caravan.synth import generate as gen

    is_dry = opts.pop("dry_run")
    calls = pop_calls(opts)
    choice = pop_choice(opts)
    ids = opts.pop("constraint_ids")
    cfg = gen.GenerateConfig(
        choice=choice,
        calls=calls,
        constraint_ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
        dedup=not opts.pop("no_dedup"),
        dedup_config=DedupConfig(opts.pop("dedup_threshold"), opts.pop("shingle_size")),
        **opts,
    )
    if is_dry:
        for line in gen.dry_run(cfg):
            click.echo(line)
        return
    result = calls.guard.run(gen.run, cfg)
    if result.persona_note:
        click.echo(result.persona_note, err=True)
    if result.dedup_summary:
        click.echo(result.dedup_summary)
    from caravan.synth.rejections import reason_counts

    rej = f" ({reason_counts(result.rejected)})" if result.rejected else ""
    click.echo(
        f"wrote {len(result.rows)} {cfg.task} prompts to {result.output} with {choice.label()}; "
        f"{len(result.rejected)} rejected{rej} -> {result.rejected_path}"
    )
    calls.guard.check()
