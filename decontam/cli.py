"""`decontam` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="decontam")
def cli() -> None:
    """Find and remove eval-set contamination in training data (8-gram, Tülu 3 rule).

    An eval instance is overlapped when more than half its tokens lie in 8-grams shared
    with one training instance; a dataset is contaminated when it overlaps more than 2%
    of an eval set. This release has no decontam commands yet (see the README roadmap)."""
