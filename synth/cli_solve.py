"""`synth solve`, `synth relax` and `synth dedup`."""

from __future__ import annotations

from pathlib import Path

import click
from caravan.synth.cli_options import model_options, pop_calls, pop_choice, pop_choice_args
from caravan.synth.rejections import reason_counts


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
def solve(**opts) -> None:
    """Answer prompts with a strong model and write SFT rows (`messages`).

    Defaults follow Tülu 3: GPT-4o for math and IF, Claude for code (when their keys are
    set; --model/--provider override all tasks). Rejections go to a side file."""
    from caravan.synth import solve as s

    from caravan.errors import CaravanError

    is_dry = opts.pop("dry_run")
    calls = pop_calls(opts)
    model_args = pop_choice_args(opts)
    templates = {}
    for item in opts.pop("templates"):
        task, sep, path = item.partition("=")
        if not sep:
            raise CaravanError(f"--template expects TASK=PATH, got {item!r}")
        templates[task.strip()] = Path(path)
    cfg = s.SolveConfig(model_args=model_args, calls=calls, templates=templates, **opts)
    if is_dry:
        for line in s.dry_run(cfg):
            click.echo(line)
        return
    result = calls.guard.run(s.run, cfg)
    verified = sum(bool(r.get("verified")) for r in result.rows)
    rej = f" ({reason_counts(result.rejected)})" if result.rejected else ""
    click.echo(
        f"wrote {len(result.rows)} SFT rows ({verified} verified) to {cfg.output} with "
        f"{', '.join(result.models)}; {len(result.rejected)} rejected{rej} -> {result.rejected_path}"
    )
    calls.guard.check()


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
def relax(**opts) -> None:
    """Persona-IF preference pairs: drop one constraint, answer the relaxed prompt, and keep
    the pair when the original answer passes everything and the relaxed one breaks the
    dropped constraint."""
    from caravan.synth import relax as rx

    is_dry = opts.pop("dry_run")
    calls = pop_calls(opts)
    cfg = rx.RelaxConfig(choice=pop_choice(opts), calls=calls, **opts)
    if is_dry:
        for line in rx.dry_run(cfg):
            click.echo(line)
        return
    result = calls.guard.run(rx.run, cfg)
    if result.note:
        click.echo(result.note, err=True)
    rej = f" ({reason_counts(result.rejected)})" if result.rejected else ""
    click.echo(
        f"wrote {len(result.rows)} preference pairs to {cfg.output} with {cfg.choice.label()}; "
        f"{len(result.rejected)} rejected{rej} -> {result.rejected_path}"
    )
    calls.guard.check()


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
    from caravan.records import Provenance, load_records, write_records
    from caravan.synth.dedup import DedupConfig, dedup_texts
    from caravan.synth.rejections import side_path, write_rejections

    from caravan.errors import CaravanError

    loaded = load_records(input)
    if loaded.bad_rows:
        raise CaravanError(f"{loaded.bad_rows[0]} ({len(loaded.bad_rows)} bad rows)")
    rows = loaded.table.to_pylist()
    if field_ not in loaded.table.column_names:
        raise CaravanError(f"{input}: no `{field_}` column")
    texts = []
    for i, row in enumerate(rows):
        if not isinstance(row[field_], str):
            raise CaravanError(f"{loaded.locations[i]}: `{field_}` is not text")
        texts.append(row[field_])
    cfg = DedupConfig(threshold, shingle_size, num_perm)
    report = dedup_texts(texts, cfg, progress=not no_progress)
    side = side_path(output, rejected)
    write_rejections(
        [{"id": rows[r.index].get("id", r.index), "stage": "dedup",
          "reason": "exact duplicate" if r.reason == "exact" else "near duplicate",
          "details": [f"duplicates {rows[r.duplicate_of].get('id', r.duplicate_of)} "
                      f"(estimated Jaccard {r.similarity})"], "text": texts[r.index]}
         for r in report.removed],
        side,
    )  # fmt: skip
    prov = Provenance.capture(config={"dedup": vars(cfg), "field": field_},
                              inputs={loaded.source: loaded.fingerprint})  # fmt: skip
    write_records([rows[i] for i in report.kept], output, provenance=prov)
    click.echo(f"{report.summary()}; wrote {output}, removed rows -> {side}")
