"""Dry run: what a run would send and cost, before any money is spent.

Figures labelled "at most" are true upper bounds (one token per prompt byte, and each reply
at its max_tokens, or the backend's default, or the model's own output limit); the
"expected" prompt size uses the usual four characters a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from caravan.llm.cache import ResponseCache
from caravan.llm.pricing import PriceTable, worst_case_cost
from caravan.llm.tokens import estimate_prompt_tokens, output_token_bound, prompt_token_bound
from caravan.llm.types import Request


@dataclass
class Estimate:
    requests: int = 0
    cached: int = 0
    to_send: int = 0
    prompt_tokens: int = 0  # expected
    prompt_tokens_max: int = 0
    max_output_tokens: int | None = 0  # None: some request has no output bound
    cost_usd: float | None = 0.0  # at most; None when unknown
    unpriced: list[str] = field(default_factory=list)
    unbounded: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.unpriced:
            cost = "unknown (no price for " + ", ".join(self.unpriced) + ")"
        elif self.unbounded:
            cost = "unknown (no max_tokens and no known output limit for "
            cost += ", ".join(self.unbounded) + "; set --max-tokens)"
        else:
            cost = f"${self.cost_usd:.4f}"
        output = f"{self.max_output_tokens:,}" if self.max_output_tokens is not None else "unknown"
        return [
            f"requests: {self.requests} ({self.cached} already in the cache, {self.to_send} to send)",
            f"prompt tokens: expected {self.prompt_tokens:,} (about 4 characters a token), "
            f"at most {self.prompt_tokens_max:,}",
            f"output tokens, at most: {output} (max_tokens, else the backend default, "
            "else the model's output limit)",
            f"estimated cost, at most: {cost}",
        ]


def estimate_cost(
    requests: list[Request],
    scope: str,
    cache: ResponseCache | None,
    prices: PriceTable,
    batch: bool = False,
    free: bool = False,
) -> Estimate:
    """`scope` is the cache scope (llm.cache_scope), which starts with the provider.
    `free`: in-process backends, which cost compute but no per-token fee."""
    provider = scope.split("|", 1)[0]
    keys = [r.cache_key(scope) for r in requests]
    stored = cache.get_many(keys) if cache is not None else {}
    est = Estimate(requests=len(requests))
    seen: set[str] = set()
    for request, key in zip(requests, keys, strict=True):
        if key in stored or key in seen:
            est.cached += key in stored
            continue
        seen.add(key)
        est.to_send += 1
        est.prompt_tokens += estimate_prompt_tokens(request)
        est.prompt_tokens_max += prompt_token_bound(request)
        price = prices.price(request.model)
        out = output_token_bound(request, provider, price.max_output if price else None)
        if out is None:
            est.max_output_tokens = None
        elif est.max_output_tokens is not None:
            est.max_output_tokens += out
        if free:
            continue
        if price is None:
            if request.model not in est.unpriced:
                est.unpriced.append(request.model)
            continue
        cost = worst_case_cost(prices, request, provider, batch=batch)
        if cost is None:
            if request.model not in est.unbounded:
                est.unbounded.append(request.model)
        elif est.cost_usd is not None:
            est.cost_usd += cost
    if est.unpriced or est.unbounded:
        est.cost_usd = None
    return est
