"""Which checker scores a row: a registry keyed by the `dataset` column value.

Names match case-insensitively and through aliases ("MATH", "math", "gsm8k", "ifeval",
"code", ...). Each verifier's module is imported lazily, on the first row that needs it, so
a missing optional verifier fails with a CaravanError naming it rather than at import time.
Users can add their own with `register`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from caravan.verifiers.errors import VerificationError

from caravan.errors import CaravanError


@dataclass
class Check:
    """One verdict: a score in [0, 1] and what the checker saw (extracted answer, per-test...)."""

    score: float
    details: dict[str, Any] = field(default_factory=dict)


CheckFn = Callable[[str, Any], Check]
BatchFn = Callable[[Sequence[str], Sequence[Any]], list[Check | Exception]]


@dataclass
class Verifier:
    """A named checker. `target` is "module:function" returning a Check, imported on use."""

    name: str
    target: str
    aliases: tuple[str, ...] = ()
    batch_target: str | None = None
    doc: str = ""
    _fn: CheckFn | None = None
    _batch: BatchFn | None = None

    def _load(self, target: str) -> Any:
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise CaravanError(
                f"verifier {self.name!r} needs module {module!r}, which is not installed "
                f"or not part of this build ({exc})"
            ) from exc
        try:
            return getattr(mod, attr)
        except AttributeError as exc:
            raise CaravanError(f"verifier {self.name!r}: {module} has no {attr!r}") from exc

    def check(self, response: str, ground_truth: Any) -> Check:
        if self._fn is None:
            self._fn = self._load(self.target)
        return self._fn(response, ground_truth)

    def check_batch(
        self, responses: Sequence[str], truths: Sequence[Any]
    ) -> list[Check | Exception]:
        """Check many; an item's failure comes back as its exception, never as a score."""
        if self.batch_target is not None:
            if self._batch is None:
                self._batch = self._load(self.batch_target)
            return self._batch(responses, truths)
        out: list[Check | Exception] = []
        for resp, truth in zip(responses, truths, strict=True):
            try:
                out.append(self.check(resp, truth))
            except CaravanError as exc:
                out.append(exc)
            except Exception as exc:  # noqa: BLE001 - a checker bug must not kill a batch
                out.append(
                    VerificationError(f"{self.name} checker failed: {type(exc).__name__}: {exc}")
                )
        return out


# ---- built-in checks ---------------------------------------------------------------


def gsm8k_check(response: str, ground_truth: Any) -> Check:
    from caravan.verifiers import gsm8k

    gold = gsm8k.parse_gold(ground_truth)
    pred = gsm8k.extract_prediction(response)
    return Check(
        1.0 if pred is not None and pred == gold else 0.0,
        {"extracted": None if pred is None else _fmt_number(pred)},
    )


