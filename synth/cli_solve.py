"""`synth solve`, `synth relax` and `synth dedup`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from caravan.synth.cli_options import (
    input_data,
    model_lines,
    model_options,
    pop_choice,
    pop_choice_args,
    rejected_note,
    run_and_write,
    session,
)

from caravan.cli_run import executor_options, pop_calls, pop_executor


@click.command()
@click.option("--input", "input", required=True, type=click.Path(path_type=Path, exists=True),
              help="Prompts from `synth generate` (or any file with prompt/messages + task).")  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="SFT rows (.parquet).")  # fmt: skip
@click.option("--verify", is_flag=True,
              help="Keep only verified answers: IF constraints pass, math majority, code tests pass.")  # fmt: skip
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Math: answers per prompt for the majority vote [default: 4 with --verify].")  # fmt: skip
@click.option("--min-agreement", default=0.5, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Math: the top answer must hold more than this share of samples.")  # fmt: skip
@click.option("--task", default=None, help="Task of every row when the input has no `task` column.")
@click.option("--prompt-field", default="prompt", show_default=True)
@click.option("--temperature", default=0.7, show_default=True, type=float)
@click.option("--top-p", default=0.95, show_default=True, type=float)
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--template", "templates", multiple=True,
              help="TASK=PATH: your own solve template for math, algebra, gsm or code.")  # fmt: skip
@click.option("--rejected", type=click.Path(path_type=Path, dir_okay=False), default=None)
@model_options
@executor_options
def solve(**opts) -> None:
    """Answer prompts with a strong model and write SFT rows (`messages`).

    Defaults follow Tülu 3: GPT-4o for math and IF, Claude for code (when their keys are
    set; --model/--provider override all tasks). Rejections go to a side file."""
    from caravan.synth.models import choose_model
    from caravan.synth.solve import load_prompt_rows
    from caravan.synth.stages import Solve

    from caravan.errors import CaravanError

    calls = pop_calls(opts)
    executor = pop_executor(opts)
    model_args = pop_choice_args(opts)
    templates: dict[str, str | Path] = {}
    for item in opts.pop("templates"):
        task, sep, path = item.partition("=")
        if not sep:
            raise CaravanError(f"--template expects TASK=PATH, got {item!r}")
        templates[task.strip()] = Path(path)
    rows, source, fingerprint = load_prompt_rows(opts["input"], opts["prompt_field"], opts["task"])
    tasks = {r["task"] for r in rows}
    # Tülu 3: Claude answers code when its key is set, GPT-4o the rest (flags override both)
    main = choose_model(**model_args, prefer="openai")
    code = choose_model(**model_args, prefer="anthropic")
    same = (code.provider, code.model, code.base_url) == (main.provider, main.model, main.base_url)
    first = main if tasks - {"code"} else code  # code prompts only: the code model answers
    llm = session(calls, first)
    choices = {id(llm): first}
    code_llm = None
    if "code" in tasks and first is main and not same:
        code_llm = session(calls, code)
        choices[id(code_llm)] = code
    stage = Solve(
        llm, opts["verify"], code_llm=code_llm, samples=opts["samples"],
        min_agreement=opts["min_agreement"], task=opts["task"], prompt_field=opts["prompt_field"],
        temperature=opts["temperature"], top_p=opts["top_p"], max_tokens=opts["max_tokens"],
        seed=opts["seed"], templates=templates,
    )  # fmt: skip
    data = input_data(rows, source, fingerprint)
    if calls.dry_run:
        for line in model_lines(choices, stage.plan(data.table)):
            click.echo(line)
        return
    used = [s for s in (llm, code_llm) if s is not None]
    for s in used:
        s.prepare()
    models = sorted({choices[id(s)].label() for s in used})
    config = {"models": models, "samples": {t: stage.samples_for(t) for t in sorted(tasks)}}
    result, side = run_and_write(
        calls, [stage], data, opts["output"], "sft", executor=executor, what="answer",
        rejected=opts["rejected"], config=config,
    )  # fmt: skip
    verified = sum(bool(v) for v in result.table.column("verified").to_pylist())
    click.echo(f"wrote {result.table.num_rows} SFT rows ({verified} verified) to {opts['output']} "
               f"with {', '.join(models)}; {rejected_note(result, side)}")  # fmt: skip
    calls.check(result)


@click.command()
@click.option("--input", "input", required=True, type=click.Path(path_type=Path, exists=True),
              help="IF prompts from `synth generate`, or solved IF rows from `synth solve`.")  # fmt: skip
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Preference pairs (.parquet).")  # fmt: skip
@click.option("--drop", "drop_id", default=None,
              help="Instruction id to drop [default: one drawn per prompt].")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--template", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None
)
@click.option("--temperature", default=0.7, show_default=True, type=float)
@click.option("--top-p", default=0.95, show_default=True, type=float)
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(min=1))
@click.option("--rejected", type=click.Path(path_type=Path, dir_okay=False), default=None)
@model_options
@executor_options
def relax(**opts) -> None:
    """Persona-IF preference pairs: drop one constraint, answer the relaxed prompt, and keep
    the pair when the original answer passes everything and the relaxed one breaks the
    dropped constraint."""
    from caravan.synth.relax import few_constraints_note
    from caravan.synth.solve import load_prompt_rows
    from caravan.synth.stages import Relax

    from caravan.stage import reason_code

    calls = pop_calls(opts)
    executor = pop_executor(opts)
    choice = pop_choice(opts)
    rows, source, fingerprint = load_prompt_rows(opts["input"], "prompt", "if")
    total_if = sum(r["task"] == "if" for r in rows)
    llm = session(calls, choice)
    stage = Relax(
        llm, drop_id=opts["drop_id"], seed=opts["seed"], template=opts["template"],
        temperature=opts["temperature"], top_p=opts["top_p"], max_tokens=opts["max_tokens"],
    )  # fmt: skip
    data = input_data(rows, source, fingerprint)
    if calls.dry_run:
        pairs, skipped, _ = stage.pairs(data.table)
        few = sum(r.reason == reason_code("fewer than 2 constraints") for r in skipped)
        note = few_constraints_note(few, total_if)
        missing = sum(p.original_answer is None for p in pairs)
        lines = [f"prompts with >= 2 constraints: {len(pairs)} ({len(skipped)} skipped)",
                 *([note] if note else []),
                 *model_lines({id(llm): choice}, stage.plan(data.table)),
                 f"then one answer per relaxed prompt ({len(pairs)}) and per unanswered original "
                 f"({missing}): not counted above"]  # fmt: skip
        for line in lines:
            click.echo(line)
        return

    def explain(result: Any) -> str | None:
        reasons = result.rejected.column("reason").to_pylist()
        few = reasons.count(reason_code("fewer than 2 constraints"))
        return few_constraints_note(few, total_if)

    llm.prepare()
    config = {"model": choice.label()}
    result, side = run_and_write(
        calls, [stage], data, opts["output"], "preference", executor=executor, what="pair",
        rejected=opts["rejected"], config=config, explain=explain,
    )  # fmt: skip
    note = explain(result)
    if note:
        click.echo(note, err=True)
    click.echo(f"wrote {result.table.num_rows} preference pairs to {opts['output']} with "
               f"{choice.label()}; {rejected_note(result, side)}")  # fmt: skip
    calls.check(result)


@click.command()
@click.option("--input", "input", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--field", "field_", default="prompt", show_default=True, help="Text column to compare."
)
@click.option("--threshold", default=0.8, show_default=True, type=float,
              help="Estimated Jaccard similarity at which rows count as near duplicates.")  # fmt: skip
@click.option("--shingle-size", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--num-perm", default=128, show_default=True, type=click.IntRange(min=16))
@click.option("--rejected", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--no-progress", is_flag=True, help="No progress bar or progress lines.")
def dedup(input: Path, output: Path, field_: str, threshold: float, shingle_size: int,
          num_perm: int, rejected: Path | None, no_progress: bool) -> None:  # fmt: skip
    """Remove exact and near-duplicate rows (MinHash LSH); removed rows go to a side file
    naming the row each one duplicates."""
    from caravan.records import load_records
    from caravan.synth.dedup import stats_summary
    from caravan.synth.stages import Dedup

    from caravan.cli_run import finish, run_steps
    from caravan.dataset import Dataset, rejected_path_for
    from caravan.errors import CaravanError
    from caravan.runner import ensure_ids

    loaded = load_records(input)
    if loaded.bad_rows:
        raise CaravanError(f"{loaded.bad_rows[0]} ({len(loaded.bad_rows)} bad rows)")
    if field_ not in loaded.table.column_names:
        raise CaravanError(f"{input}: no `{field_}` column")
    for i, text in enumerate(loaded.table.column(field_).to_pylist()):
        if not isinstance(text, str):
            raise CaravanError(f"{loaded.locations[i]}: `{field_}` is not text")
    stage = Dedup(field_, threshold, shingle_size, num_perm)
    data = Dataset(ensure_ids(loaded.table, loaded.source),
                   inputs={loaded.source: loaded.fingerprint})  # fmt: skip
    result = run_steps([stage], data, output=output, progress=not no_progress)
    finish(result, output, None, rejected=rejected, config={"field": field_})
    side = rejected or rejected_path_for(output)
    click.echo(f"{stats_summary(result.stats)}; wrote {output}, removed rows -> {side}")
