"""Where an in-process model (`provider: local` or `vllm`) runs on a Ray cluster.

A pool YAML entry or a pipeline's `llms:` entry may carry a `ray:` mapping:

    ray: {num_gpus: 1, replicas: 2, num_cpus: 1}

`num_gpus` and `num_cpus` are what each engine replica (one Ray actor holding the model)
asks the scheduler for; `replicas` is how many copies serve the stage workers. Locally the
mapping is ignored. Kept apart from Ray itself: reading a config never imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caravan.errors import CaravanError
from caravan.session import IN_PROCESS

KEYS = ("num_gpus", "num_cpus", "replicas")


@dataclass(frozen=True)
class Placement:
    """Resources per engine replica and the number of replicas. `num_gpus` None means the
    provider's default (see `engine_resources`)."""

    num_gpus: float | None = None
    num_cpus: float = 1.0
    replicas: int = 1


def parse_placement(raw: Any, where: str, provider: str) -> Placement:
    """A `ray:` mapping, checked; errors name `where` (the file and entry)."""
    if provider not in IN_PROCESS:
        raise CaravanError(
            f"{where}: `ray` places in-process models (provider {' or '.join(IN_PROCESS)}); "
            f"provider {provider!r} is called over the network from every worker"
        )
    if isinstance(raw, Placement):
        return raw
    if not isinstance(raw, dict):
        raise CaravanError(f"{where}: `ray` must be a mapping like {{num_gpus: 1, replicas: 2}}")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise CaravanError(
            f"{where}: unknown key(s) in `ray`: {', '.join(unknown)}; allowed: {', '.join(KEYS)}"
        )
    values: dict[str, Any] = {}
    for key in KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CaravanError(f"{where}: `ray.{key}` must be a number >= 0, got {value!r}")
        values[key] = value
    replicas = values.get("replicas", 1)
    if replicas != int(replicas) or replicas < 1:
        raise CaravanError(f"{where}: `ray.replicas` must be a whole number >= 1, got {replicas}")
    return Placement(
        num_gpus=values.get("num_gpus"),
        num_cpus=float(values.get("num_cpus", 1.0)),
        replicas=int(replicas),
    )


def engine_resources(
    provider: str, options: dict[str, Any], placement: Placement | None
) -> dict[str, float]:
    """What one engine replica asks Ray for. Without `num_gpus`: vLLM takes one GPU, or
    `tensor_parallel_size` of them; the local backend takes one when its `device` is CUDA
    and none on CPU."""
    placement = placement or Placement()
    gpus = placement.num_gpus
    if gpus is None:
        if provider == "vllm":
            gpus = float(options.get("tensor_parallel_size") or 1)
        else:
            gpus = 1.0 if str(options.get("device") or "cpu").startswith("cuda") else 0.0
    return {"num_gpus": float(gpus), "num_cpus": float(placement.num_cpus)}
