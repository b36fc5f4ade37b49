"""Check `trl:` values against the type hints of TRL's config class before anything runs.

TRL's config classes accept any value at construction and fail (or silently misbehave) much
later: `learning_rate: fast` would only blow up inside the optimizer, after the model loaded.
The check follows the dataclass annotations: numbers, booleans, strings, enums, lists, dicts,
Literals and unions of them. Annotations it cannot read are accepted, never guessed at.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from caravan.errors import CaravanError


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any or hint is typing.Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return any(value == arg for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple, set):
        return isinstance(value, list | tuple)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            if isinstance(value, hint):
                return True
            return isinstance(value, str | int) and value in {m.value for m in hint}
        if hint is bool:
            return isinstance(value, bool)
        if hint is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        if hint is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if hint in (str, list, dict):
            return isinstance(value, hint)
    return True  # an annotation we do not understand: let TRL judge it


def _describe(hint: Any) -> str:
    text = str(hint).replace("typing.", "")
    return text.removeprefix("<class '").removesuffix("'>")


def check_trl_types(config_class: type, values: dict[str, Any], label: str) -> None:
    """Raise a CaravanError naming every `trl.KEY=value` whose type the config class rejects."""
    try:
        hints = typing.get_type_hints(config_class)
    except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check against
        return
    bad = [
        f"trl.{key}={value!r} is not {_describe(hints[key])}"
        for key, value in values.items()
        if key in hints and not _matches(value, hints[key])
    ]
    if bad:
        raise CaravanError(f"{label}: {'; '.join(bad)}")
