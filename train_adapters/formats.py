"""Converters from common public row layouts into Caravan records.

Each converter takes one raw row and returns a record dict, or raises SkipRow with a reason
(the mixer counts and reports skipped rows; none vanish silently).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
MATH_INSTRUCTION = "Reason step by step, then give the final answer in \\boxed{}."


class SkipRow(Exception):
    """This row cannot become a record (the reason says why)."""


def content_id(row: dict[str, Any], prefix: str) -> str:
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return f"{prefix}-{hashlib.sha1(blob.encode()).hexdigest()[:16]}"


def as_records(row: dict[str, Any], source: str) -> dict[str, Any]:
    """Rows already in our shape; ids (and SFT `source`) are filled in when missing."""
    out = dict(row)
    if not out.get("id"):
        out["id"] = content_id(row, source.rsplit("/", 1)[-1])
    if "messages" in out and "ground_truth" not in out and not out.get("source"):
        out["source"] = source
    return out


def implicit_prompt(row: dict[str, Any], source: str) -> dict[str, Any]:
    """`chosen`/`rejected` as whole conversations (UltraFeedback, Tülu preference mixes)."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if not isinstance(chosen, list) or not isinstance(rejected, list) or not chosen or not rejected:
        raise SkipRow("`chosen` and `rejected` must be non-empty message lists")
    if chosen[:-1] != rejected[:-1]:
        raise SkipRow("`chosen` and `rejected` do not share the same prompt turns")
    out = {k: v for k, v in row.items() if k not in ("chosen", "rejected", "prompt", "messages")}
    out.update(prompt=chosen[:-1], chosen=chosen[-1:], rejected=rejected[-1:])
    out["id"] = row.get("id") or row.get("prompt_id") or content_id(row, "pref")
    return out


_OT_THOUGHT = re.compile(r"<\|begin_of_thought\|>(.*?)<\|end_of_thought\|>", re.S)
_OT_SOLUTION = re.compile(r"<\|begin_of_solution\|>(.*?)<\|end_of_solution\|>", re.S)


def openthoughts(row: dict[str, Any], source: str) -> dict[str, Any]:
    """OpenThoughts: `conversations` of {from, value}; thought/solution markers -> <think>."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or len(turns) < 2:
        raise SkipRow("`conversations` must hold a user and an assistant turn")
    messages = []
    for turn in turns:
        role = {"human": "user", "gpt": "assistant"}.get(turn.get("from"), turn.get("from"))
        text = turn.get("value") or ""
        if role == "assistant":
            thought, solution = _OT_THOUGHT.search(text), _OT_SOLUTION.search(text)
            if thought is None or solution is None:
                raise SkipRow("assistant turn lacks thought/solution markers")
            text = f"{THINK_OPEN}\n{thought.group(1).strip()}\n{THINK_CLOSE}\n\n{solution.group(1).strip()}"
        messages.append({"role": role, "content": text})
    return {
        "id": row.get("id") or content_id(row, "openthoughts"),
        "messages": messages,
        "source": source,
    }


def openr1_math(row: dict[str, Any], source: str) -> dict[str, Any]:
    """OpenR1-Math: the first generation that math-verify marked correct becomes the answer."""
    problem, generations = row.get("problem"), row.get("generations") or []
    verdicts = row.get("correctness_math_verify") or []
    if not isinstance(problem, str) or not problem.strip():
        raise SkipRow("missing `problem`")
    for text, ok in zip(generations, verdicts, strict=False):
        if ok and isinstance(text, str) and THINK_CLOSE in text:
            return {
                "id": row.get("uuid") or row.get("id") or content_id(row, "openr1"),
                "messages": [
                    {"role": "user", "content": problem},
                    {"role": "assistant", "content": text.strip()},
                ],
                "source": source,
            }
    raise SkipRow("no generation verified correct with a closed </think>")


def math_problems(row: dict[str, Any], source: str) -> dict[str, Any]:
    """`problem` + `answer` rows (DeepScaleR, MATH) -> RLVR prompts checked by the MATH verifier."""
    problem, answer = row.get("problem"), row.get("answer")
    if not isinstance(problem, str) or not problem.strip() or answer in (None, ""):
        raise SkipRow("needs non-empty `problem` and `answer`")
    return {
        "id": row.get("id") or content_id(row, "math"),
        "messages": [{"role": "user", "content": f"{problem}\n\n{MATH_INSTRUCTION}"}],
        "ground_truth": str(answer),
        "dataset": "math",
    }


FORMATS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "records": as_records,
    "implicit_prompt": implicit_prompt,
    "openthoughts": openthoughts,
    "openr1_math": openr1_math,
    "math_problems": math_problems,
}
