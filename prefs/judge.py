"""The LLM judge: one request per (prompt, aspect), every response shown at once, shuffled.

Replies are structured (a JSON schema built from pydantic models, one key per shown
response) and validated by llm/. A reply that never validates is a recorded failure, never
a default score; "N/A" (honesty only) stays a missing value, never a number.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any, Literal

from caravan.llm.types import Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from caravan.errors import CaravanError

DEFAULT_JUDGE = "gpt-4o-2024-08-06"
# Tülu 3 judged at temperature 0.1.
DEFAULT_JUDGE_PARAMS: dict[str, Any] = {"temperature": 0.1, "max_tokens": 4096}
ASPECTS = ("helpfulness", "instruction_following", "honesty", "truthfulness")
TITLES = {
    "helpfulness": "helpfulness",
    "instruction_following": "instruction following",
    "honesty": "honesty and calibrated confidence",
    "truthfulness": "truthfulness",
}
RATINGS = ("1", "2", "3", "4", "5")
NA = "N/A"
QUALITIES = ("clear_relevant", "informative", "concise")
HALLUCINATIONS = ("factual_error", "contradicts_request", "self_contradiction")
# The extra, aspect-specific list each rated item carries (the aspect's "type").
TYPE_FIELDS = {"helpfulness": "qualities", "truthfulness": "hallucinations"}

_Rating = Literal["1", "2", "3", "4", "5"]
_RatingOrNA = Literal["1", "2", "3", "4", "5", "N/A"]
_STRICT = ConfigDict(extra="forbid")


class Rated(BaseModel):
    model_config = _STRICT
    rationale: str
    rating: _Rating


class RatedHonesty(BaseModel):
    model_config = _STRICT
    rationale: str
    rating: _RatingOrNA


class RatedHelpfulness(BaseModel):
    model_config = _STRICT
    rationale: str
    qualities: list[Literal["clear_relevant", "informative", "concise"]]
    rating: _Rating


class RatedTruthfulness(BaseModel):
    model_config = _STRICT
    rationale: str
    hallucinations: list[Literal["factual_error", "contradicts_request", "self_contradiction"]]
    rating: _Rating


ITEM_MODELS: dict[str, type[BaseModel]] = {
    "helpfulness": RatedHelpfulness,
    "instruction_following": Rated,
    "honesty": RatedHonesty,
    "truthfulness": RatedTruthfulness,
}
_FIELD_TEXT = {
    "helpfulness": '"rationale" (string), "qualities" (list of strings) and "rating" '
    '(one of "1" to "5")',
    "instruction_following": '"rationale" (string) and "rating" (one of "1" to "5")',
    "honesty": '"rationale" (string) and "rating" (one of "1" to "5", or "N/A")',
    "truthfulness": '"rationale" (string), "hallucinations" (list of strings) and "rating" '
    '(one of "1" to "5")',
}


def check_aspects(aspects: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [a for a in aspects if a not in ASPECTS]
    if unknown or not aspects:
        raise CaravanError(
            f"unknown judge aspect(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(ASPECTS)}"
        )
    return tuple(dict.fromkeys(aspects))


@functools.lru_cache(maxsize=256)
def judgement_model(aspect: str, count: int) -> type[BaseModel]:
    """A pydantic model with exactly `count` required keys response_1..response_count."""
    item = ITEM_MODELS[aspect]
    fields: dict[str, Any] = {f"response_{i}": (item, ...) for i in range(1, count + 1)}
    return create_model(f"{aspect.title()}Judgement{count}", __config__=_STRICT, **fields)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k not in ("$defs", "title")}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@functools.lru_cache(maxsize=256)
def judgement_schema(aspect: str, count: int) -> dict[str, Any]:
    """The JSON schema with references inlined: plain enough for every provider's
    structured-output mode (OpenAI strict mode included).

    Cached, and the same dict object is shared by every request of that shape: llm/
    checks each distinct schema object once, and checking costs tens of milliseconds.
    Callers must not mutate it."""
    raw = judgement_model(aspect, count).model_json_schema()
    return _inline(raw, raw.get("$defs", {}))


@functools.lru_cache(maxsize=32)
def _template(name: str) -> Template:
    text = resources.files("caravan.prefs").joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


def render_conversation(messages: list[dict[str, str]]) -> str:
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def shown_order(seed: int, prompt_key: str, aspect: str, count: int) -> list[int]:
    """Candidate indices in the order the judge sees them (seeded per prompt and aspect)."""
    order = list(range(count))
    random.Random(f"{seed}:order:{prompt_key}:{aspect}").shuffle(order)
    return order


def judge_messages(
    aspect: str, prompt: list[dict[str, str]], texts: list[str]
) -> list[dict[str, str]]:
    """System + user messages for one aspect; `texts` are already in shown order."""
    count = len(texts)
    system = _template("judge_system.txt").substitute(
        aspect_title=TITLES[aspect],
        rubric=_template(f"{aspect}.txt").template.strip(),
        count=count,
        fields=_FIELD_TEXT[aspect],
    )
    blocks = "\n\n".join(
        f'<response id="{i}">\n{text}\n</response>' for i, text in enumerate(texts, start=1)
    )
    user = _template("judge_user.txt").substitute(
        conversation=render_conversation(prompt),
        responses=blocks,
        count=count,
        aspect_title=TITLES[aspect],
    )
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user}]


@dataclass
class JudgeTask:
    """One judge request and how to map its reply back to candidates."""

    prompt_key: str
    aspect: str
    order: list[int]  # shown position p (0-based) -> candidate index
    request: Request


def judge_request(
    prompt_key: str,
    aspect: str,
    prompt: list[dict[str, str]],
    texts: list[str],
    model: str,
    params: dict[str, Any],
    seed: int,
) -> JudgeTask:
    order = shown_order(seed, prompt_key, aspect, len(texts))
    messages = judge_messages(aspect, prompt, [texts[i] for i in order])
    request = Request(
        messages=messages,
        model=model,
        params=dict(params),
        schema=judgement_schema(aspect, len(texts)),
        id=f"{prompt_key}:{aspect}",
    )
    return JudgeTask(prompt_key, aspect, order, request)


@dataclass
class AspectRating:
    """One candidate's rating on one aspect. `rating` None means N/A or no judgement."""

    rating: float | None
    label: str | None  # as the judge wrote it: "1".."5" or "N/A"; None if the call failed
    rationale: str | None
    types: list[str] | None
    position: int  # 1-based position the judge saw this candidate at


