"""CLI options generated from documented settings dataclasses (TRL's pattern).

A field's `metadata={"help": ...}` is its documentation and its `--option` help alike, so
a setting is described once; `metadata["flag"]` spells the option when the field name is
not what users type (`timeout_s` -> `--timeout`). Booleans become `--flag/--no-flag`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the non-None type, whether None is allowed)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), True
    return hint, False


def option_name(field_name: str, prefix: str = "") -> str:
    return "--" + prefix + field_name.replace("_", "-")


def dataclass_options(cls: type, prefix: str = "") -> Callable[[Callable], Callable]:
    """A decorator adding one click option per documented field of dataclass `cls`."""
    hints = typing.get_type_hints(cls)

    def decorate(fn: Callable) -> Callable:
        for f in reversed(dataclasses.fields(cls)):
            help_text = f.metadata.get("help")
            if help_text is None:
                continue
            typ, _ = _base_type(hints[f.name])
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else f.default_factory()
                if f.default_factory is not dataclasses.MISSING
                else None
            )
            flag = f.metadata.get("flag", f.name.replace("_", "-"))  # the option's spelling
            name = "--" + prefix + flag
            dest = prefix.replace("-", "_") + f.name
            if typ is bool:
                decl = [f"{name}/--no-{prefix}{flag}", dest]
                fn = click.option(*decl, default=default, show_default=True, help=help_text)(fn)
                continue
            click_type = {int: int, float: float, Path: click.Path(path_type=Path)}.get(typ, str)
            fn = click.option(
                name, dest, type=click_type, default=default, show_default=default is not None,
                help=help_text,
            )(fn)  # fmt: skip
        return fn

    return decorate


def pop_dataclass(cls: type, opts: dict[str, Any], prefix: str = "") -> Any:
    """Build `cls` from (and remove from `opts`) the options `dataclass_options` added."""
    values = {}
    for f in dataclasses.fields(cls):
        key = prefix.replace("-", "_") + f.name
        if f.metadata.get("help") is not None and key in opts:
            values[f.name] = opts.pop(key)
    return cls(**values)
