"""Ground-truth label formats for IF rewards, and scoring a response against one.

Two formats are in use:
- Tülu 3 RLVR: a JSON object ``{"func_name": "validate_lowercase", <args>}`` (args set to
  null are ignored); one check, so the score is 0 or 1.
- IFEval-style (newer open-instruct / IFBench data): ``[{"instruction_id": [...],
  "kwargs": [...]}]`` (JSON, or a Python literal as open-instruct writes it), scored as
  the fraction of instructions followed, or 1/0 for all/any-missed with "binary".
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from caravan.verifiers.ifeval.checking import check_instructions, loose_variants
from caravan.verifiers.ifeval.tulu_functions import TULU_FUNCTIONS, call_tulu

from caravan.errors import CaravanError

SCORINGS = ("fraction", "binary")


@dataclass(frozen=True)
class TuluLabel:
    func_name: str
    args: dict[str, Any]

    @property
    def names(self) -> list[str]:
        """One name per check `outcomes` returns (a Tülu label is one check)."""
        return [self.func_name]


@dataclass(frozen=True)
class InstructionLabel:
    instruction_ids: list[str]
    kwargs: list[dict[str, Any]]

    @property
    def names(self) -> list[str]:
        return list(self.instruction_ids)


Label = TuluLabel | InstructionLabel


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise CaravanError(
            f"unparseable IF ground truth (neither JSON nor a literal): {text[:120]!r}"
        ) from None


def parse_ground_truth(ground_truth: str | dict | list) -> Label:
    """Read either label format; CaravanError names what is wrong."""
    value = _decode(ground_truth) if isinstance(ground_truth, str) else ground_truth
    if isinstance(value, str):  # doubly encoded
        value = _decode(value)
    if isinstance(value, list):
        if len(value) != 1:
            raise CaravanError(f"IF ground truth list must hold one entry, got {len(value)}")
        value = value[0]
        if isinstance(value, str):
            value = _decode(value)
    if not isinstance(value, dict):
        raise CaravanError(f"IF ground truth must be an object, got {type(value).__name__}")
    if "func_name" in value:
        name = value["func_name"]
        if name not in TULU_FUNCTIONS:
            raise CaravanError(f"unknown IF func_name {name!r}")
        args = {k: v for k, v in value.items() if k != "func_name" and v is not None}
        return TuluLabel(name, args)
    if "instruction_id" in value:
        ids = value["instruction_id"]
        kws = value.get("kwargs") or [{} for _ in ids]
        if isinstance(ids, str):
            ids, kws = [ids], [kws] if isinstance(kws, dict) else kws
        if not isinstance(ids, list) or not isinstance(kws, list) or len(ids) != len(kws):
            raise CaravanError(
                "IF ground truth needs equally long 'instruction_id' and 'kwargs' lists"
            )
        if not ids:
            raise CaravanError("IF ground truth lists no instruction ids")
        return InstructionLabel(list(ids), [k or {} for k in kws])
    raise CaravanError(
        f"IF ground truth has neither 'func_name' nor 'instruction_id': keys {sorted(value)}"
    )


def outcomes(
    response: str,
    label: Label | str | dict | list,
    *,
    loose: bool = False,
    prompt: str | None = None,
) -> list[bool]:
    """Per-check pass/fail (in `label.names` order) for a label in either format.

    The one place that knows both formats: every caller (rewards, solve, relax, prefs)
    goes through here, so a new format cannot crash one of them.
    """
    if not isinstance(label, TuluLabel | InstructionLabel):
        label = parse_ground_truth(label)
    if isinstance(label, InstructionLabel):
        return check_instructions(
            response, label.instruction_ids, label.kwargs, prompt=prompt, loose=loose
        )
    texts = loose_variants(response) if loose else [response]
    try:
        return [any(t.strip() and call_tulu(label.func_name, t, label.args) for t in texts)]
    except (TypeError, ValueError) as exc:
        raise CaravanError(
            f"IF label {label.func_name}: bad arguments {label.args}: {exc}"
        ) from None


def failed_checks(response: str, label: Label, **kwargs: Any) -> list[str]:
    """Names of the checks `response` fails under `label` (empty when it passes all)."""
    results = outcomes(response, label, **kwargs)
    return [name for name, ok in zip(label.names, results, strict=True) if not ok]


def score_ground_truth(
    response: str,
    ground_truth: str,
    *,
    scoring: str = "fraction",
    loose: bool = False,
    prompt: str | None = None,
) -> float:
    """Reward in [0, 1] for `response` under an IF label in either format.

    "fraction" gives the share of instructions followed, "binary" 1.0 only when all
    are. An empty response scores 0. Raises CaravanError on an unparseable label, an
    unknown id or bad kwargs.
    """
    if scoring not in SCORINGS:
        raise CaravanError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    label = parse_ground_truth(ground_truth)
    results = outcomes(response, label, loose=loose, prompt=prompt)
    if scoring == "binary":
        return 1.0 if all(results) else 0.0
    return sum(results) / len(results)
