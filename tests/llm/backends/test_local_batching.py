"""The engine gives the real LocalBackend whole batches: `--concurrency` is the batch size."""

from __future__ import annotations

import pytest
from caravan.llm import complete
from caravan.llm.backends.local import LocalBackend

pytest.importorskip("transformers")


@pytest.fixture
def batch_sizes(monkeypatch):
    sizes: list[int] = []
    real = LocalBackend._generate

    def recording(self, rows):
        sizes.append(len(rows))
        return real(self, rows)

    monkeypatch.setattr(LocalBackend, "_generate", recording)
    return sizes


def test_concurrency_is_the_generation_batch_size(tiny_model_dir, batch_sizes, tmp_path):
    prompts = [f"Explain number {i}." for i in range(10)]
    out = complete(
        prompts, str(tiny_model_dir), provider="local", concurrency=4, cache=False,
        params={"max_tokens": 4}, progress=False,
    )  # fmt: skip
    assert all(r.ok for r in out) and len(out) == 10
    assert batch_sizes == [4, 4, 2]


def test_explicit_max_batch_size_still_splits(tiny_model_dir, batch_sizes):
    prompts = [f"Explain number {i}." for i in range(6)]
    complete(
        prompts, str(tiny_model_dir), provider="local", concurrency=6, cache=False,
        params={"max_tokens": 4}, progress=False, backend_options={"max_batch_size": 4},
    )  # fmt: skip
    assert batch_sizes == [4, 2]
