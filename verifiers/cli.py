"""`verify` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="verify")
def cli() -> None:
    """Check responses against verifiable ground truth: IFEval constraints, GSM8K, MATH, code.

    The same checkers serve as RLVR rewards and as data filters. This release has no
    verify commands yet (see the README roadmap)."""
