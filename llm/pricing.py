"""Token prices per model, from the packaged table plus any user YAML override."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from caravan.llm.tokens import output_token_bound, prompt_token_bound
from caravan.llm.types import Request, Usage

from caravan.errors import CaravanError

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_DEFAULT = Path(__file__).with_name("prices.yaml")
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens
    max_output: int | None = None  # most completion tokens one reply can hold


def _read(path: Path) -> dict[str, Price]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CaravanError(f"{path}: cannot read the price table: {exc}") from exc
    if not isinstance(data, dict):
        raise CaravanError(f"{path}: the price table must map model names to prices")
    table = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
            raise CaravanError(f"{path}: price for {model!r} needs `input` and `output`")
        try:
            cap = entry.get("max_output")
            table[str(model)] = Price(
                float(entry["input"]), float(entry["output"]), int(cap) if cap else None
            )
        except (TypeError, ValueError) as exc:
            raise CaravanError(f"{path}: price for {model!r} is not a number") from exc
    return table


class PriceTable:
    """Look up a model's price; a dated snapshot ("gpt-4o-2024-08-06") falls back to its
    base name. Unknown models cost None, not zero."""

    def __init__(self, override: str | Path | None = None) -> None:
        self.prices = _read(_DEFAULT)
        if override is not None:
            path = Path(override)
            if not path.is_file():
                raise CaravanError(f"{path}: no such price table")
            self.prices.update(_read(path))

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        base = _SNAPSHOT.sub("", model)
        return self.prices.get(base)

    def cost(self, model: str, usage: Usage, batch: bool = False) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        usd = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6
        return usd * (BATCH_DISCOUNT if batch else 1.0)


def worst_case_cost(
    prices: PriceTable, request: Request, provider: str, batch: bool = False
) -> float | None:
    """The most `request` can cost (None: unknown price, or nothing bounds its output)."""
    price = prices.price(request.model)
    if price is None:
        return None
    output = output_token_bound(request, provider, price.max_output)
    if output is None:
        if price.output:
            return None
        output = 0  # free output (a self-hosted server priced at 0): no bound needed
    return prices.cost(request.model, Usage(prompt_token_bound(request), output), batch=batch)
