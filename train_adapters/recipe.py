"""Recipes: typed, YAML-loadable training configs with CLI `key=value` overrides.

A recipe holds what the paper fixed (hyperparameters, data mix, loss choices) in one file.
`trl:` keys go straight to TRL's SFTConfig / DPOConfig / GRPOConfig and are checked against
that class's fields, so a typo fails before any model loads.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caravan.errors import CaravanError
from caravan.yaml_config import load_yaml

Stage = Literal["sft", "dpo", "grpo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


TemplateChoice = Literal["auto", "tulu", "model"]


class SFTOptions(_Strict):
    # "sum": loss summed over assistant tokens (Tülu 3's best setting with lr 5e-6); its
    # gradient norm grows with the batch's token count, so a sum-loss recipe must set
    # trl.max_grad_norm itself. "mean": the transformers default (token mean); users reported
    # regressions reproducing Tülu with it.
    loss_reduction: Literal["sum", "mean"] = "sum"
    # auto: the checkpoint's own chat template when it has one, else Tülu's; tulu: always ours;
    # model: the checkpoint's (must exist).
    chat_template: TemplateChoice = "auto"
    # Add <|system|> <|user|> <|assistant|> as new special tokens (and resize the embeddings)
    # when the tokenizer lacks them. Off: they stay plain text, the vocabulary is untouched.
    add_role_tokens: bool = False


class DPOOptions(_Strict):
    chat_template: TemplateChoice = "auto"
    add_role_tokens: bool = False
    # Keep precomputed reference log-probs on disk, keyed by weights, data and loss settings.
    cache_reference_log_probs: bool = True
    cache_dir: str | None = None  # default: caravan.cache_root.cache_dir("dpo-ref-logps")


class GRPOOptions(_Strict):
    prompts_per_step: int = Field(default=48, gt=0)
    mini_batches: int = Field(default=1, gt=0)
    reward_value: float = 10.0  # reward for a verified answer (Tülu 3.1: 10, DeepScaleR: 1)
    truncated_penalty: float | None = None  # reward for a completion without EOS; None: as scored
    strict: bool = False  # malformed thinking -> no reward (None), seed 002
    # The chat template opens <think> in the generation prompt (R1-Distill templates): the
    # completion starts inside the block and must close it exactly once.
    think_in_prompt: bool = False
    reward_model: str | None = None  # optional RM, scored on the answer with thinking stripped
    reward_model_weight: float = 1.0
    max_prompt_length: int | None = Field(default=None, gt=0)


class LaunchOptions(_Strict):
    accelerate_config: str = "fsdp2-8gpu"
    num_processes: int = Field(default=8, gt=0)
    num_machines: int = Field(default=1, gt=0)


class Recipe(_Strict):
    """One training run's settings. Unknown keys are errors, not silently ignored."""

    name: str
    stage: Stage
    description: str = ""
    model: str
    data: dict[str, float] = Field(default_factory=dict)
    data_format: dict[str, str] = Field(default_factory=dict)
    effective_batch_size: int | None = Field(default=None, gt=0)
    output_dir: str | None = None
    sft: SFTOptions = Field(default_factory=SFTOptions)
    dpo: DPOOptions = Field(default_factory=DPOOptions)
    grpo: GRPOOptions = Field(default_factory=GRPOOptions)
    trl: dict[str, Any] = Field(default_factory=dict)
    launch: LaunchOptions = Field(default_factory=LaunchOptions)

    @field_validator("data")
    @classmethod
    def _mix_values(cls, mix: dict[str, float]) -> dict[str, float]:
        for name, value in mix.items():
            if value <= 0 or (value > 1 and float(value) != int(value)):
                raise ValueError(
                    f"data[{name!r}] = {value}: use a fraction in (0, 1] or a whole row count"
                )
        return mix


def shipped_recipes() -> list[str]:
    """Names of the recipes that ship with Caravan."""
    folder = resources.files("caravan.train_adapters") / "recipes"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _recipe_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8"), str(path)
    if name_or_path in shipped_recipes():
        res = resources.files("caravan.train_adapters") / "recipes" / f"{name_or_path}.yaml"
        return res.read_text(encoding="utf-8"), f"recipe {name_or_path}"
    raise CaravanError(
        f"no recipe file or shipped recipe named {name_or_path!r}; "
        f"shipped: {', '.join(shipped_recipes())}"
    )


def parse_override(item: str) -> tuple[list[str], Any]:
    """`trl.learning_rate=1e-6` -> (["trl", "learning_rate"], 1e-06); values parse as YAML."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise CaravanError(f"override {item!r} must look like key=value (e.g. trl.beta=0.1)")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise CaravanError(f"override {item!r}: value is not valid YAML: {exc}") from exc
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise CaravanError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> Recipe:
    """Load a shipped recipe by name or a YAML file, apply overrides, validate."""
    text, label = _recipe_text(name_or_path)
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise CaravanError(f"{label}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CaravanError(f"{label}: a recipe is a YAML mapping")
    data = apply_overrides(data, overrides or [])
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise CaravanError(f"{label}: {problems}") from exc
