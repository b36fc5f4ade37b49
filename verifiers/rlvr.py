"""Turn GSM8K / MATH / IFEval-style sources into RLVR rows (open-instruct columns) or verl rows.

open-instruct layout: `messages` (one user turn), `ground_truth` (str), `dataset` (verifier
name), `constraint_type`, `constraint`. verl layout: `data_source`, `prompt`, `ability`,
`reward_model` {style: "rule", ground_truth}, `extra_info`. Few-shot prefixes are worked
examples drawn (seeded) from the same source; the rows used as examples are left out of the
output so no prompt contains its own answer.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from typing import Any

from caravan.records.validate import BadRow, RowLocation
from caravan.verifiers.gsm8k import format_gold, parse_gold
from caravan.verifiers.math.extract import last_boxed

from caravan.errors import CaravanError

_CALC = re.compile(r"<<[^<>]*>>")

GSM8K_INSTRUCTION = (
    "Work through the problem below one step at a time, then give the final number on its "
    'own at the end in the form "The answer is N."'
)
MATH_INSTRUCTION = (
    "Solve the problem below, showing your reasoning. Put the final answer, simplified, "
    "inside \\boxed{}."
)


def _need(row: dict[str, Any], keys: tuple[str, ...], label: str, index: int) -> list[Any]:
    missing = [k for k in keys if row.get(k) in (None, "")]
    if missing:
        raise CaravanError(f"missing {', '.join(missing)}")
    return [row[k] for k in keys]


def gsm8k_gold(answer: str) -> str:
    """The number after `####`, commas removed (the GSM8K label convention)."""
    text = str(answer)
    text = text.rsplit("####", 1)[1] if "####" in text else text
    return text.strip().replace(",", "")


def _gsm8k_example(row: dict[str, Any]) -> str:
    reasoning = _CALC.sub("", str(row["answer"]).rsplit("####", 1)[0]).strip()
    return f"Question: {row['question']}\nAnswer: {reasoning} The answer is {gsm8k_gold(row['answer'])}."


def _math_fields(row: dict[str, Any], label: str, index: int) -> tuple[str, str]:
    problem = row.get("problem") or row.get("question")
    answer = row.get("answer")
    if answer in (None, "") and row.get("solution"):
        answer = last_boxed(str(row["solution"]))
    if not problem or answer in (None, ""):
        raise CaravanError("needs `problem` and `answer` (or a boxed `solution`)")
    return str(problem), str(answer)


def _math_example(row: dict[str, Any]) -> str:
    problem, answer = _math_fields(row, "few-shot", 0)
    solution = row.get("solution")
    body = f"{solution}" if solution else f"The final answer is $\\boxed{{{answer}}}$."
    return f"Problem: {problem}\nSolution: {body}"


def _split_examples(
    rows: list[dict[str, Any]], shots: int, seed: int
) -> tuple[list[int], set[int]]:
    if shots <= 0:
        return [], set()
    if shots >= len(rows):
        raise CaravanError(f"few-shot: {shots} examples asked but the source has {len(rows)} rows")
    picked = random.Random(seed).sample(range(len(rows)), shots)
    return picked, set(picked)


def _guarded(
    rows: list[dict[str, Any]],
    label: str,
    skip: set[int],
    build: Any,
    locations: list[RowLocation] | None = None,
) -> Iterable[dict[str, Any] | BadRow]:
    """Build each row; a failure becomes a BadRow at the row's 1-based place in `label`."""
    for i, row in enumerate(rows):
        if i in skip:
            continue
        try:
            yield build(i, row)
        except CaravanError as exc:
            loc = locations[i] if locations else RowLocation(label, i + 1)
            yield BadRow(loc, str(exc), row=row)


