"""Check a response against instruction ids, strict or loose, and score whole eval sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from caravan.verifiers.ifeval.registry import SPECS
from caravan.verifiers.ifeval.spec import ConstraintSpec, Kwargs, KwargsError

from caravan.errors import CaravanError


def loose_variants(response: str) -> list[str]:
    """The 8 texts loose mode tries: the response, without its first line, without its
    last line, without both; and each of those with every ``*`` removed."""
    lines = response.split("\n")
    cut_first = "\n".join(lines[1:]).strip()
    cut_last = "\n".join(lines[:-1]).strip()
    cut_both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        cut_first,
        cut_last,
        cut_both,
        cut_first.replace("*", ""),
        cut_last.replace("*", ""),
        cut_both.replace("*", ""),
    ]


def clean_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop None values (HF google/IFEval fills every kwarg column, mostly with None)."""
    return {k: v for k, v in (kwargs or {}).items() if v is not None}


def prepare(
    instruction_id: str, kwargs: Mapping[str, Any] | None, prompt: str | None = None
) -> tuple[ConstraintSpec, Kwargs]:
    spec = SPECS.get(instruction_id)
    if spec is None:
        raise CaravanError(f"unknown instruction id {instruction_id!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise CaravanError(f"{instruction_id}: kwargs must be an object, got {kwargs!r}")
    try:
        return spec, spec.prepare(clean_kwargs(kwargs), prompt)
    except KwargsError as exc:
        raise CaravanError(f"{instruction_id}: {exc}") from None


def _passes(spec: ConstraintSpec, kw: Kwargs, texts: Sequence[str]) -> bool:
    # An empty (or whitespace-only) text never follows an instruction.
    return any(t.strip() and spec.check(t, kw) for t in texts)


def check_instructions(
    response: str,
    instruction_id_list: Sequence[str],
    kwargs_list: Sequence[Mapping[str, Any] | None] | None,
    prompt: str | None = None,
    loose: bool = False,
) -> list[bool]:
    """One bool per instruction id: does `response` follow it?

    `kwargs_list` aligns with `instruction_id_list` (None entries and None values are
    dropped). `prompt` fills `prompt_to_repeat` for copy/repeat ids that lack it. Loose
    mode passes an instruction when any of the 8 `loose_variants` passes it.
    Raises CaravanError for an unknown id or malformed kwargs.
    """
    if not isinstance(response, str):
        raise CaravanError(f"response must be a string, got {type(response).__name__}")
    ids = list(instruction_id_list)
    kws = list(kwargs_list) if kwargs_list is not None else [{}] * len(ids)
    if len(kws) != len(ids):
        raise CaravanError(f"{len(ids)} instruction ids but {len(kws)} kwargs entries")
    texts = loose_variants(response) if loose else [response]
    out = []
    for iid, kw in zip(ids, kws, strict=True):
        spec, prepared = prepare(iid, kw, prompt)
        out.append(_passes(spec, prepared, texts))
    return out


@dataclass
class RowResult:
    strict: list[bool]
    loose: list[bool]


@dataclass
class IFEvalReport:
    """IFEval's four numbers plus the per-row outcomes they were computed from."""

    prompt_level_strict: float
    inst_level_strict: float
    prompt_level_loose: float
    inst_level_loose: float
    rows: list[RowResult] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, float]:
        return {
            "prompt_level_strict_acc": self.prompt_level_strict,
            "inst_level_strict_acc": self.inst_level_strict,
            "prompt_level_loose_acc": self.prompt_level_loose,
            "inst_level_loose_acc": self.inst_level_loose,
        }


def _row_field(row: Mapping[str, Any], name: str, index: int) -> Any:
    if name not in row:
        raise CaravanError(f"row {index + 1}: missing column {name!r}")
    return row[name]


def evaluate(
    rows: Iterable[Mapping[str, Any]],
    responses: Sequence[str] | None = None,
    *,
    response_key: str = "response",
) -> IFEvalReport:
    """Prompt- and instruction-level accuracy, strict and loose, over IFEval-style rows.

    Each row needs `instruction_id_list` and `kwargs`, plus `prompt` (used by repeat
    instructions) and the response, either in `response_key` or in `responses`.
    """
    rows = list(rows)
    if responses is not None and len(responses) != len(rows):
        raise CaravanError(f"{len(responses)} responses for {len(rows)} rows")
    results: list[RowResult] = []
    for i, row in enumerate(rows):
        response = responses[i] if responses is not None else _row_field(row, response_key, i)
        ids = _row_field(row, "instruction_id_list", i)
        kws = _row_field(row, "kwargs", i)
        prompt = row.get("prompt")
        try:
            strict = check_instructions(response, ids, kws, prompt=prompt)
            loose = check_instructions(response, ids, kws, prompt=prompt, loose=True)
        except CaravanError as exc:
            raise CaravanError(f"row {i + 1}: {exc}") from None
        results.append(RowResult(strict, loose))
    if not results:
        raise CaravanError("no rows to evaluate")

    def prompt_acc(key: str) -> float:
        return sum(all(getattr(r, key)) for r in results) / len(results)

    def inst_acc(key: str) -> float:
        flat = [b for r in results for b in getattr(r, key)]
        return sum(flat) / len(flat) if flat else 0.0

    return IFEvalReport(
        prompt_acc("strict"), inst_acc("strict"), prompt_acc("loose"), inst_acc("loose"), results
    )
