"""`train` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="train")
def cli() -> None:
    """Train on Caravan datasets with TRL: SFT, DPO and GRPO with Tülu 3 recipes.

    Needs the train extra (pip install 'caravan[train]'). This release has no train
    commands yet (see the README roadmap)."""