def gsm8k_rows(
    rows: list[dict[str, Any]],
    label: str,
    *,
    shots: int = 0,
    seed: int = 0,
    locations: list[RowLocation] | None = None,
) -> Iterable[dict[str, Any] | BadRow]:
    """RLVR rows for GSM8K; a row that cannot be converted comes back as a BadRow."""
    picked, skip = _split_examples(rows, shots, seed)
    prefix = "".join(_gsm8k_example(rows[i]) + "\n\n" for i in picked)

    def build(i: int, row: dict[str, Any]) -> dict[str, Any]:
        question, answer = _need(row, ("question", "answer"), label, i)
        body = f"{prefix}Question: {question}\nAnswer:" if prefix else str(question)
        try:  # "+7", "18 dollars": written back as the plain number the verifier reads
            gold = format_gold(parse_gold(gsm8k_gold(answer)))
        except CaravanError:
            raise CaravanError(
                f"answer after #### is not a number: {gsm8k_gold(answer)!r}"
            ) from None
        return {
            "id": f"gsm8k-{i}",
            "messages": [{"role": "user", "content": f"{GSM8K_INSTRUCTION}\n\n{body}"}],
            "ground_truth": gold,
            "dataset": "gsm8k",
            "constraint_type": None,
            "constraint": None,
        }

    return _guarded(rows, label, skip, build, locations)


def math_rows(
    rows: list[dict[str, Any]],
    label: str,
    *,
    shots: int = 0,
    seed: int = 0,
    locations: list[RowLocation] | None = None,
) -> Iterable[dict[str, Any] | BadRow]:
    """RLVR rows for MATH; a row that cannot be converted comes back as a BadRow."""
    picked, skip = _split_examples(rows, shots, seed)
    prefix = "".join(_math_example(rows[i]) + "\n\n" for i in picked)

    def build(i: int, row: dict[str, Any]) -> dict[str, Any]:
        problem, answer = _math_fields(row, label, i)
        body = f"{prefix}Problem: {problem}\nSolution:" if prefix else problem
        return {
            "id": f"math-{i}",
            "messages": [{"role": "user", "content": f"{MATH_INSTRUCTION}\n\n{body}"}],
            "ground_truth": answer,
            "dataset": "MATH",
            "constraint_type": None,
            "constraint": None,
        }

    return _guarded(rows, label, skip, build, locations)


def if_ground_truth(instruction_ids: list[str], kwargs: list[dict[str, Any] | None]) -> str:
    """`[{"instruction_id": [...], "kwargs": [...]}]` with None-valued kwargs dropped."""
    if len(instruction_ids) != len(kwargs):
        raise CaravanError(f"{len(instruction_ids)} instruction ids but {len(kwargs)} kwargs")
    clean = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs]
    return json.dumps([{"instruction_id": list(instruction_ids), "kwargs": clean}])


def ifeval_rows(
    rows: list[dict[str, Any]],
    label: str,
    *,
    locations: list[RowLocation] | None = None,
    **_: Any,
) -> Iterable[dict[str, Any] | BadRow]:
    """RLVR rows for IFEval-style prompts; bad rows come back as BadRow."""

    def build(i: int, row: dict[str, Any]) -> dict[str, Any]:
        prompt, ids = _need(row, ("prompt", "instruction_id_list"), label, i)
        kwargs = row.get("kwargs") or [{} for _ in ids]
        if isinstance(kwargs, str):
            try:
                kwargs = json.loads(kwargs)
            except json.JSONDecodeError as exc:
                raise CaravanError("kwargs is not JSON") from exc
        try:
            truth = if_ground_truth(list(ids), list(kwargs))
        except CaravanError as exc:
            raise CaravanError(f"{exc}") from exc
        return {
            "id": f"ifeval-{row.get('key', i)}",
            "messages": [{"role": "user", "content": str(prompt)}],
            "ground_truth": truth,
            "dataset": "ifeval",
            "constraint_type": ", ".join(ids),
            "constraint": None,
        }

    return _guarded(rows, label, set(), build, locations)


BUILDERS = {"gsm8k": gsm8k_rows, "math": math_rows, "ifeval": ifeval_rows}
_ABILITY = {"gsm8k": "math", "math": "math", "ifeval": "instruction_following"}


def to_verl(row: dict[str, Any], split: str = "train") -> dict[str, Any]:
    """One open-instruct RLVR row in verl's parquet layout."""
    name = str(row["dataset"])
    return {
        "data_source": name,
        "prompt": row["messages"],
        "ability": _ABILITY.get(name.lower(), "verifiable"),
        "reward_model": {"style": "rule", "ground_truth": row["ground_truth"]},
        "extra_info": {
            "id": row["id"],
            "split": split,
            "constraint_type": row.get("constraint_type") or "",
        },
    }