def _fmt_number(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _math_details(result: Any) -> Check:
    if result.error and not result.correct:
        raise VerificationError(result.error)
    return Check(
        1.0 if result.correct else 0.0, {"extracted": result.extracted, "method": result.method}
    )


def math_check(response: str, ground_truth: Any) -> Check:
    from caravan.verifiers import math as vmath

    return _math_details(vmath.check(response, str(ground_truth)))


def math_check_batch(responses: Sequence[str], truths: Sequence[Any]) -> list[Check | Exception]:
    from caravan.verifiers import math as vmath

    out: list[Check | Exception] = []
    for result in vmath.check_batch(list(responses), [str(t) for t in truths]):
        try:
            out.append(_math_details(result))
        except VerificationError as exc:
            out.append(exc)
    return out


def code_check(response: str, ground_truth: Any) -> Check:
    from caravan.verifiers import code

    result = code.run_tests(code.extract_code(response), code.parse_tests(ground_truth))
    return Check(
        result.pass_fraction,
        {"tests": [{"status": o.status, "passed": o.passed} for o in result.outcomes]},
    )


def code_check_batch(responses: Sequence[str], truths: Sequence[Any]) -> list[Check | Exception]:
    from concurrent.futures import ThreadPoolExecutor

    def one(pair: tuple[str, Any]) -> Check | Exception:
        try:
            return code_check(*pair)
        except CaravanError as exc:
            return exc

    # run_tests already parallelises tests; two responses at a time keeps cores busy.
    with ThreadPoolExecutor(max_workers=2) as ex:
        return list(ex.map(one, zip(responses, truths, strict=True)))


def _ifeval_module() -> Any:
    try:
        from caravan.verifiers import ifeval
    except ImportError as exc:
        raise CaravanError(
            "verifier 'ifeval' needs the verifiers.ifeval package, which is not part of this "
            f"build ({exc})"
        ) from exc
    return ifeval


def _if_verdict(ifeval: Any, response: str, label: Any) -> Check:
    """Score from one check of each constraint; the same outcomes go into the details."""
    results = ifeval.outcomes(response, label)
    if isinstance(label, ifeval.labels.InstructionLabel):
        details: dict[str, Any] = {"instruction_ids": list(label.instruction_ids)}
    else:
        details = {"func_name": label.func_name}
    details["outcomes"] = list(results)
    return Check(sum(results) / len(results), details)


def ifeval_check(response: str, ground_truth: Any) -> Check:
    """Fraction of constraints satisfied: the label is parsed once and each constraint checked
    once (delegates to verifiers.ifeval)."""
    ifeval = _ifeval_module()
    return _if_verdict(ifeval, response, ifeval.parse_ground_truth(ground_truth))


def ifeval_check_batch(responses: Sequence[str], truths: Sequence[Any]) -> list[Check | Exception]:
    """A GRPO group shares one label across its rollouts: parse each distinct label once."""
    ifeval = _ifeval_module()
    parsed: dict[str, Any] = {}
    out: list[Check | Exception] = []
    for response, truth in zip(responses, truths, strict=True):
        key = truth if isinstance(truth, str) else json.dumps(truth, sort_keys=True, default=str)
        try:
            label = parsed.get(key)
            if label is None:
                label = parsed[key] = ifeval.parse_ground_truth(truth)
            out.append(_if_verdict(ifeval, response, label))
        except CaravanError as exc:
            out.append(exc)
        except Exception as exc:  # noqa: BLE001 - a checker bug must not kill a batch
            out.append(VerificationError(f"ifeval checker failed: {type(exc).__name__}: {exc}"))
    return out


_REGISTRY: dict[str, Verifier] = {}
_ALIASES: dict[str, str] = {}


def register(verifier: Verifier, *, replace: bool = False) -> Verifier:
    """Add a verifier; its name and aliases become valid `dataset` values."""
    keys = [verifier.name, *verifier.aliases]
    for key in keys:
        owner = _ALIASES.get(key.lower())
        if owner is not None and owner != verifier.name and not replace:
            raise CaravanError(f"dataset name {key!r} already belongs to verifier {owner!r}")
    _REGISTRY[verifier.name] = verifier
    for key in keys:
        _ALIASES[key.lower()] = verifier.name
    return verifier


def register_function(name: str, fn: CheckFn, aliases: Sequence[str] = ()) -> Verifier:
    """Register a plain function `fn(response, ground_truth) -> Check | float`."""

    def wrapped(response: str, ground_truth: Any) -> Check:
        out = fn(response, ground_truth)
        return out if isinstance(out, Check) else Check(float(out))

    verifier = Verifier(name, target="", aliases=tuple(aliases))
    verifier._fn = wrapped
    return register(verifier, replace=True)


def get_verifier(dataset: str) -> Verifier:
    """The verifier for a `dataset` column value (case-insensitive, aliases allowed)."""
    key = str(dataset).strip().lower()
    name = _ALIASES.get(key)
    if name is None:
        raise CaravanError(
            f"no verifier for dataset {dataset!r}; known: {', '.join(sorted(_REGISTRY))} "
            f"(aliases: {', '.join(sorted(k for k in _ALIASES if k not in _REGISTRY))})"
        )
    return _REGISTRY[name]


def known_verifiers() -> list[str]:
    return sorted(_REGISTRY)


register(Verifier("gsm8k", "caravan.verifiers.registry:gsm8k_check", ("gsm", "gsm8k_train"),
                  doc="last number vs the gold after ####"))  # fmt: skip
register(Verifier("math", "caravan.verifiers.registry:math_check", ("math_flex", "minerva_math",
                  "math500", "hendrycks_math"), "caravan.verifiers.registry:math_check_batch",
                  doc="Math-Verify-style reading, string/numeric path, sympy with timeout"))  # fmt: skip
register(Verifier("ifeval", "caravan.verifiers.registry:ifeval_check", ("if", "ifeval_like",
                  "instruction_following", "if_functions"), "caravan.verifiers.registry:ifeval_check_batch",
                  doc="IFEval and extended constraints (verifiers.ifeval)"))  # fmt: skip
register(Verifier("code", "caravan.verifiers.registry:code_check", ("python", "code_stdio",
                  "code_assert"), "caravan.verifiers.registry:code_check_batch",
                  doc="pass fraction of tests in the sandbox"))  # fmt: skip
