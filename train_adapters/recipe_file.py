"""The frozen recipe beside a run (OUTPUT_DIR/caravan_recipe.yaml), with secrets masked.

Secret-looking values (`trl.hub_token`, a key inside a URL) never reach the file. A launched
run gets them back from the environment variable CARAVAN_TRAIN_SECRETS, which the `train`
command sets for its child processes only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from caravan.secrets import redact

RECIPE_FILE = "caravan_recipe.yaml"
SECRETS_ENV = "CARAVAN_TRAIN_SECRETS"


def recipe_data(resolved: Any) -> dict[str, Any]:
    data = resolved.recipe.model_dump()
    data["output_dir"] = resolved.output_dir
    return data


def masked_values(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> original value, for every leaf that `redact` would change."""
    out: dict[str, Any] = {}
    masked = redact(data)

    def walk(orig: Any, red: Any, path: str) -> None:
        if isinstance(orig, dict):
            for key, value in orig.items():
                walk(value, red.get(key) if isinstance(red, dict) else None, f"{path}{key}.")
        elif orig != red:
            out[path.rstrip(".")] = orig

    walk(data, masked, prefix)
    return out


def restore_secrets(data: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in secrets.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


def secrets_from_env() -> dict[str, Any]:
    raw = os.environ.get(SECRETS_ENV)
    return json.loads(raw) if raw else {}


def child_environment(resolved: Any) -> dict[str, str]:
    """The environment for launched processes: ours plus the recipe's masked values."""
    env = os.environ.copy()
    secrets = masked_values(recipe_data(resolved))
    if secrets:
        env[SECRETS_ENV] = json.dumps(secrets)
    return env


def write_resolved_recipe(resolved: Any) -> Path:
    """Freeze the recipe (overrides applied, secrets masked) beside the run."""
    from caravan.records.writers import atomic_path

    path = Path(resolved.output_dir) / RECIPE_FILE
    with atomic_path(path, "w") as fh:
        yaml.safe_dump(redact(recipe_data(resolved)), fh, sort_keys=False, allow_unicode=True)
    return path
