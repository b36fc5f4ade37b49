"""A pipeline's optional `train:` step: train on a file the pipeline wrote.

    - write: {path: sft.parquet, kind: sft}
    - train: {method: sft, recipe: tulu3-8b-sft, data: sft.parquet, output_dir: sft-model,
              overrides: {model: my/base, trl.max_steps: 100}, when: "{train}"}

`data` names files written by earlier `write` steps (default: the last one; `NAME=0.5` or
`NAME=5000` takes part of one, as `train --data` does); `output_dir` is under the pipeline's
output folder (default `models/<method>`). The step runs where it stands, so only after
every earlier step, decontamination gates included, passed: a failed gate stops the run
before it. It calls the same entry as `train sft|dpo|grpo` (`train_adapters.entry`), so a
multi-process recipe launches through accelerate. Mistakes (keys, recipe, a `trl.*` override
of the wrong type) are found when the file loads, before any model is called.
`caravan run --dry-run` or `dry_run: true` runs the train dry run and trains nothing;
`when: false` skips the step. run.json records the recipe and its resolved config, secrets
masked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError

KEYS = ("method", "recipe", "data", "output_dir", "overrides", "dry_run", "when")
KINDS = {"sft": "sft", "dpo": "preference", "grpo": "rlvr"}  # method -> record kind it reads
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")


@dataclass
class TrainSpec:
    method: str
    recipe: str
    data: list[str]  # PATH[=FRACTION|COUNT], paths under the pipeline's output
    output_dir: Path
    overrides: list[str]  # key=value, as `train` takes them
    dry_run: bool
    enabled: bool


def _flag(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise CaravanError(f"{where}: `{key}` must be true or false, got {value!r}")


def _overrides(values: Any, where: str, prefix: str = "") -> list[str]:
    """`{trl: {max_steps: 2}, model: x}` or `{trl.max_steps: 2}` -> ["trl.max_steps=2", ...];
    values travel as YAML (JSON is YAML), so types survive."""
    if not isinstance(values, dict):
        raise CaravanError(f"{where}: `overrides` is a mapping of recipe keys to values")
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _overrides(value, where, f"{prefix}{key}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(f"{prefix}{key}={text}")
    return out


def _writes(steps: list[Any], before: int) -> list[tuple[str, str | None]]:
    """(path, kind) of every `write` step before step `before`, in order."""
    found = []
    for step in steps[:before]:
        if step.op == "write":
            spec = step.args if isinstance(step.args, dict) else {"path": step.args}
            found.append((str(spec.get("path")), spec.get("kind")))
    return found


def train_spec(source: str, output: Path, steps: list[Any], step: Any) -> TrainSpec:
    """Check a `train:` step against the file's earlier writes; its settings, made concrete."""
    where = f"{source} step {step.index + 1} (train)"
    args = step.args
    if not isinstance(args, dict):
        raise CaravanError(f"{where}: settings must be a mapping like {{method: sft, recipe: ...}}")
    unknown = sorted(set(args) - set(KEYS))
    if unknown:
        raise CaravanError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    method = args.get("method")
    if method not in KINDS:
        raise CaravanError(f"{where}: `method` must be one of {', '.join(KINDS)}, got {method!r}")
    if not args.get("recipe"):
        raise CaravanError(f"{where}: `recipe` names a shipped recipe or a recipe file")
    writes = _writes(steps, step.index)
    if not writes:
        raise CaravanError(f"{where}: nothing to train on: no `write` step before it")
    asked = args.get("data") if args.get("data") is not None else writes[-1][0]
    data = []
    for item in asked if isinstance(asked, list) else [asked]:
        text = str(item)
        name, sep, share = text.rpartition("=") if "=" in text else (text, "", "")
        kind = next((k for p, k in writes if Path(p) == Path(name)), "missing")
        if kind == "missing":
            written = ", ".join(p for p, _ in writes)
            raise CaravanError(f"{where}: data {name!r} is no file written before it ({written})")
        if kind is not None and kind != KINDS[method]:
            raise CaravanError(
                f"{where}: {method} trains on {KINDS[method]} records; {name} is written as {kind}"
            )
        data.append(f"{output / name}{sep}{share}")
    return TrainSpec(
        method=method,
        recipe=str(args["recipe"]),
        data=data,
        output_dir=output / str(args.get("output_dir") or Path("models") / method),
        overrides=_overrides(args.get("overrides") or {}, where),
        dry_run=_flag(args.get("dry_run", False), "dry_run", where),
        enabled=_flag(args.get("when", True), "when", where),
    )


def _prepare(spec: TrainSpec, where: str) -> Any:
    from caravan.train_adapters.entry import prepare

    try:
        return prepare(spec.method, spec.recipe, spec.overrides, spec.data, str(spec.output_dir))
    except CaravanError as exc:
        raise CaravanError(f"{where}: {exc}") from exc


def check_train_steps(pipe: Any) -> None:
    """Every enabled `train:` step resolves (recipe, method, `trl.*` keys and types) before
    the pipeline calls a model: a typo must not cost a paid run."""
    for step in pipe.steps:
        if step.op == "train":
            spec = train_spec(pipe.source, pipe.output, pipe.steps, step)
            if spec.enabled:
                _prepare(spec, f"{pipe.source} step {step.index + 1} (train)")


def run_train(pipe: Any, step: Any, report: Any, *, dry: bool, log: Callable[[str], None]) -> None:
    """Run one `train:` step: the train dry run (pipeline `--dry-run` or `dry_run: true`),
    else the training; what it did goes into the report (and so into run.json)."""
    from caravan.secrets import redact_text
    from caravan.train_adapters.entry import dry_run_lines, launch, public_record

    spec = train_spec(pipe.source, pipe.output, pipe.steps, step)
    if not spec.enabled:
        (report.dry_run.append if dry else log)(f"{step.label}: skipped (when: false)")
        return
    resolved = _prepare(spec, f"{pipe.source} step {step.index + 1} (train)")
    record: dict[str, Any] = {"method": spec.method, "recipe": spec.recipe, "data": spec.data,
                              "output_dir": str(spec.output_dir), "config": public_record(resolved)}  # fmt: skip
    if dry or spec.dry_run:
        lines = dry_run_lines(resolved, read_data=not dry)
        header = f"{step.label}: would train ({spec.method}, recipe {resolved.recipe.name})"
        if dry:
            report.dry_run += [header, *("  " + line for line in lines)]
            return
        for line in [header, *lines]:
            log(line)
        report.steps.append({"stage": step.label, "settings": {**record, "dry_run": True},
                             "counters": {}})  # fmt: skip
        return
    log(f"{step.label}: training ({spec.method}, recipe {resolved.recipe.name}) "
        f"-> {redact_text(str(spec.output_dir))}")  # fmt: skip
    final = launch(resolved, "auto", say=log)
    report.steps.append({"stage": step.label, "settings": record, "counters": {},
                         "final": str(final)})  # fmt: skip
    report.outputs.append({"path": str(final), "kind": "model", "method": spec.method})
    log(f"{step.label}: trained model saved to {final}")
