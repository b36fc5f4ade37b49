"""`synth` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="synth")
def cli() -> None:
    """Persona-driven synthesis of verifiable prompts and their solutions.

    From one-sentence personas, a strong model writes precise instruction-following
    prompts with machine-checkable constraints, math, grade-school, algebra and code
    problems, then solves them. This release has no synth commands yet: generate,
    solve and relax are on the roadmap in the README."""
