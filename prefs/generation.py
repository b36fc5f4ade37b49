"""Which models answer a prompt, and the request each one sends.

Each prompt gets k distinct pool models drawn with a seed per prompt (plus the policy), so
the draw does not depend on which other prompts are in the run: a resumed or extended run,
or a batch on another worker, draws the same. In-process models sample with a seed per
(prompt, model), so their answers (and cache keys) are reproducible.
"""

from __future__ import annotations

import hashlib

from caravan.llm.types import Request
from caravan.prefs.pool import PoolModel, sample_models
from caravan.prefs.prompts import PromptItem

from caravan.session import IN_PROCESS


def _gen_seed(seed: int, prompt_key: str, model: str) -> int:
    digest = hashlib.sha256(f"{seed}:gen:{prompt_key}:{model}".encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def generation_request(
    item: PromptItem, model: PoolModel, seed: int, max_tokens: int | None
) -> Request:
    params = dict(model.params)
    if max_tokens is not None:
        params.setdefault("max_tokens", max_tokens)
    if model.provider in IN_PROCESS and params.get("temperature", 0) > 0:
        # Seeded sampling makes local/vLLM responses reproducible (and cache keys stable).
        params.setdefault("seed", _gen_seed(seed, item.id, model.name))
    return Request(
        messages=item.prompt, model=model.model, params=params, id=f"{item.id}:{model.name}"
    )


def plan_generation(
    items: list[PromptItem],
    pool: list[PoolModel],
    k: int,
    on_policy: PoolModel | None,
    seed: int,
    max_tokens: int | None,
) -> tuple[list[list[PoolModel]], dict[str, list[tuple[int, Request]]]]:
    """Per prompt, the models that answer it; per model name, its (prompt index, request)."""
    per_prompt: list[list[PoolModel]] = []
    per_model: dict[str, list[tuple[int, Request]]] = {}
    for i, item in enumerate(items):
        models = sample_models(pool, item.id, k, seed)
        if on_policy is not None:
            models = [*models, on_policy]
        per_prompt.append(models)
        for m in models:
            per_model.setdefault(m.name, []).append(
                (i, generation_request(item, m, seed, max_tokens))
            )
    return per_prompt, per_model