@dataclass
class AspectResult:
    aspect: str
    ok: bool
    ratings: list[AspectRating] = field(default_factory=list)  # per candidate index
    error: str | None = None
    error_kind: str | None = None
    raw: str | None = None
    attempts: int = 0


def read_judgement(task: JudgeTask, response: Response) -> AspectResult:
    """Map a judge reply to per-candidate ratings; a failure stays a failure."""
    count = len(task.order)
    positions = {cand: pos + 1 for pos, cand in enumerate(task.order)}
    failed = AspectResult(
        task.aspect,
        False,
        [AspectRating(None, None, None, None, positions[c]) for c in range(count)],
        error=response.error,
        error_kind=response.error_kind,
        raw=response.text,
        attempts=response.attempts,
    )
    if not response.ok:
        return failed
    try:
        reply = judgement_model(task.aspect, count).model_validate(response.parsed)
    except ValidationError as exc:
        failed.error = f"request {task.request.id}: reply does not validate: {exc.errors()[0]}"
        failed.error_kind = "parse_failure"
        return failed
    ratings: list[AspectRating | None] = [None] * count
    type_field = TYPE_FIELDS.get(task.aspect)
    for pos, cand in enumerate(task.order):
        item = getattr(reply, f"response_{pos + 1}")
        label = item.rating
        ratings[cand] = AspectRating(
            rating=None if label == NA else float(label),
            label=label,
            rationale=item.rationale,
            types=list(dict.fromkeys(getattr(item, type_field))) if type_field else None,
            position=pos + 1,
        )
    return AspectResult(
        task.aspect, True, [r for r in ratings if r is not None], attempts=response.attempts
    )


def worth_retrying(outcome: AspectResult) -> bool:
    """A failed judge call gets another round unless its replies were already paid for
    `parse_retries + 1` times and never parsed: the engine retried those itself, and
    asking again would only pay for the same unusable reply."""
    from caravan.llm.engine import EngineConfig

    if outcome.ok:
        return False
    paid_enough = outcome.attempts >= EngineConfig().parse_retries + 1
    return not (outcome.error_kind == "parse_failure" and paid_enough)


def outcome_row(outcome: AspectResult) -> dict[str, Any]:
    """An aspect's judgement as plain data (rows carry it between stages and workers)."""
    return {
        "aspect": outcome.aspect, "ok": outcome.ok, "error": outcome.error,
        "error_kind": outcome.error_kind, "raw": outcome.raw, "attempts": outcome.attempts,
        "ratings": [
            {"rating": r.rating, "label": r.label, "rationale": r.rationale, "types": r.types,
             "position": r.position}
            for r in outcome.ratings
        ],
    }  # fmt: skip
