"""What a constraint is: how its kwargs are validated and how a response is checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RELATIONS = ("less than", "at least")

Kwargs = dict[str, Any]


class KwargsError(ValueError):
    """A constraint's kwargs are missing or malformed (turned into CaravanError upstream)."""


@dataclass(frozen=True)
class ConstraintSpec:
    """One instruction id: ``prepare`` normalises kwargs once, ``check`` tests a response."""

    instruction_id: str
    prepare: Callable[[Mapping[str, Any], str | None], Kwargs]
    check: Callable[[str, Kwargs], bool]
    source: str  # "ifeval" (the 25 benchmark ids) or "extra" (training-only ids)
    needs_prompt: bool = False  # falls back to the prompt for `prompt_to_repeat`


# --- kwarg readers: one clear message per kind of mistake ---------------------------------


def req(kw: Mapping[str, Any], name: str) -> Any:
    value = kw.get(name)
    if value is None:
        raise KwargsError(f"missing kwarg {name!r}")
    return value


def as_int(kw: Mapping[str, Any], name: str, *, minimum: int | None = 0) -> int:
    value = req(kw, name)
    if isinstance(value, bool):
        raise KwargsError(f"kwarg {name!r} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise KwargsError(f"kwarg {name!r} must be an integer, got {value!r}") from None
    if number != value and not (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        raise KwargsError(f"kwarg {name!r} must be an integer, got {value!r}")
    if minimum is not None and number < minimum:
        raise KwargsError(f"kwarg {name!r} must be >= {minimum}, got {number}")
    return number


def as_str(kw: Mapping[str, Any], name: str, *, strip: bool = True) -> str:
    value = req(kw, name)
    if isinstance(value, list | tuple) and value and isinstance(value[0], str):
        value = value[0]  # some generated labels wrap a single word in a list
    if not isinstance(value, str):
        raise KwargsError(f"kwarg {name!r} must be a string, got {value!r}")
    value = value.strip() if strip else value
    if not value:
        raise KwargsError(f"kwarg {name!r} must not be empty")
    return value


def as_words(kw: Mapping[str, Any], name: str) -> list[str]:
    value = req(kw, name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise KwargsError(f"kwarg {name!r} must be a list of strings, got {value!r}")
    if not value:
        raise KwargsError(f"kwarg {name!r} must not be empty")
    return list(value)


def as_relation(kw: Mapping[str, Any], name: str = "relation") -> str:
    value = req(kw, name)
    if value not in RELATIONS:
        raise KwargsError(f"kwarg {name!r} must be one of {RELATIONS}, got {value!r}")
    return value


def compare(count: int, relation: str, threshold: int) -> bool:
    return count < threshold if relation == "less than" else count >= threshold


def pattern(text: str) -> re.Pattern[str]:
    """The reference treats keywords as regular expressions; a keyword that is not a valid
    expression (``C++``) is matched literally instead of crashing."""
    return _compiled(text)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(text: str) -> re.Pattern[str]:
    found = _CACHE.get(text)
    if found is None:
        try:
            found = re.compile(text, re.IGNORECASE)
        except re.error:
            found = re.compile(re.escape(text), re.IGNORECASE)
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[text] = found
    return found
