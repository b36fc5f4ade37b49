"""`prefs` command group."""

from __future__ import annotations

from caravan.cli_support import group


@group(name="prefs")
def cli() -> None:
    """Build on-policy preference data: pool responses rated by an LLM judge.

    Several pool models and the policy answer each prompt; a judge rates every response
    on helpfulness, instruction following, honesty and truthfulness; ratings become
    chosen/rejected pairs for DPO. This release has no prefs commands yet (see the
    README roadmap)."""
