"""`train`: SFT, DPO and GRPO on Caravan records with TRL and the Tülu 3 recipes."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml
from caravan.train_adapters.resume import RESUME_MODES  # light: hashlib and json only

from caravan.cli_support import group
from caravan.errors import CaravanError
from caravan.secrets import redact, redact_text

if TYPE_CHECKING:
    from caravan.train_adapters.resolve import Resolved


@group(name="train")
def cli() -> None:
    """Train on Caravan datasets with TRL: SFT, DPO and GRPO with Tülu 3 recipes.

    Shipped recipes: tulu3-8b-sft, tulu3-8b-dpo, tulu3-70b-sft, tulu3-70b-dpo, tulu31-8b-grpo,
    reasoning-8b-sft, deepscaler-1.5b-grpo (`train recipes` lists them). Any recipe key can be overridden
    as key=value, e.g. trl.learning_rate=1e-6 launch.num_processes=1. Needs the train
    extra: pip install 'caravan-posttrain[train]'.
    """


@cli.command("recipes")
def list_recipes() -> None:
    """List the shipped recipes."""
    from caravan.train_adapters.recipe import load_recipe, shipped_recipes

    for name in shipped_recipes():
        recipe = load_recipe(name)
        click.echo(f"{name:<24} {recipe.stage:<5} {recipe.description}")


def _stage_command(stage: str):
    @click.option(
        "--recipe", "recipe_name", required=True, help="Shipped recipe name or YAML path."
    )
    @click.option(
        "--model", default=None, help="Model hub id or local path (overrides the recipe)."
    )
    @click.option(
        "--data",
        "data",
        multiple=True,
        help="PATH_OR_ID[=FRACTION|COUNT]; repeat to mix. Replaces the recipe's data.",
    )
    @click.option("--output-dir", default=None, type=click.Path(file_okay=False))
    @click.option(
        "--dry-run",
        is_flag=True,
        help="Read and check every data source, print the resolved TRL config and launch command.",
    )
    @click.option(
        "--resume",
        type=click.Choice(RESUME_MODES),
        default="auto",
        show_default=True,
        help="auto: resume from the last checkpoint only if config and data are unchanged; "
        "force: resume even if they changed.",
    )
    @click.argument("overrides", nargs=-1)
    def command(recipe_name, model, data, output_dir, dry_run, resume, overrides) -> None:
        from caravan.train_adapters.mixer import parse_data_args
        from caravan.train_adapters.recipe import load_recipe
        from caravan.train_adapters.resolve import resolve

        extra = list(overrides)
        if model:
            extra.append(f"model={model}")
        recipe = load_recipe(recipe_name, extra)
        if recipe.stage != stage:
            raise CaravanError(
                f"recipe {recipe.name} is a {recipe.stage} recipe; run it with `train {recipe.stage}`"
            )
        if data:
            recipe.data = parse_data_args(list(data))
            recipe.data_format = {k: v for k, v in recipe.data_format.items() if k in recipe.data}
        resolved = resolve(recipe, output_dir)
        if dry_run:
            _dry_run(resolved)
            return
        _launch(resolved, resume)

    command.__doc__ = {
        "sft": "Supervised fine-tuning on `messages` records (loss on assistant tokens).",
        "dpo": "Length-normalised DPO on preference records, reference log-probs cached.",
        "grpo": "GRPO with verifiable rewards from verifiers/ on RLVR records.",
    }[stage]
    return cli.command(stage)(command)


def _dry_run(resolved: Resolved) -> None:
    from caravan.train_adapters.mixer import build_mixture
    from caravan.train_adapters.resolve import format_command

    """Everything short of loading a model: data read and validated, config printed masked."""
    recipe = resolved.recipe
    table, report = build_mixture(
        recipe.data, recipe.stage, recipe.data_format, seed=int(resolved.trl_kwargs.get("seed", 8))
    )
    click.echo(f"# recipe {recipe.name} ({recipe.stage}) -> {redact_text(resolved.output_dir)}")
    click.echo(f"# model: {redact_text(recipe.model)}")
    for name in recipe.data:
        fmt = recipe.data_format.get(name, "records")
        skipped = len(report.skipped.get(name, []))
        click.echo(
            f"# data: {redact_text(name)}: {report.taken[name]} of {report.available[name]} rows "
            f"({fmt}{f', {skipped} skipped' if skipped else ''})"
        )
    click.echo(f"# data: {table.num_rows} rows in all")
    for note in resolved.notes:
        click.echo(f"# {note}")
    click.echo(yaml.safe_dump(redact({"trl": resolved.trl_kwargs}), sort_keys=True).rstrip())
    click.echo(f"# launch: {redact_text(format_command(resolved.launch_command))}")


def _launch(resolved: Resolved, resume: str) -> None:
    from caravan.train_adapters.recipe_file import child_environment, write_resolved_recipe
    from caravan.train_adapters.resolve import format_command, launch_command
    from caravan.train_adapters.resume import check_config

    check_config(resolved, resume)  # refuse before the frozen recipe is overwritten
    write_resolved_recipe(resolved)
    if resolved.launch_command[1:3] == ["-m", "caravan.train_adapters.run"]:
        from caravan.train_adapters.run import run

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        final = run(resolved, resume)
        click.echo(f"trained model saved to {Path(final)}")
        return
    import torch

    command = launch_command(resolved.recipe, resolved.output_dir, cuda=torch.cuda.is_available())
    if command != resolved.launch_command:
        click.echo("note: no CUDA: launching CPU processes (gloo) without FSDP", err=True)
    command += ["--resume", resume]
    click.echo(f"launching: {redact_text(format_command(command))}", err=True)
    code = subprocess.call(command, env=child_environment(resolved))
    if code:
        raise CaravanError(f"training failed (exit status {code}); see the messages above")
    click.echo(f"trained model saved to {Path(resolved.output_dir) / 'final'}")


for _stage in ("sft", "dpo", "grpo"):
    _stage_command(_stage)
