"""`synth generate`."""

from __future__ import annotations

from pathlib import Path

import click
from caravan.synth.cli_options import (
    model_lines,
    model_options,
    pop_choice,
    rejected_note,
    run_and_write,
    session,
)
from caravan.synth.tasks import TASKS

from caravan.cli_run import executor_options, pop_calls, pop_executor


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
@executor_options
def generate(**opts) -> None:
    """Write one prompt per persona for TASK with a strong model.

    `if` prompts carry sampled IFEval-style constraints as RLVR ground truth and are
    checked to state each one; `math`, `gsm`, `algebra`, `code` and `instruction` prompts
    are checked for truncation. Duplicates are removed (MinHash LSH). Rejections go to a
    side file with reasons. Every reply is cached and finished batches are journaled:
    rerunning resumes."""
    import pyarrow as pa
    from caravan.synth.dedup import stats_summary
    from caravan.synth.personas import load_personas
    from caravan.synth.stages import Dedup, Generate
    from caravan.synth.templates import load_template

    from caravan.dataset import Dataset
    from caravan.stage import Stage

    calls = pop_calls(opts)
    executor = pop_executor(opts)
    choice = pop_choice(opts)
    task, output = opts["task"], opts["output"]
    ids = opts["constraint_ids"]
    template = load_template(f"generate_{task}", opts["template"])  # fail before any call
    pset = load_personas(opts["personas"], opts["persona_field"], opts["persona_id_field"],
                         opts["persona_split"], opts["persona_config"])  # fmt: skip
    personas = pa.table(
        {"id": [p.id for p in pset.personas], "persona": [p.text for p in pset.personas]}
    )
    data = Dataset(personas, inputs={pset.source: pset.fingerprint})
    llm = session(calls, choice)
    stage = Generate(
        task, llm, opts["n"], opts["seed"], template=opts["template"],
        min_constraints=opts["min_constraints"], max_constraints=opts["max_constraints"],
        constraint_ids=[i.strip() for i in ids.split(",") if i.strip()] if ids else None,
        max_attempts=opts["max_attempts"], temperature=opts["temperature"],
        top_p=opts["top_p"], max_tokens=opts["max_tokens"],
    )  # fmt: skip
    dedup = not opts["no_dedup"]
    steps: list[Stage] = [stage]
    if dedup:
        steps.append(Dedup("prompt", opts["dedup_threshold"], opts["shingle_size"]))
    note = pset.duplicate_note()
    if calls.dry_run:
        plans = stage.plan(stage.select(data.table))
        for line in ([note] if note else []) + model_lines({id(llm): choice}, plans):
            click.echo(line)
        if task == "if" and opts["max_attempts"] > 1:
            click.echo(f"plus up to {opts['max_attempts'] - 1} regeneration(s) per IF prompt "
                       "that fails the constraint-statement check (not counted above)")  # fmt: skip
        return
    llm.prepare()
    if note:
        click.echo(note, err=True)
    config = {"task": task, "model": choice.label(), "template": template.name,
              "template_sha256": template.sha256}  # fmt: skip
    result, side = run_and_write(
        calls, steps, data, output, "rlvr" if task == "if" else None, executor=executor,
        what="prompt", rejected=opts["rejected"], config=config,
    )  # fmt: skip
    if dedup:
        click.echo(stats_summary(result.stats))
    click.echo(f"wrote {result.table.num_rows} {task} prompts to {output} with {choice.label()}; "
               f"{rejected_note(result, side)}")  # fmt: skip
    calls.check(result)
