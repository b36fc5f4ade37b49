"""YAML for configs with YAML 1.2 scalars: `no`/`on` stay strings, `1e-6` is a number.

PyYAML follows YAML 1.1, where `save_strategy: no` means False and `lr: 1e-6` is the
string "1e-6". Both bite config files and CLI overrides; this loader fixes both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and floats."""


ConfigLoader.yaml_implicit_resolvers = {
    key: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")
    ]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\d[\d_]*)?\.\d*(?:[eE][-+]?\d+)?|[-+]?\d[\d_]*[eE][-+]?\d+"
        r"|[-+]?\d[\d_]*\.(?:[eE][-+]?\d+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - SafeLoader subclass


def read_yaml_file(path: str | Path, what: str) -> tuple[str, Any]:
    """(text, data) of a YAML file; an unreadable file or bad YAML is one error naming it."""
    from caravan.errors import CaravanError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaravanError(f"{path}: cannot read the {what}: {exc.strerror}") from exc
    try:
        return text, load_yaml(text)
    except Exception as exc:  # noqa: BLE001 - any YAML error becomes one line
        raise CaravanError(f"{path}: not valid YAML: {exc}") from exc
