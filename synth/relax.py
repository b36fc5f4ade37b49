"""The decisions of `synth relax` (run by the `Relax` stage): persona-IF preference pairs
from prompts with two or more constraints.

For each prompt, one constraint is dropped (seeded choice, or the one named with
`drop_id`): the model rewrites the prompt without it (the rewrite must still state every
other constraint and no longer state the dropped one), then answers the relaxed prompt.
The pair is kept only when the verifier confirms the original answer passes every
constraint while the relaxed answer violates the dropped one: chosen = original answer,
rejected = relaxed answer, prompt = original prompt. Everything else is rejected with its
reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.synth.calls import RequestMaker, clean_text
from caravan.synth.generate import item_seed
from caravan.synth.if_statement import missing_statements
from caravan.synth.models import ModelChoice
from caravan.synth.templates import Template


@dataclass
class RelaxConfig:
    """The decision settings of one relax step (the `Relax` stage builds it)."""

    choice: ModelChoice  # recorded on every pair
    drop_id: str | None = None
    seed: int = 0
    template: Path | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 2048

    def params(self, seed: int) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "seed": seed % 2**31}  # fmt: skip


@dataclass
class Pair:
    row: dict[str, Any]
    ids: list[str]
    kwargs: list[dict[str, Any]]
    drop: int
    seed: int
    original_answer: str | None
    relaxed_prompt: str | None = None
    relaxed_answer: str | None = None
    reason: str | None = None
    details: list[str] = field(default_factory=list)

    def reject(self, reason: str, details: list[str] | None = None) -> None:
        self.reason, self.details = reason, list(details or [])

    @property
    def rewrite(self) -> str:
        """The relaxed prompt; only pairs that `accept_rewrite` kept (reason None) have one."""
        assert self.relaxed_prompt is not None, f"pair {self.row['id']}: no accepted rewrite"
        return self.relaxed_prompt


def _assistant(row: dict[str, Any]) -> str | None:
    msgs = row.get("messages") or []
    return msgs[-1]["content"] if msgs and msgs[-1].get("role") == "assistant" else None


def select(cfg: RelaxConfig, rows: list[dict]) -> tuple[list[Pair], list[dict]]:
    from caravan.verifiers.ifeval import InstructionLabel, parse_ground_truth

    pairs, skipped = [], []
    for row in rows:
        if row["task"] != "if":
            continue
        label = parse_ground_truth(row["ground_truth"])
        ids = label.names  # a Tülu {"func_name": ...} label is a single check
        kwargs = list(label.kwargs) if isinstance(label, InstructionLabel) else [label.args]
        if len(ids) < 2:
            skipped.append({"id": row["id"], "persona_id": row.get("persona_id"),
                            "stage": "relax", "reason": "fewer than 2 constraints", "details": ids})  # fmt: skip
            continue
        s = item_seed(cfg.seed, "relax:" + row["id"])
        if cfg.drop_id is not None:
            if cfg.drop_id not in ids:
                skipped.append({"id": row["id"], "persona_id": row.get("persona_id"), "stage": "relax",
                                "reason": "named constraint not in prompt", "details": ids})  # fmt: skip
                continue
            drop = ids.index(cfg.drop_id)
        else:
            drop = random.Random(s).randrange(len(ids))
        pairs.append(Pair(row, ids, kwargs, drop, s, _assistant(row)))
    return pairs, skipped


def rewrite_requests(
    caller: RequestMaker, cfg: RelaxConfig, template: Template, pairs: list[Pair]
) -> list[Any]:
    from caravan.verifiers.ifeval import describe

    out = []
    for p in pairs:
        kept = [
            describe(i, k)
            for j, (i, k) in enumerate(zip(p.ids, p.kwargs, strict=True))
            if j != p.drop
        ]
        text = template.render(
            prompt=p.row["prompt"],
            dropped="- " + describe(p.ids[p.drop], p.kwargs[p.drop]),
            kept="\n".join(f"- {d}" for d in kept),
        )
        out.append(
            caller.request(
                f"relax-{p.row['id']}", [{"role": "user", "content": text}], cfg.params(p.seed)
            )
        )
    return out


def _answer_request(
    caller: RequestMaker, cfg: RelaxConfig, rid: str, prompt: str, seed: int
) -> Any:
    return caller.request(rid, [{"role": "user", "content": prompt}], cfg.params(seed))


def _text(r: Any) -> tuple[str | None, str | None]:
    if not r.ok:
        return None, f"{r.error_kind}: {r.error}"
    if r.finish_reason == "length":
        return None, "hit max_tokens"
    text = (r.text or "").strip()
    return (text, None) if text else (None, "empty reply")


def accept_rewrite(p: Pair, response: Any) -> None:
    """Keep the rewrite only if it states every kept constraint and not the dropped one."""
    text, err = _text(response)
    if text is None:
        p.reject("rewrite failed", [err or ""])
        return
    text = clean_text(text)
    keep = [j for j in range(len(p.ids)) if j != p.drop]
    lost = missing_statements(text, [p.ids[j] for j in keep], [p.kwargs[j] for j in keep])
    if lost:
        p.reject("rewrite lost a kept constraint", lost)
        return
    if not missing_statements(text, [p.ids[p.drop]], [p.kwargs[p.drop]]):
        p.reject("rewrite still states the dropped constraint", [p.ids[p.drop]])
        return
    p.relaxed_prompt = text


def record_answers(live: list[Pair], originals: list[Pair], responses: list[Any]) -> None:
    """Responses to the relaxed prompts of `live`, then to the `originals` without an answer."""
    for p, r in zip(live, responses[: len(live)], strict=True):
        p.relaxed_answer, err = _text(r)
        if err:
            p.reject("relaxed answer failed", [err])
    for p, r in zip(originals, responses[len(live) :], strict=True):
        p.original_answer, err = _text(r)
        if err and p.reason is None:
            p.reject("original answer failed", [err])


def verify_pair(p: Pair) -> bool:
    """The original answer passes every constraint; the relaxed one breaks the dropped one."""
    from caravan.verifiers.ifeval import InstructionLabel, failed_checks

    original, relaxed = p.original_answer, p.relaxed_answer
    assert original is not None and relaxed is not None, "verify_pair needs both answers"
    failed = failed_checks(original, InstructionLabel(p.ids, p.kwargs))
    if failed:
        p.reject("original answer fails its constraints", failed)
        return False
    dropped = InstructionLabel([p.ids[p.drop]], [p.kwargs[p.drop]])
    if not failed_checks(relaxed, dropped):
        p.reject("relaxed answer still satisfies the dropped constraint", [p.ids[p.drop]])
        return False
    return True


def pair_output_row(cfg: RelaxConfig, template: Template, p: Pair) -> dict[str, Any]:
    row = p.row
    return {
        "id": f"relax-{row['id']}",
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "chosen": [{"role": "assistant", "content": p.original_answer}],
        "rejected": [{"role": "assistant", "content": p.relaxed_answer}],
        "score_chosen": None,
        "score_rejected": None,
        "persona_id": row.get("persona_id"),
        "source": "synth:relax",
        "ground_truth": row["ground_truth"],
        "dataset": "ifeval",
        "dropped_constraint": p.ids[p.drop],
        "relaxed_prompt": p.relaxed_prompt,
        "template": template.name,
        "template_sha256": template.sha256,
        "model": cfg.choice.model,
    }


def few_constraints_note(few: int, total: int) -> str | None:
    """Say how many of `total` IF prompts could not be relaxed for want of a second
    constraint, and how to generate prompts that can (`synth generate` defaults to
    --min-constraints 1)."""
    if not few:
        return None
    return (
        f"{few} of {total} IF prompts have fewer than 2 constraints; relax drops one and keeps "
        "the rest, so it needs at least 2: generate them with "
        "`synth generate --task if --min-constraints 2`"
    )
