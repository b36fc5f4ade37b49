"""`caravan records`: validate, convert and inspect dataset files."""

from __future__ import annotations

import json
from pathlib import Path

import click
from caravan.records.provenance import Provenance
from caravan.records.readers import handle_bad_rows, load_records
from caravan.records.schemas import KINDS
from caravan.records.writers import Format, write_records
from rich.console import Console
from rich.table import Table

from caravan.cli_support import group

_KIND = click.Choice(sorted(KINDS), case_sensitive=False)
_console = Console(stderr=True)


def _source_options(f):
    f = click.option("--config", "config", default=None, help="Hub dataset config name.")(f)
    f = click.option("--split", default=None, help="Hub dataset split (default: train).")(f)
    return f


@group(name="records")
def cli() -> None:
    """Validate, convert and inspect SFT, preference and RLVR record files.

    Reads JSONL, JSON, Parquet, Arrow IPC (or a folder of them, or a Hugging Face
    dataset id); writes Parquet or Arrow with provenance and a dataset card.
    """


@cli.command()
@click.argument("source")
@click.option("--kind", type=_KIND, required=True, help="Record kind the rows must fit.")
@click.option(
    "--quarantine",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the bad rows (with reasons) to this JSONL file.",
)
@click.option("--show", default=20, show_default=True, help="How many bad rows to list.")
@_source_options
def validate(
    source: str,
    kind: str,
    quarantine: Path | None,
    show: int,
    split: str | None,
    config: str | None,
) -> None:
    """Check that every row of SOURCE is a valid KIND record; exit 1 if any is not."""
    loaded = load_records(source, kind, split=split, config=config)
    total = loaded.table.num_rows + len(loaded.bad_rows)
    click.echo(f"{loaded.source}: {loaded.table.num_rows}/{total} valid {kind} rows")
    if not loaded.bad_rows:
        return
    table = Table("where", "problem")
    for bad in loaded.bad_rows[:show]:
        table.add_row(str(bad.location), bad.error)
    _console.print(table)
    if len(loaded.bad_rows) > show:
        _console.print(f"... and {len(loaded.bad_rows) - show} more")
    if quarantine is not None:
        handle_bad_rows(loaded.bad_rows, kind, loaded.source, "quarantine", quarantine)
        click.echo(f"wrote {len(loaded.bad_rows)} bad rows to {quarantine}")
    raise SystemExit(1)


@cli.command()
@click.argument("source")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=_KIND, required=True, help="Record kind the rows must fit.")
@click.option(
    "--quarantine",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Set bad rows aside in this JSONL file instead of failing.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "arrow"]),
    default=None,
    help="Output format (default: from OUTPUT's suffix).",
)
@_source_options
def convert(
    source: str,
    output: Path,
    kind: str,
    quarantine: Path | None,
    fmt: Format | None,
    split: str | None,
    config: str | None,
) -> None:
    """Validate SOURCE as KIND records and write them to OUTPUT with provenance and a card."""
    loaded = load_records(source, kind, split=split, config=config)
    handle_bad_rows(
        loaded.bad_rows, kind, loaded.source, "quarantine" if quarantine else "fail", quarantine
    )
    prov = Provenance.capture(
        config={"kind": kind, "split": split, "config": config, "format": fmt},
        inputs={loaded.source: loaded.fingerprint},
    )
    write_records(loaded.table, output, kind, provenance=prov, format=fmt)
    note = f" ({len(loaded.bad_rows)} bad rows in {quarantine})" if loaded.bad_rows else ""
    click.echo(f"wrote {loaded.table.num_rows} {kind} rows to {output}{note}")


@cli.command()
@click.argument("source")
@_source_options
def info(source: str, split: str | None, config: str | None) -> None:
    """Show rows, columns and stored provenance of a dataset file."""
    loaded = load_records(source, None, split=split, config=config)
    click.echo(f"{loaded.source}: {loaded.table.num_rows} rows")
    if loaded.bad_rows:
        first = loaded.bad_rows[0]
        click.echo(
            f"  and {len(loaded.bad_rows)} unreadable row(s), first at {first} "
            "(list them with `caravan records validate`)",
            err=True,
        )
    for field in loaded.table.schema:
        click.echo(f"  {field.name}: {field.type}")
    prov = None
    for f in loaded.files:
        if f.endswith((".parquet", ".arrow")):
            from caravan.records.card import _schema_of

            schema = _schema_of(Path(f))
            prov = Provenance.from_metadata(schema.metadata if schema else None)
            break
    if prov is not None:
        click.echo("provenance: " + json.dumps(prov.__dict__, indent=2, default=str))
