"""Resume a run only into the run it was: same resolved config, same data.

The first launch into an output directory writes OUTPUT_DIR/caravan_run.json (the resolved
config with secrets masked, and digests of config and data). A rerun with checkpoints
resumes from the newest one ("resuming from checkpoint-N") when both digests match, and
refuses, naming what changed, when they do not, unless `--resume force`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError
from caravan.secrets import redact

RUN_FILE = "caravan_run.json"
RESUME_MODES = ("auto", "force")


def resolved_config(resolved: Any) -> dict[str, Any]:
    """What decides the run's training trajectory: recipe and TRL kwargs, secrets masked."""
    recipe = resolved.recipe.model_dump()
    recipe.pop("output_dir", None)
    return redact({"recipe": recipe, "trl": resolved.trl_kwargs})


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): obj}


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _flat(old), _flat(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def last_checkpoint(output_dir: str | Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def previous_run(output_dir: str | Path) -> dict[str, Any] | None:
    path = Path(output_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CaravanError(
            f"{path}: unreadable run record ({exc}); move it away to start over"
        ) from exc


def check_config(resolved: Any, mode: str) -> str | None:
    """Before launching: the checkpoint to resume from, or a refusal when the config changed."""
    checkpoint = last_checkpoint(resolved.output_dir)
    if checkpoint is None:
        return None
    before = previous_run(resolved.output_dir)
    config = resolved_config(resolved)
    if before is not None and mode != "force" and before.get("config_sha256") != _digest(config):
        keys = changed_keys(before.get("config", {}), config)
        raise CaravanError(
            f"{resolved.output_dir} holds {Path(checkpoint).name} of a run with a different "
            f"config (changed: {', '.join(keys) or 'unknown'}); use a new --output-dir, or "
            "--resume force to continue from it anyway"
        )
    return checkpoint


def check_data(resolved: Any, data_digest: str, rows: int, mode: str) -> str | None:
    """In the run: refuse a resume onto different data; the checkpoint to resume from."""
    checkpoint = check_config(resolved, mode)
    if checkpoint is None:
        return None
    before = previous_run(resolved.output_dir) or {}
    if mode != "force" and before.get("data_sha256") not in (None, data_digest):
        raise CaravanError(
            f"{resolved.output_dir} holds {Path(checkpoint).name} of a run on different data "
            f"({before.get('data_rows')} rows then, {rows} now, contents differ); use a new "
            "--output-dir, or --resume force to continue from it anyway"
        )
    return checkpoint


def write_run_record(resolved: Any, data_digest: str, rows: int) -> Path:
    from caravan.records.writers import atomic_path

    config = resolved_config(resolved)
    record = {
        "config_sha256": _digest(config),
        "data_sha256": data_digest,
        "data_rows": rows,
        "config": config,
    }
    path = Path(resolved.output_dir) / RUN_FILE
    with atomic_path(path, "w") as fh:
        json.dump(record, fh, indent=2, sort_keys=True, default=str)
    return path
