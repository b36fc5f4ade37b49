"""Prices, overrides, and the dry-run estimate."""

from __future__ import annotations

import pytest
from caravan.llm.accounting import RunStats
from caravan.llm.cache import ResponseCache
from caravan.llm.estimate import estimate_cost
from caravan.llm.pricing import PriceTable
from caravan.llm.types import Request, Response, Usage

from caravan.errors import CaravanError


def test_known_snapshot_and_unknown_models():
    table = PriceTable()
    usage = Usage(1_000_000, 1_000_000)
    assert table.cost("gpt-4o-mini", usage) == pytest.approx(0.75)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)
    assert table.cost("gpt-4o-mini", usage, batch=True) == pytest.approx(0.375)
    assert table.cost("gpt-5.4-mini", usage) is None  # no guessing from a prefix
    assert table.cost("my-model", usage) is None


def test_yaml_override(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("my-model: {input: 1, output: 2}\ngpt-4o-mini: {input: 0, output: 0}\n")
    table = PriceTable(path)
    assert table.cost("my-model", Usage(1_000_000, 500_000)) == pytest.approx(2.0)
    assert table.cost("gpt-4o-mini", Usage(10, 10)) == 0


def test_bad_price_file_names_itself(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("m: {input: 1}\n")
    with pytest.raises(CaravanError, match="p.yaml.*`input` and `output`"):
        PriceTable(path)


def test_estimate_skips_cached_and_counts_duplicates_once(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    reqs = [
        Request(
            [{"role": "user", "content": "x" * 400}], "gpt-4o-mini", {"max_tokens": 100}, id=str(i)
        )
        for i in range(3)
    ] + [Request([{"role": "user", "content": "other"}], "gpt-4o-mini", {"max_tokens": 100})]
    cache.put_many(
        [(reqs[3].cache_key("openai"), "openai", "gpt-4o-mini", Response("3", text="t"))]
    )
    est = estimate_cost(reqs, "openai", cache, PriceTable())
    assert (est.requests, est.cached, est.to_send) == (4, 1, 1)
    assert est.prompt_tokens == 105 and est.max_output_tokens == 100
    bound = 400 + 2 * 16  # one token per byte, plus chat overhead: an upper bound
    assert est.prompt_tokens_max == bound
    assert est.cost_usd == pytest.approx((bound * 0.15 + 100 * 0.6) / 1e6)


@pytest.mark.parametrize(
    ("provider", "model", "output_bound"),
    [("openai", "gpt-4o", 16384), ("anthropic", "claude-haiku-4-5", 1024), ("local", "m", 512)],
)
def test_at_most_uses_the_real_output_limit_when_max_tokens_is_unset(provider, model, output_bound):
    """A judge call without --max-tokens can write up to the model's limit (OpenAI) or the
    backend's default (Anthropic 1024, local 512), not 256."""
    req = Request([{"role": "user", "content": "judge this"}], model)
    est = estimate_cost([req], provider, None, PriceTable(), free=provider == "local")
    assert est.max_output_tokens == output_bound
    text = "\n".join(est.lines())
    assert f"output tokens, at most: {output_bound:,}" in text
    price = PriceTable().price(model)
    if price is not None:
        worst = (est.prompt_tokens_max * price.input + output_bound * price.output) / 1e6
        assert est.cost_usd == pytest.approx(worst)


def test_at_most_is_unknown_without_any_output_limit(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("my-model: {input: 1, output: 2}\n")
    req = Request([{"role": "user", "content": "hi"}], "my-model")
    est = estimate_cost([req], "openai|http://h/v1", None, PriceTable(path))
    assert est.cost_usd is None and "set --max-tokens" in est.lines()[-1]


def test_summary_lines_report_retries_by_cause_and_unpriced():
    stats = RunStats(total=3)
    stats.spend("gpt-4o-mini", Usage(10, 5), 0.001)
    stats.spend("mystery", Usage(1, 1), None)
    stats.finish(Response("a", text="x"))
    stats.finish(Response("b", error="boom", error_kind="server"))
    stats.finish(Response("c", text="x", cached=True))
    stats.retries.update({"rate_limit": 2, "timeout": 1})
    text = "\n".join(stats.summary_lines())
    assert "3 total, 1 ok, 1 failed, 1 from cache" in text
    assert "retries: 3 (rate_limit 2, timeout 1)" in text
    assert "mystery: 1 calls" in text and "no known price" in text
    assert "failures by kind: server 1" in text


def test_worst_case_of_a_free_self_hosted_model_is_zero(tmp_path):
    from caravan.llm.pricing import worst_case_cost

    path = tmp_path / "p.yaml"
    path.write_text("my-finetune: {input: 0, output: 0}\n")
    req = Request([{"role": "user", "content": "hi"}], "my-finetune")
    assert worst_case_cost(PriceTable(path), req, "openai") == 0.0
    assert worst_case_cost(PriceTable(), req, "openai") is None  # no price: unknown
