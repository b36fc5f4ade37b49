"""One training run from a recipe: what `train sft|dpo|grpo` and a pipeline's `train:` step
both call, so the two cannot drift.

`prepare` loads the recipe with its overrides, checks it is a recipe for the stage asked
for and resolves it (every `trl.*` key and its type checked, batch sizes derived, the launch
command fixed); `dry_run_lines` reads and checks every data source and describes the run,
secrets masked; `launch` trains in this process, or through `accelerate launch` when the
recipe asks for several processes, and returns the final model's folder.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from caravan.errors import CaravanError
from caravan.secrets import redact, redact_text

if TYPE_CHECKING:
    from caravan.train_adapters.resolve import Resolved


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def prepare(
    stage: str,
    recipe_name: str,
    overrides: list[str] | None = None,
    data: list[str] | None = None,
    output_dir: str | None = None,
) -> Resolved:
    """The resolved recipe; `data` (`PATH[=FRACTION|COUNT]` items) replaces the recipe's."""
    from caravan.train_adapters.mixer import parse_data_args
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve

    recipe = load_recipe(recipe_name, list(overrides or []))
    if recipe.stage != stage:
        raise CaravanError(
            f"recipe {recipe.name} is a {recipe.stage} recipe; run it with `train {recipe.stage}`"
        )
    if data:
        recipe.data = parse_data_args(list(data))
        recipe.data_format = {k: v for k, v in recipe.data_format.items() if k in recipe.data}
    return resolve(recipe, output_dir)


def dry_run_lines(resolved: Resolved, *, read_data: bool = True) -> list[str]:
    """Everything short of loading a model: data read and validated (unless `read_data` is
    false, e.g. a file a pipeline dry run has not written), config shown masked."""
    from caravan.train_adapters.resolve import format_command

    recipe = resolved.recipe
    lines = [
        f"# recipe {recipe.name} ({recipe.stage}) -> {redact_text(resolved.output_dir)}",
        f"# model: {redact_text(recipe.model)}",
    ]
    if read_data:
        from caravan.train_adapters.mixer import build_mixture

        seed = int(resolved.trl_kwargs.get("seed", 8))
        table, report = build_mixture(recipe.data, recipe.stage, recipe.data_format, seed=seed)
        for name in recipe.data:
            fmt = recipe.data_format.get(name, "records")
            skipped = len(report.skipped.get(name, []))
            lines.append(
                f"# data: {redact_text(name)}: {report.taken[name]} of {report.available[name]} "
                f"rows ({fmt}{f', {skipped} skipped' if skipped else ''})"
            )
        lines.append(f"# data: {table.num_rows} rows in all")
    else:
        lines += [
            f"# data: {redact_text(name)} (not read: not written yet)" for name in recipe.data
        ]
    lines += [f"# {note}" for note in resolved.notes]
    lines += yaml.safe_dump(redact({"trl": resolved.trl_kwargs}), sort_keys=True).splitlines()
    lines.append(f"# launch: {redact_text(format_command(resolved.launch_command))}")
    return lines


def launch(resolved: Resolved, resume: str = "auto", say: Callable[[str], None] = _stderr) -> Path:
    """Train; returns the folder of the final model. One process trains here; several are
    started with `accelerate launch` (CPU processes with gloo when there is no CUDA)."""
    from caravan.train_adapters.recipe_file import child_environment, write_resolved_recipe
    from caravan.train_adapters.resolve import format_command, launch_command
    from caravan.train_adapters.resume import check_config

    check_config(resolved, resume)  # refuse before the frozen recipe is overwritten
    write_resolved_recipe(resolved)
    if resolved.launch_command[1:3] == ["-m", "caravan.train_adapters.run"]:
        from caravan.train_adapters.run import run

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return Path(run(resolved, resume))
    import torch

    command = launch_command(resolved.recipe, resolved.output_dir, cuda=torch.cuda.is_available())
    if command != resolved.launch_command:
        say("note: no CUDA: launching CPU processes (gloo) without FSDP")
    command += ["--resume", resume]
    say(f"launching: {redact_text(format_command(command))}")
    code = subprocess.call(command, env=child_environment(resolved))
    if code:
        raise CaravanError(f"training failed (exit status {code}); see the messages above")
    return Path(resolved.output_dir) / "final"


def public_record(resolved: Resolved) -> dict[str, object]:
    """What a run record keeps of a resolved recipe: everything, secrets masked."""
    from caravan.train_adapters.recipe_file import recipe_data

    return redact({"recipe": recipe_data(resolved), "trl": resolved.trl_kwargs})
