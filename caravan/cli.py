"""`caravan`: every command group under one entry point."""

from __future__ import annotations

import click

from caravan import __version__
from caravan.cli_support import group
from decontam.cli import cli as decontam_cli
from prefs.cli import cli as prefs_cli
from records.cli import cli as records_cli
from synth.cli import cli as synth_cli
from train_adapters.cli import cli as train_cli
from verifiers.cli import cli as verify_cli


@group(name="caravan")
@click.version_option(__version__, prog_name="caravan")
def cli() -> None:
    """Caravan: post-training data the Tülu 3 way, from synthesis to trainer.

    Each group is also installed as its own command (`synth`, `prefs`, `decontam`,
    `verify`, `train`).
    """


for sub in (synth_cli, prefs_cli, decontam_cli, verify_cli, train_cli, records_cli):
    cli.add_command(sub)
