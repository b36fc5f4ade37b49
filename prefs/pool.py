"""The model pool: which models answer prompts, through which backend, with what settings.

pool.yaml is a list of models (or a mapping with `models:` and optional `defaults:`):

    defaults: {params: {temperature: 1.0, top_p: 1.0, max_tokens: 2048}}
    models:
      - {name: gpt-4o-mini, provider: openai, model: gpt-4o-mini}
      - {name: llama-8b, provider: openai, model: meta-llama/Llama-3.1-8B-Instruct,
         base_url: http://gpu-1:8000/v1}
      - {name: tiny, provider: local, model: /models/tiny, options: {max_batch_size: 8}}
      - {name: qwen-7b, provider: vllm, model: Qwen/Qwen2.5-7B-Instruct,
         ray: {num_gpus: 1, replicas: 2}}     # on Ray: 2 engine actors of 1 GPU each

Each prompt gets k distinct pool models, drawn with a seed per prompt, so the draw does not
depend on which other prompts are in the run (a resumed or extended run draws the same).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caravan.llm.backends import PROVIDERS

from caravan.errors import CaravanError
from caravan.placement import Placement, parse_placement
from caravan.yaml_config import read_yaml_file

if TYPE_CHECKING:
    from caravan.cli_run import CallArgs
    from caravan.session import LLM

# Tülu 3 sampled pool responses at temperature 1, top_p 1.
DEFAULT_PARAMS: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0}
_KEYS = {"name", "provider", "model", "base_url", "params", "options", "ray"}


@dataclass(frozen=True)
class PoolModel:
    """One model that answers prompts. `options` go to the backend's constructor;
    `placement` (the entry's `ray:`) places an in-process model's engines on a Ray cluster
    (pass it on as `LLM(..., placement=m.placement)`)."""

    name: str
    model: str
    provider: str = "openai"
    base_url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    origin: str = "pool"  # "pool" or "on-policy"
    placement: Placement | None = None


def _entry(raw: Any, where: str, defaults: dict[str, Any]) -> PoolModel:
    if isinstance(raw, str):
        raw = {"model": raw}
    if not isinstance(raw, dict):
        raise CaravanError(f"{where}: each pool entry must be a mapping, got {raw!r}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise CaravanError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    if not raw.get("model"):
        raise CaravanError(f"{where}: `model` is required")
    provider = str(raw.get("provider", defaults.get("provider", "openai")))
    if provider not in PROVIDERS:
        raise CaravanError(f"{where}: unknown provider {provider!r}; choose {', '.join(PROVIDERS)}")
    params = {**DEFAULT_PARAMS, **defaults.get("params", {}), **(raw.get("params") or {})}
    options = {**defaults.get("options", {}), **(raw.get("options") or {})}
    if not isinstance(params, dict) or not isinstance(options, dict):
        raise CaravanError(f"{where}: `params` and `options` must be mappings")
    return PoolModel(
        name=str(raw.get("name") or raw["model"]),
        model=str(raw["model"]),
        provider=provider,
        base_url=raw.get("base_url") or defaults.get("base_url"),
        params=params,
        options=options,
        placement=_placement(raw.get("ray"), f"{where} ray", provider),
    )


def _placement(raw: Any, where: str, provider: str) -> Placement | None:
    return None if raw is None else parse_placement(raw, where, provider)


def parse_pool(data: Any, source: str = "<pool>") -> list[PoolModel]:
    defaults: dict[str, Any] = {}
    if isinstance(data, dict):
        defaults = data.get("defaults") or {}
        data = data.get("models")
    if not isinstance(data, list) or not data:
        raise CaravanError(f"{source}: expected a non-empty list of models (or `models:` list)")
    models = [_entry(raw, f"{source} entry {i}", defaults) for i, raw in enumerate(data)]
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CaravanError(f"{source}: model names must be unique; repeated: {', '.join(dupes)}")
    return models


def load_pool(path: str | Path) -> list[PoolModel]:
    _, data = read_yaml_file(path, "pool file")
    return parse_pool(data, str(path))


def sample_models(pool: list[PoolModel], prompt_key: str, k: int, seed: int) -> list[PoolModel]:
    """k distinct models for one prompt; the same (seed, prompt) always draws the same."""
    if k < 1:
        raise CaravanError(f"k must be at least 1, got {k}")
    if k > len(pool):
        raise CaravanError(f"k={k} models per prompt, but the pool holds only {len(pool)}")
    return random.Random(f"{seed}:pool:{prompt_key}").sample(pool, k)


def on_policy_model(
    model: str,
    provider: str | None = None,
    base_url: str | None = None,
    params: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> PoolModel:
    """The policy being trained: a local path (transformers or vLLM offline) or a server."""
    if provider is None:
        provider = "openai" if base_url else "local"
    if provider not in PROVIDERS:
        raise CaravanError(f"--on-policy-provider: unknown provider {provider!r}")
    if provider in ("local", "vllm"):
        from caravan.hub import check_exists

        check_exists(model, "--on-policy model folder")  # a typo must not go to the hub
    return PoolModel(
        name=policy_name(model, provider),
        model=model,
        provider=provider,
        base_url=base_url,
        params={**DEFAULT_PARAMS, **(params or {})},
        options=dict(options or {}),
        origin="on-policy",
    )


def policy_name(model: str, provider: str) -> str:
    """`policy:<folder>` for a local policy, `policy:<served name>` for one on a server."""
    label = Path(model).name if provider in ("local", "vllm") else model
    return f"policy:{label}"


def pool_session(m: PoolModel, calls: CallArgs) -> LLM:
    """The LLM session of one pool model (or the policy): provider, endpoint, sampling
    params, backend options and Ray engine placement from the pool file; call settings and the one guard (so
    --max-cost covers every model) from the command. Only the judge uses the Batch API."""
    llm = calls.session(
        m.model, m.provider, m.base_url, batch=False, placement=m.placement, **m.params
    )
    llm.backend_options.update(m.options)
    return llm
