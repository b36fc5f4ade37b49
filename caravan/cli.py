"""`caravan`: every command group under one entry point, plus `caravan run PIPELINE.yaml`."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import click

from caravan.cli_support import CaravanGroup, group
from caravan.options import dataclass_options
from caravan.session import LLMSettings

# name -> (module, attribute, one-line help): groups load only when used, so --help is fast.
SUBCOMMANDS = {
    "synth": ("caravan.synth.cli", "cli", "Persona-driven synthesis of verifiable prompts and answers."),
    "prefs": ("caravan.prefs.cli", "cli", "On-policy preference pairs with an LLM judge."),
    "decontam": ("caravan.decontam.cli", "cli", "8-gram decontamination against eval sets."),
    "verify": ("caravan.verifiers.cli", "cli", "Verifiers: score responses, build RLVR sets."),
    "train": ("caravan.train_adapters.cli", "cli", "Train with TRL from a recipe."),
    "records": ("caravan.records.cli", "cli", "Validate, convert and inspect record files."),
}


class LazyGroup(CaravanGroup):
    """Subcommand groups imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *SUBCOMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> Any:
        if name in SUBCOMMANDS:
            module, attr, _ = SUBCOMMANDS[name]
            return getattr(import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, SUBCOMMANDS[n][2]) for n in sorted(SUBCOMMANDS)]
        rows += [(n, c.get_short_help_str(60)) for n, c in sorted(self.commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@group(name="caravan", cls=LazyGroup)
@click.version_option(package_name="caravan-posttrain", prog_name="caravan")  # read on use
def cli() -> None:
    """Caravan: post-training data the Tülu 3 way, from synthesis to trainer.

    Each group is also installed as its own command (`synth`, `prefs`, `decontam`,
    `verify`, `train`).
    """


def _vars(items: tuple[str, ...]) -> dict[str, Any]:
    from caravan.errors import CaravanError
    from caravan.yaml_config import load_yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CaravanError(f"--var {item!r}: expected NAME=VALUE")
        out[key.strip()] = load_yaml(value) if value else ""
    return out


@cli.command("run")
@click.argument("pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--var", "var", multiple=True, help="NAME=VALUE for `{NAME}` in the file.")
@click.option("--dry-run", is_flag=True, help="Estimate every model step's cost; send nothing.")
@click.option("--max-cost", type=float, default=None, help="Stop once fresh calls cost more (USD).")
@click.option("--no-resume", is_flag=True, help="Ignore the journal of finished batches.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where the stages run: this process, or a Ray cluster.")
@click.option("--ray-address", default=None, envvar="RAY_ADDRESS",
              help="Ray cluster to use with --executor ray (default: $RAY_ADDRESS, else a "
              "local Ray).")  # fmt: skip
@click.option("--ray-workers", type=click.IntRange(min=1), default=None,
              help="Actors per stage with --executor ray (default: the cluster's CPUs).")
@dataclass_options(LLMSettings, prefix="llm-")
@click.pass_context
def run_cmd(ctx: click.Context, pipeline: Path, var: tuple[str, ...], dry_run: bool,
            max_cost: float | None, no_resume: bool, executor: str, ray_address: str | None,
            ray_workers: int | None, **opts: Any) -> None:  # fmt: skip
    """Run a pipeline file: its stages in order, resumable, with one provenance record.

    `--llm-*` options override the settings of every model in the file when given.
    """
    from click.core import ParameterSource

    from caravan.pipeline import load_pipeline, run_pipeline

    given = {
        k.removeprefix("llm_"): v
        for k, v in opts.items()
        if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE
    }
    pipe = load_pipeline(pipeline, _vars(var), given)
    report = run_pipeline(
        pipe, dry_run=dry_run, max_cost=max_cost, progress=given.get("progress", True),
        resume=not no_resume, log=lambda line: click.echo(line, err=True),
        executor="local" if dry_run else executor, ray_address=ray_address,
        ray_workers=ray_workers,
    )  # fmt: skip
    if dry_run:
        for line in report.dry_run:
            click.echo(line)
        click.echo(f"estimated cost of the model steps, at most: ${report.cost_usd:.4f}")
        if max_cost is not None and report.cost_usd > max_cost:
            click.echo(f"warning: that is more than --max-cost ${max_cost:.4f}; a run stops "
                       "once fresh calls pass it (finished batches are kept)")  # fmt: skip
    else:
        click.echo(f"done: {len(report.outputs)} files in {pipe.output} "
                   f"(fresh calls cost ${report.cost_usd:.4f}); record: {pipe.output / 'run.json'}")  # fmt: skip
