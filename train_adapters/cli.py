"""`train`: SFT, DPO and GRPO on Caravan records with TRL and the Tülu 3 recipes."""

from __future__ import annotations

import click
from caravan.train_adapters.resume import RESUME_MODES  # light: hashlib and json only

from caravan.cli_support import group


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
        from caravan.train_adapters.entry import dry_run_lines, launch, prepare

        extra = list(overrides)
        if model:
            extra.append(f"model={model}")
        resolved = prepare(stage, recipe_name, extra, list(data), output_dir)
        if dry_run:
            for line in dry_run_lines(resolved):
                click.echo(line)
            return
        final = launch(resolved, resume, say=lambda line: click.echo(line, err=True))
        click.echo(f"trained model saved to {final}")

    command.__doc__ = {
        "sft": "Supervised fine-tuning on `messages` records (loss on assistant tokens).",
        "dpo": "Length-normalised DPO on preference records, reference log-probs cached.",
        "grpo": "GRPO with verifiable rewards from verifiers/ on RLVR records.",
    }[stage]
    return cli.command(stage)(command)


for _stage in ("sft", "dpo", "grpo"):
    _stage_command(_stage)
