"""`decontam` command group: `check` finds eval contamination, `remove` drops the rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from caravan.cli_run import executor_options
from caravan.cli_support import group


@group(name="decontam")
def cli() -> None:
    """Find and remove eval-set contamination in training data (8-gram, Tülu 3 rule).

    An eval instance is overlapped when more than half its tokens lie in 8-grams shared
    with one training instance; a dataset is contaminated when it overlaps more than 2%
    of an eval set."""


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="8-gram contamination" if report["settings"]["ngram"] == 8 else None)
    for col in ("train", "eval", "overlapped / total", "%", "contaminated"):
        table.add_column(col, justify="right" if col in ("%", "overlapped / total") else "left")
    for r in report["results"]:
        table.add_row(
            Path(r["train"]).name,
            r["eval"],
            f"{r['overlapped']} / {r['eval_instances']}",
            f"{100 * r['fraction']:.2f}",
            "[bold red]YES[/]" if r["contaminated"] else "no",
        )
    console = Console()
    console.print(table)
    fuzzy = report.get("fuzzy")
    if fuzzy:
        ft = Table(
            title=f"fuzzy containment (MinHash LSH Ensemble, >= {fuzzy['params']['threshold']})"
        )
        for col in ("train", "eval", "overlapped / total", "%"):
            ft.add_column(col)
        for r in fuzzy["results"]:
            ft.add_row(
                Path(r["train"]).name,
                r["eval"],
                f"{r['overlapped']} / {r['eval_instances']}",
                f"{100 * r['fraction']:.2f}",
            )
        console.print(ft)
    for t in report["train"]:
        if t["rows_without_text"]:
            click.echo(
                f"warning: {t['path']}: {t['rows_without_text']} row(s) have no text in "
                f"{', '.join(t['fields'])} (e.g. rows {t['rows_without_text_examples']})",
                err=True,
            )


@cli.command()
@click.option(
    "--train",
    "train",
    multiple=True,
    required=True,
    help="Training data file or folder (repeatable).",
)
@click.option(
    "--eval",
    "evals",
    multiple=True,
    required=True,
    help="Built-in eval name, or NAME=PATH[:field,...] (repeatable).",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="Training column to compare, COL or COL:role,role (default: user turns of messages / prompt).",
)
@click.option("--ngram", default=8, show_default=True, help="n-gram length.")
@click.option(
    "--instance-threshold",
    default=0.5,
    show_default=True,
    help="An eval instance is overlapped if more than this fraction of its tokens match.",
)
@click.option(
    "--dataset-threshold",
    default=0.02,
    show_default=True,
    help="A dataset is contaminated if more than this fraction of an eval set is overlapped.",
)
@click.option(
    "--report",
    "report_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON report.",
)
@click.option(
    "--matches",
    "matches_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet of all matches with both texts [default: REPORT.matches.parquet].",
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    help="Local worker processes (0 = one per core); with --executor ray see --ray-workers.",
)
@click.option("--batch-rows", default=2048, show_default=True, help="Training rows per chunk.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Eval index cache [default: ~/.cache/caravan/decontam].",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the eval index cache.")
@click.option(
    "--fuzzy", is_flag=True, help="Also find near-duplicates with MinHash LSH Ensemble containment."
)
@click.option(
    "--fuzzy-threshold",
    default=0.8,
    show_default=True,
    help="Containment threshold of the fuzzy mode.",
)
@click.option(
    "--fuzzy-shingle", default=3, show_default=True, help="Token shingle length of the fuzzy mode."
)
@click.option(
    "--fuzzy-num-perm",
    default=128,
    show_default=True,
    help="MinHash permutations of the fuzzy mode.",
)
@click.option(
    "--semantic",
    is_flag=True,
    help="Also find rephrased eval items by sentence-embedding similarity (extra: semantic).",
)
@click.option(
    "--embed-model",
    default=None,
    help="Embedding model of --semantic: hub id or local folder "
    "[default: sentence-transformers/all-MiniLM-L6-v2].",
)
@click.option(
    "--semantic-threshold",
    default=None,
    type=float,
    help="Cosine similarity at or above which a pair is flagged [default: 0.7, calibrated "
    "for all-MiniLM-L6-v2; see benchmarks/decontam_semantic.py].",
)
@click.option(
    "--semantic-top-k", default=3, show_default=True, help="Nearest eval items per training row."
)
@click.option(
    "--semantic-batch-size", default=64, show_default=True, help="Texts per embedding batch."
)
@click.option(
    "--semantic-judge",
    "semantic_judge",
    default=None,
    metavar="MODEL",
    help="Ask this LLM whether each flagged pair is the same problem (cached, costed).",
)
@click.option("--semantic-judge-provider", default=None, help="Provider of --semantic-judge.")
@click.option("--semantic-judge-base-url", default=None, help="API base URL of --semantic-judge.")
@click.option(
    "--fail-on-contamination",
    is_flag=True,
    help="Exit with status 2 if any dataset is contaminated.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML report: heatmap, coverage, matches with the "
    "shared n-grams highlighted (needs the `inspect` extra).",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Ignore the journal of an interrupted check and scan everything.",
)
@executor_options
def check(
    train: tuple[str, ...],
    evals: tuple[str, ...],
    fields: tuple[str, ...],
    ngram: int,
    instance_threshold: float,
    dataset_threshold: float,
    report_path: Path,
    matches_path: Path | None,
    workers: int,
    batch_rows: int,
    cache_dir: Path | None,
    no_cache: bool,
    fuzzy: bool,
    fuzzy_threshold: float,
    fuzzy_shingle: int,
    fuzzy_num_perm: int,
    semantic: bool,
    embed_model: str | None,
    semantic_threshold: float | None,
    semantic_top_k: int,
    semantic_batch_size: int,
    semantic_judge: str | None,
    semantic_judge_provider: str | None,
    semantic_judge_base_url: str | None,
    fail_on_contamination: bool,
    quiet: bool,
    restart: bool,
    html_path: Path | None = None,
    **opts: Any,
) -> None:
    """Check training data against eval sets; print a table and write the report.

    Example: decontam check --train sft.parquet --eval gsm8k=gsm8k_test.jsonl:question
    --report report.json"""
    from caravan.decontam.check import CheckConfig, run_check
    from caravan.decontam.evalsets import load_eval_sets
    from caravan.decontam.index import default_cache_dir

    from caravan.cli_run import pop_executor

    executor = pop_executor(opts)

    config = CheckConfig(
        ngram=ngram,
        instance_threshold=instance_threshold,
        dataset_threshold=dataset_threshold,
        fields=list(fields),
        workers=workers,
        batch_rows=batch_rows,
        cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
        progress=not quiet,
        resume=not restart,
    )
    config.validate()
    if html_path is not None:
        from caravan.inspect.figures import pyplot

        pyplot()  # no plotting library: say so before the scan, not after it
    fuzzy_cfg = None
    if fuzzy:
        from caravan.decontam.fuzzy import FuzzyConfig

        fuzzy_cfg = FuzzyConfig(
            threshold=fuzzy_threshold, shingle=fuzzy_shingle, num_perm=fuzzy_num_perm
        )
        fuzzy_cfg.validate()
    from caravan.decontam.trainio import open_train, resolve_fields

    for path in train:  # fail on a bad --train before slow eval loading (hub retries)
        src = open_train(path)
        resolve_fields(src.columns, list(fields), src.label)
    sem_cfg = semantic_config(
        semantic,
        embed_model,
        semantic_threshold,
        semantic_top_k,
        semantic_batch_size,
        semantic_judge,
        semantic_judge_provider,
        semantic_judge_base_url,
        quiet,
    )
    eval_sets = load_eval_sets(list(evals))
    report = run_check(
        list(train), eval_sets, config, report_path, matches_path, fuzzy_cfg, sem_cfg, executor
    )
    resumed = {k: v for k, v in report["resumed_rows"].items() if v}
    for label, rows in resumed.items():
        click.echo(f"resumed {label}: {rows} rows replayed from the journal", err=True)
    print_table(report)
    print_semantic(report)
    click.echo(
        f"report: {report_path}  matches: {report['matches_file']} ({report['match_count']} rows)"
    )
    if html_path is not None:
        from caravan.inspect.contamination import write_html

        click.echo(f"html: {write_html(report, html_path)}")
    semantic_hits = [
        r for r in (report.get("semantic") or {}).get("results", []) if r["contaminated"]
    ]
    if fail_on_contamination and (report["contaminated"] or semantic_hits):
        click.echo(
            "contaminated: "
            + ", ".join(
                [f"{Path(c['train']).name} x {c['eval']}" for c in report["contaminated"]]
                + [f"{Path(c['train']).name} x {c['eval']} (semantic)" for c in semantic_hits]
            ),
            err=True,
        )
        sys.exit(2)


@cli.command()
@click.option("--train", "train", required=True, help="The training data that was checked.")
@click.option(
    "--report",
    "report_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Report written by `decontam check`.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cleaned dataset (.parquet, .arrow or .jsonl).",
)
@click.option(
    "--removed",
    "removed_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Side file of removed rows [default: OUTPUT.removed.parquet].",
)
@click.option(
    "--only-contaminated",
    is_flag=True,
    help="Only drop rows that match eval sets the dataset is contaminated with.",
)
@click.option(
    "--semantic",
    is_flag=True,
    help="Also drop the rows the check's --semantic mode flagged.",
)
def remove(
    train: str,
    report_path: Path,
    output: Path,
    removed_path: Path | None,
    only_contaminated: bool,
    semantic: bool,
) -> None:
    """Write the training data without the rows that overlap eval instances."""
    from caravan.decontam.remove import run_remove

    res = run_remove(train, report_path, output, removed_path, only_contaminated, semantic)
    click.echo(
        f"kept {res.kept} rows -> {res.output}; removed {res.removed} rows -> {res.removed_path}"
    )


def semantic_config(
    enabled: bool,
    model: str | None,
    threshold: float | None,
    top_k: int,
    batch_size: int,
    judge: str | None,
    judge_provider: str | None,
    judge_base_url: str | None,
    quiet: bool,
) -> Any:
    """The --semantic settings, or None; semantic options without --semantic are an error."""
    if not enabled:
        given = [
            name
            for name, v in (
                ("--embed-model", model),
                ("--semantic-threshold", threshold),
                ("--semantic-judge", judge),
            )
            if v is not None
        ]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply with --semantic")
        return None
    from caravan.decontam.embed import require_backend
    from caravan.decontam.semantic import DEFAULT_THRESHOLD, SemanticConfig
    from caravan.decontam.semantic_judge import JudgeSettings

    require_backend()  # fail before any slow work when the extra is missing
    cfg = SemanticConfig(
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        top_k=top_k,
        batch_size=batch_size,
        progress="off" if quiet else ("bar" if sys.stderr.isatty() else "lines"),
    )
    if model:
        cfg.model = model
    if judge:
        cfg.judge = JudgeSettings(
            judge,
            provider=judge_provider,
            base_url=judge_base_url,
            progress=not quiet and sys.stderr.isatty(),
        )
    cfg.validate()
    return cfg


def print_semantic(report: dict[str, Any]) -> None:
    sem = report.get("semantic")
    if not sem:
        return
    from rich.console import Console
    from rich.table import Table

    p = sem["params"]
    judged = " + LLM judge" if p.get("judge") else ""
    table = Table(title=f"semantic matches (cosine >= {p['threshold']}{judged})")
    for col in ("train", "eval", "candidates", "flagged / total", "%", "contaminated"):
        table.add_column(col)
    for r in sem["results"]:
        table.add_row(
            Path(r["train"]).name,
            r["eval"],
            str(r["candidates"]),
            f"{r['overlapped']} / {r['eval_instances']}",
            f"{100 * r['fraction']:.2f}",
            "[bold red]YES[/]" if r["contaminated"] else "no",
        )
    Console().print(table)
    if sem.get("judge"):
        j = sem["judge"]
        click.echo(
            f"judge: {j['requests']} pairs, {j['cached']} cached, {j['errors']} failed, "
            f"${j['cost_usd']:.4f}",
            err=True,
        )
