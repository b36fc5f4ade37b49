"""The optional LLM judge of semantic decontamination: is this training item the eval item?

Embedding similarity alone confuses "same problem, reworded" with "same topic, different
problem" (two GSM8K-style word problems about apples are close in embedding space). Each
candidate pair over the similarity threshold is sent, through llm/ (cached, so a rerun or
an interrupted run pays only for pairs it has not judged; costed by its price table), with
the prompt below. The reply is a JSON object validated against `VERDICT_SCHEMA`.

The prompt (ours) asks for "same" when the training item poses the same task as the eval
item, whatever the wording, language, names, number formatting or framing; and "different"
when any quantity, condition or asked-for output differs, or only the topic is shared. A
pair whose reply fails (after llm/'s retries) is kept flagged, with verdict "error":
decontamination errs on the side of removing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAME, DIFFERENT, ERROR = "same", "different", "error"

JUDGE_SYSTEM = (
    "You check training data for leaked benchmark questions. You compare two texts and "
    "decide whether they pose the same problem. Answer only with the requested JSON."
)

JUDGE_PROMPT = """\
Below are an item from an evaluation benchmark and an item from a training dataset.

Decide whether the training item is the same problem as the benchmark item, possibly \
reworded, paraphrased, reordered, translated into another language, wrapped in extra \
instructions, or with names and number formats changed (digits vs words).
- Answer "same" if solving the training item would give away the answer to the benchmark \
item: the same quantities, conditions and asked-for result (for code, the same function \
behaviour), even if the function name or wording differs.
- Answer "different" if any number, condition or requested output differs, or if the two \
only share a topic, a template or a style.

<benchmark_item>
{eval_text}
</benchmark_item>

<training_item>
{train_text}
</training_item>

Reply with a JSON object: {{"verdict": "same" or "different", "reason": one short sentence}}."""

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": [SAME, DIFFERENT]},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "reason"],
    "additionalProperties": False,
}
_MAX_CHARS = 6000  # per item: a judge needs the problem, not a whole long document


@dataclass
class JudgeSettings:
    model: str
    provider: str | None = None
    base_url: str | None = None
    cache: Path | None = None  # None: llm/'s default cache ($CARAVAN_LLM_CACHE)
    concurrency: int = 16
    max_retries: int = 8
    timeout_s: float = 120.0
    prices: Path | None = None
    progress: bool = False

    def params(self) -> dict[str, Any]:
        from caravan.secrets import public_url

        return {
            "model": self.model,
            "provider": self.provider,
            "base_url": public_url(self.base_url),
            "prompt": "decontam.semantic_judge.JUDGE_PROMPT",
        }


@dataclass
class JudgeResult:
    verdicts: list[str]
    reasons: list[str | None]
    requests: int = 0
    cached: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cached": self.cached,
            "errors": self.errors,
            "error_examples": self.error_examples,
            "cost_usd": round(self.cost_usd, 6),
        }


def judge_messages(eval_text: str, train_text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {
            "role": "user",
            "content": JUDGE_PROMPT.format(
                eval_text=eval_text[:_MAX_CHARS], train_text=train_text[:_MAX_CHARS]
            ),
        },
    ]


def judge_pairs(pairs: list[tuple[str, str, str]], settings: JudgeSettings) -> JudgeResult:
    """Verdicts for (pair id, eval text, train text) triples, in order."""
    from caravan.llm.api import acomplete, default_cache_path

    if not pairs:
        return JudgeResult([], [])
    inputs = [{"id": pid, "messages": judge_messages(e, t)} for pid, e, t in pairs]
    responses = asyncio.run(
        acomplete(
            inputs,
            settings.model,
            provider=settings.provider,
            base_url=settings.base_url,
            params={"temperature": 0, "max_tokens": 200},
            schema=VERDICT_SCHEMA,
            cache=settings.cache or default_cache_path(),
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            timeout_s=settings.timeout_s,
            prices=settings.prices,
            progress=settings.progress,
        )
    )
    out = JudgeResult([], [], requests=len(responses))
    for r in responses:
        verdict = r.parsed.get("verdict") if r.ok and isinstance(r.parsed, dict) else None
        if verdict in (SAME, DIFFERENT):
            out.verdicts.append(verdict)
            out.reasons.append(r.parsed.get("reason"))
        else:
            out.verdicts.append(ERROR)
            out.reasons.append(None)
            out.errors += 1
            if len(out.error_examples) < 5:
                out.error_examples.append(f"{r.request_id}: {r.error_kind or 'reply'}: {r.error}")
        out.cached += int(r.cached)
        out.cost_usd += r.cost_usd or 0.0
    return out
