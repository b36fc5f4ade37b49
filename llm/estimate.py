"""Dry run: what a run would send and roughly cost, before any money is spent."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm.cache import ResponseCache
from llm.pricing import PriceTable
from llm.tokens import estimate_prompt_tokens, expected_output_tokens
from llm.types import Request, Usage


@dataclass
class Estimate:
    requests: int = 0
    cached: int = 0
    to_send: int = 0
    prompt_tokens: int = 0
    max_output_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        cost = (
            "unknown (no price for " + ", ".join(self.unpriced) + ")"
            if self.unpriced
            else f"${self.cost_usd:.4f}"
        )
        return [
            f"requests: {self.requests} ({self.cached} already in the cache, {self.to_send} to send)",
            f"estimated prompt tokens: {self.prompt_tokens:,} (about 4 characters a token)",
            f"output tokens, at most: {self.max_output_tokens:,} (max_tokens, or 256 when unset)",
            f"estimated cost, at most: {cost}",
        ]


def estimate_cost(
    requests: list[Request],
    backend_name: str,
    cache: ResponseCache | None,
    prices: PriceTable,
    batch: bool = False,
    free: bool = False,
) -> Estimate:
    """`free`: in-process backends, which cost compute but no per-token fee."""
    keys = [r.cache_key(backend_name) for r in requests]
    stored = cache.get_many(keys) if cache is not None else {}
    est = Estimate(requests=len(requests))
    seen: set[str] = set()
    for request, key in zip(requests, keys, strict=True):
        if key in stored or key in seen:
            est.cached += key in stored
            continue
        seen.add(key)
        est.to_send += 1
        usage = Usage(estimate_prompt_tokens(request), expected_output_tokens(request))
        est.prompt_tokens += usage.prompt_tokens
        est.max_output_tokens += usage.completion_tokens
        cost = 0.0 if free else prices.cost(request.model, usage, batch=batch)
        if cost is None:
            if request.model not in est.unpriced:
                est.unpriced.append(request.model)
        elif est.cost_usd is not None:
            est.cost_usd += cost
    if est.unpriced:
        est.cost_usd = None
    return est
