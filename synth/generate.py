"""The decisions of `synth generate` (run by the `Generate` stage): personas in, one
verifiable prompt per persona out.

Tasks: `if` (precise instruction following with sampled, checkable constraints), `math`,
`gsm`, `algebra`, `code`, `instruction`. IF prompts are checked to state every sampled
constraint's parameters and regenerated (new seed) up to `max_attempts` times; prompts that
still fail, came back truncated or empty are rejected with their reason.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.llm.types import Response
from caravan.synth.calls import RequestMaker, clean_text
from caravan.synth.models import ModelChoice
from caravan.synth.personas import Persona
from caravan.synth.tasks import TASKS
from caravan.synth.templates import Template

from caravan.errors import CaravanError


@dataclass
class GenerateConfig:
    """The decision settings of one generation step (the `Generate` stage builds it)."""

    task: str
    choice: ModelChoice  # recorded on every row
    seed: int = 0
    template: Path | None = None
    min_constraints: int = 1
    max_constraints: int = 3
    constraint_ids: list[str] | None = None
    max_attempts: int = 3
    temperature: float = 0.7  # Tülu 3's generation settings
    top_p: float = 0.95
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise CaravanError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.max_attempts < 1:
            raise CaravanError("max attempts must be at least 1")

    def params(self, item_seed: int, attempt: int) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": (item_seed + attempt) % 2**31,
        }


def item_seed(seed: int, key: str) -> int:
    """A per-item seed from the run seed and the persona id (stable across runs)."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16)


@dataclass
class Item:
    persona: Persona
    seed: int
    prompt_text: str  # what we send
    constraints: list[Any] = field(default_factory=list)  # SampledConstraint for `if`
    attempts: int = 0
    response: Response | None = None
    result: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.persona.id


def build_items(cfg: GenerateConfig, template: Template, personas: list[Persona]) -> list[Item]:
    from caravan.verifiers.ifeval import sample_constraints

    items = []
    for p in personas:
        s = item_seed(cfg.seed, p.id)
        constraints: list[Any] = []
        values = {"persona": p.text}
        if cfg.task == "if":
            constraints = sample_constraints(
                random.Random(s), cfg.min_constraints, cfg.max_constraints, cfg.constraint_ids
            )
            values["constraints"] = "\n".join(f"- {c.description}" for c in constraints)
        items.append(Item(p, s, template.render(**values), constraints))
    return items


def judge(cfg: GenerateConfig, item: Item, response: Response) -> tuple[str | None, list[str]]:
    """(accepted prompt text, []) or (None, reasons)."""
    if not response.ok:
        return None, [f"request failed ({response.error_kind}): {response.error}"]
    text = clean_text(response.text)
    if not text:
        return None, ["empty prompt"]
    if response.finish_reason == "length":
        return None, [f"truncated at max_tokens={cfg.max_tokens}"]
    if cfg.task == "if":
        from caravan.synth.if_statement import missing_statements  # IFEval machinery: load on use

        problems = missing_statements(
            text, [c.instruction_id for c in item.constraints], [c.kwargs for c in item.constraints]
        )
        if problems:
            return None, problems
    return text, []


def rejection_reason(problems: list[str]) -> str:
    first = problems[0]
    if first.startswith("request failed"):
        return "request failed"
    if first.startswith("truncated"):
        return "truncated"
    if first == "empty prompt":
        return "empty prompt"
    return "constraints not stated in prompt"


def requests_for(caller: RequestMaker, cfg: GenerateConfig, items: list[Item]) -> list[Any]:
    return [
        caller.request(
            f"{cfg.task}-{it.id}-a{it.attempts}",
            [{"role": "user", "content": it.prompt_text}],
            cfg.params(it.seed, it.attempts),
        )
        for it in items
    ]


def judge_round(cfg: GenerateConfig, pending: list[Item], responses: list[Response]) -> list[Item]:
    """Judge one round's responses; the items worth another attempt."""
    retry = []
    for it, response in zip(pending, responses, strict=True):
        it.response = response
        it.result, it.problems = judge(cfg, it, response)
        if worth_retry(cfg, it, response):
            retry.append(it)
    return retry


def worth_retry(cfg: GenerateConfig, it: Item, response: Response) -> bool:
    """Only a prompt that failed the statement check is worth another draw."""
    return (
        it.result is None
        and cfg.task == "if"
        and response.ok
        and bool(it.problems)
        and rejection_reason(it.problems) == "constraints not stated in prompt"
    )


def output_row(cfg: GenerateConfig, template: Template, it: Item) -> dict[str, Any]:
    """The row for an accepted prompt (RLVR-shaped for `if`)."""
    row = {
        "id": f"{cfg.task}-{it.id}",
        "persona_id": it.id,
        "persona": it.persona.text,
        "task": cfg.task,
        "prompt": it.result,
        "messages": [{"role": "user", "content": it.result}],
        "template": template.name,
        "template_sha256": template.sha256,
        "model": cfg.choice.model,
        "provider": cfg.choice.provider,
        "draws": it.attempts + 1,
        "ground_truth": None,
        "dataset": None,
        "constraint_type": None,
        "constraint": None,
    }
    if cfg.task == "if":
        from caravan.verifiers.ifeval import render_instructions, to_ground_truth

        row["ground_truth"] = to_ground_truth(it.constraints)
        row["dataset"] = "ifeval"
        row["constraint_type"] = ", ".join(c.instruction_id for c in it.constraints)
        row["constraint"] = render_instructions(it.constraints)
    return row
