"""`synth generate`: personas in, one verifiable prompt per persona out.

Tasks: `if` (precise instruction following with sampled, checkable constraints), `math`,
`gsm`, `algebra`, `code`, `instruction`. IF prompts are checked to state every sampled
constraint's parameters and regenerated (new seed) up to `max_attempts` times; rows that
still fail, came back truncated or empty, or duplicate another prompt go to the side file
with their reason.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.llm.types import Response
from caravan.synth.calls import (
    Caller,
    CallSettings,
    RequestMaker,
    clean_text,
    estimate_lines,
)
from caravan.synth.dedup import DedupConfig, dedup_texts
from caravan.synth.models import ModelChoice
from caravan.synth.personas import Persona, load_personas, sample_personas
from caravan.synth.rejections import side_path, write_rejections
from caravan.synth.tasks import TASKS
from caravan.synth.templates import Template, load_template

from caravan.errors import CaravanError
from caravan.secrets import public_url


@dataclass
class GenerateConfig:
    personas: str
    task: str
    output: Path
    choice: ModelChoice
    n: int | None = None
    seed: int = 0
    persona_field: str = "persona"
    persona_id_field: str = "id"
    persona_split: str | None = None
    persona_config: str | None = None  # hub dataset config, e.g. "persona" for PersonaHub
    template: Path | None = None
    min_constraints: int = 1
    max_constraints: int = 3
    constraint_ids: list[str] | None = None
    max_attempts: int = 3
    temperature: float = 0.7  # Tülu 3's generation settings
    top_p: float = 0.95
    max_tokens: int = 1024
    dedup: bool = True
    dedup_config: DedupConfig = field(default_factory=DedupConfig)
    rejected: Path | None = None
    calls: CallSettings = field(default_factory=CallSettings)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise CaravanError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.max_attempts < 1:
            raise CaravanError("max attempts must be at least 1")
        if self.n is not None and self.n < 1:
            raise CaravanError("-n must be at least 1")

    def provenance_config(self, template: Template) -> dict[str, Any]:
        return {
            "task": self.task,
            "model": self.choice.model,
            "provider": self.choice.provider,
            "base_url": self.choice.base_url and public_url(self.choice.base_url),
            "n": self.n,
            "seed": self.seed,
            "template": template.name,
            "template_sha256": template.sha256,
            "constraints": [self.min_constraints, self.max_constraints],
            "constraint_ids": self.constraint_ids,
            "max_attempts": self.max_attempts,
            "params": self.params(0, 0),
            "dedup": self.dedup and vars(self.dedup_config),
        }

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


def _reason(problems: list[str]) -> str:
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
        and _reason(it.problems) == "constraints not stated in prompt"
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


@dataclass
class GenerateResult:
    output: Path
    rejected_path: Path
    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    requests: int
    dedup_summary: str | None = None
    persona_note: str | None = None  # duplicate personas dropped from the input


def prepare(cfg: GenerateConfig) -> tuple[Template, list[Item], Any]:
    template = load_template(f"generate_{cfg.task}", cfg.template)
    pset = load_personas(
        cfg.personas, cfg.persona_field, cfg.persona_id_field, cfg.persona_split,
        cfg.persona_config,
    )  # fmt: skip
    personas = sample_personas(pset.personas, cfg.n, cfg.seed)
    return template, build_items(cfg, template, personas), pset


def dry_run(cfg: GenerateConfig) -> list[str]:
    template, items, pset = prepare(cfg)
    caller = Caller(cfg.choice, cfg.calls)
    note = pset.duplicate_note()
    lines = [
        *([note] if note else []),
        f"model: {cfg.choice.label()} ({cfg.choice.why})",
        *estimate_lines(caller, requests_for(caller, cfg, items)),
    ]
    if cfg.task == "if" and cfg.max_attempts > 1:
        lines.append(
            f"plus up to {cfg.max_attempts - 1} regeneration(s) per IF prompt that fails the "
            "constraint-statement check (not counted above)"
        )
    return lines


def run(cfg: GenerateConfig) -> GenerateResult:
    from caravan.records import Provenance, write_records

    template, items, pset = prepare(cfg)
    caller = Caller(cfg.choice, cfg.calls)
    caller.prepare()
    pending = list(items)
    sent = 0
    for attempt in range(cfg.max_attempts):
        if not pending:
            break
        for it in pending:
            it.attempts = attempt
        responses = caller.run(requests_for(caller, cfg, pending))
        sent += len(pending)
        pending = judge_round(cfg, pending, responses)
    rows, rejected = [], []
    for it in items:
        base = {"id": f"{cfg.task}-{it.id}", "persona_id": it.id, "persona": it.persona.text}
        if it.result is None:
            rejected.append(
                {
                    **base,
                    "stage": "generate",
                    "reason": _reason(it.problems),
                    "details": it.problems,
                    "draws": it.attempts + 1,
                    "text": it.response.text if it.response else None,
                }
            )
            continue
        rows.append(output_row(cfg, template, it))
    summary = None
    if cfg.dedup and rows:
        report = dedup_texts(
            [r["prompt"] for r in rows], cfg.dedup_config, progress=cfg.calls.progress
        )
        for rem in report.removed:
            dup, kept = rows[rem.index], rows[rem.duplicate_of]
            rejected.append(
                {
                    "id": dup["id"],
                    "persona_id": dup["persona_id"],
                    "persona": dup["persona"],
                    "stage": "dedup",
                    "reason": "exact duplicate" if rem.reason == "exact" else "near duplicate",
                    "details": [f"duplicates {kept['id']} (estimated Jaccard {rem.similarity})"],
                    "text": dup["prompt"],
                }
            )
        rows = [rows[i] for i in report.kept]
        summary = report.summary()
    rejected_path = side_path(cfg.output, cfg.rejected)
    write_rejections(rejected, rejected_path)
    if not rows:
        raise CaravanError(
            f"no prompt survived ({len(rejected)} rejected, reasons in {rejected_path})"
        )
    prov = Provenance.capture(
        config=cfg.provenance_config(template), inputs={pset.source: pset.fingerprint}
    )
    write_records(rows, cfg.output, "rlvr" if cfg.task == "if" else None, provenance=prov)
    return GenerateResult(
        cfg.output, rejected_path, rows, rejected, sent, summary, pset.duplicate_note()
    )
