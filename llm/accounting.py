"""What a run did and cost: counts, tokens and dollars per model, retries by cause."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from caravan.llm.types import Response, Usage


@dataclass
class ModelTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_requests: int = 0  # requests whose model has no known price


@dataclass
class RunStats:
    total: int = 0
    ok: int = 0
    failed: int = 0
    cached: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    models: dict[str, ModelTotals] = field(default_factory=dict)

    def spend(self, model: str, usage: Usage, cost: float | None) -> None:
        """Count tokens actually paid for (every reply, parse failures included)."""
        totals = self.models.setdefault(model, ModelTotals())
        totals.requests += 1
        totals.prompt_tokens += usage.prompt_tokens
        totals.completion_tokens += usage.completion_tokens
        if cost is None:
            totals.unpriced_requests += 1
        else:
            totals.cost_usd += cost

    def finish(self, response: Response) -> None:
        if response.cached:
            self.cached += 1
        elif response.ok:
            self.ok += 1
        else:
            self.failed += 1
            self.failures[response.error_kind or "error"] += 1

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.cached

    @property
    def tokens(self) -> int:
        return sum(m.prompt_tokens + m.completion_tokens for m in self.models.values())

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.models.values())

    def summary_lines(self) -> list[str]:
        lines = [
            f"requests: {self.total} total, {self.ok} ok, {self.failed} failed, "
            f"{self.cached} from cache"
        ]
        for model, t in sorted(self.models.items()):
            cost = f"${t.cost_usd:.4f}"
            if t.unpriced_requests:
                cost += f" (+{t.unpriced_requests} calls with no known price)"
            lines.append(
                f"{model}: {t.requests} calls, {t.prompt_tokens} prompt + "
                f"{t.completion_tokens} completion tokens, {cost}"
            )
        if self.retries:
            causes = ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items()))
            lines.append(f"retries: {sum(self.retries.values())} ({causes})")
        else:
            lines.append("retries: 0")
        if self.failures:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items()))
            lines.append(f"failures by kind: {kinds}")
        return lines

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "cached": self.cached,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "retries": dict(self.retries),
            "failures": dict(self.failures),
        }
