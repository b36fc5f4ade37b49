"""`synth` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="synth")
def cli() -> None:
    """Persona-driven synthesis of verifiable prompts and their solutions.

    From one-sentence personas, a strong model writes precise instruction-following
    prompts with machine-checkable constraints, math, grade-school, algebra and code
    problems, then solves them (`generate`, `solve`), builds persona-IF preference pairs
    (`relax`) and removes near-duplicate prompts (`dedup`). `complete` answers a file of
    prompts with any model."""


def _register() -> None:
    from caravan.synth.cli_complete import complete
    from caravan.synth.cli_generate import generate
    from caravan.synth.cli_solve import dedup, relax, solve

    for command in (generate, solve, relax, dedup, complete):
        cli.add_command(command)


_register()
