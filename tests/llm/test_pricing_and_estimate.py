"""Prices, overrides, and the dry-run estimate."""

from __future__ import annotations

import pytest

from caravan.errors import CaravanError
from llm.accounting import RunStats
from llm.cache import ResponseCache
from llm.estimate import estimate_cost
from llm.pricing import PriceTable
from llm.types import Request, Response, Usage


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
    assert est.cost_usd == pytest.approx((105 * 0.15 + 100 * 0.6) / 1e6)


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
