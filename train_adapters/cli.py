"""`train`: SFT, DPO and GRPO on Caravan records with TRL and the Tülu 3 recipes."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import click
import yaml

from caravan.cli_support import group
from caravan.errors import CaravanError


@group(name="train")
def cli() -> None:
    """Train on Caravan datasets with TRL: SFT, DPO and GRPO with Tülu 3 recipes.

    Shipped recipes: tulu3-8b-sft, tulu3-8b-dpo, tulu31-8b-grpo, reasoning-8b-sft,
    deepscaler-1.5b-grpo (`train recipes` lists them). Any recipe key can be overridden
    as key=value, e.g. trl.learning_rate=1e-6 launch.num_processes=1. Needs the train
    extra: pip install 'caravan[train]'.
    """


@cli.command("recipes")
def list_recipes() -> None:
    """List the shipped recipes."""
    from train_adapters.recipe import load_recipe, shipped_recipes

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
        "--dry-run", is_flag=True, help="Print the resolved TRL config and launch command."
    )
    @click.argument("overrides", nargs=-1)
    def command(recipe_name, model, data, output_dir, dry_run, overrides) -> None:
        from train_adapters.mixer import parse_data_args
        from train_adapters.recipe import load_recipe
        from train_adapters.resolve import format_command, resolve

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
            click.echo(f"# recipe {recipe.name} ({stage}) -> {resolved.output_dir}")
            click.echo(f"# model: {recipe.model}")
            for name, value in recipe.data.items():
                click.echo(f"# data: {name}: {value} ({recipe.data_format.get(name, 'records')})")
            for note in resolved.notes:
                click.echo(f"# {note}")
            click.echo(yaml.safe_dump({"trl": resolved.trl_kwargs}, sort_keys=True).rstrip())
            click.echo(f"# launch: {format_command(resolved.launch_command)}")
            return
        from train_adapters.run import run, write_resolved_recipe

        write_resolved_recipe(resolved)
        if resolved.launch_command[0] == "accelerate":
            click.echo(f"launching: {format_command(resolved.launch_command)}", err=True)
            raise SystemExit(subprocess.call(resolved.launch_command, env=os.environ.copy()))
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        final = run(resolved)
        click.echo(f"trained model saved to {Path(final)}")

    command.__doc__ = {
        "sft": "Supervised fine-tuning on `messages` records (loss on assistant tokens).",
        "dpo": "Length-normalised DPO on preference records, reference log-probs cached.",
        "grpo": "GRPO with verifiable rewards from verifiers/ on RLVR records.",
    }[stage]
    return cli.command(stage)(command)


for _stage in ("sft", "dpo", "grpo"):
    _stage_command(_stage)
