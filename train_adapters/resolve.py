"""Turn a recipe into the exact TRL config kwargs and the launch command.

Nothing here loads a model or builds a TRL config object (a bf16 config cannot even be
built on a CPU box), so `--dry-run` works anywhere and bad keys fail in a second.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError
from train_adapters.recipe import Recipe


def trl_config_class(stage: str) -> type:
    try:
        import trl
    except ImportError as exc:
        raise CaravanError(
            "training needs the train extra: pip install 'caravan[train]' "
            "(install the torch build for your machine first)"
        ) from exc
    return {"sft": trl.SFTConfig, "dpo": trl.DPOConfig, "grpo": trl.GRPOConfig}[stage]


def trl_fields(stage: str) -> set[str]:
    return {f.name for f in dataclasses.fields(trl_config_class(stage)) if f.init}


@dataclass
class Resolved:
    """A recipe made concrete: TRL kwargs, where it writes, and how it launches."""

    recipe: Recipe
    trl_kwargs: dict[str, Any]
    output_dir: str
    launch_command: list[str]
    notes: list[str]


def _divide(total: int, by: int, what: str) -> int:
    if by <= 0 or total % by:
        raise CaravanError(f"{what}: {total} is not divisible by {by}")
    return total // by


def _batch_kwargs(recipe: Recipe, kw: dict[str, Any], notes: list[str]) -> None:
    procs = recipe.launch.num_processes
    per_device = int(kw.get("per_device_train_batch_size", 8))
    kw["per_device_train_batch_size"] = per_device
    if recipe.stage == "grpo":
        g = recipe.grpo
        num_generations = int(kw.get("num_generations", 8))
        rollout = g.prompts_per_step * num_generations
        mini = _divide(rollout, g.mini_batches, "samples per step / mini_batches")
        accum = _divide(
            mini, per_device * procs, "mini-batch size / (per_device_train_batch_size x processes)"
        )
        kw["gradient_accumulation_steps"] = accum
        kw["steps_per_generation"] = accum * g.mini_batches
        notes.append(
            f"rollout {g.prompts_per_step} prompts x {num_generations} samples = {rollout} per "
            f"step, {g.mini_batches} mini-batch(es) of {mini} = {per_device} per device x "
            f"{procs} processes x {accum} accumulation steps"
        )
        return
    if recipe.effective_batch_size is not None:
        accum = _divide(
            recipe.effective_batch_size,
            per_device * procs,
            "effective_batch_size / (per_device_train_batch_size x processes)",
        )
        kw["gradient_accumulation_steps"] = accum
        notes.append(
            f"effective batch {recipe.effective_batch_size} = {per_device} per device x "
            f"{procs} processes x {accum} accumulation steps"
        )


def accelerate_config_path(name_or_path: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    res = resources.files("train_adapters") / "accelerate" / f"{name_or_path}.yaml"
    if not res.is_file():
        shipped = sorted(
            p.name[:-5]
            for p in (resources.files("train_adapters") / "accelerate").iterdir()
            if p.name.endswith(".yaml")
        )
        raise CaravanError(f"no accelerate config {name_or_path!r}; shipped: {', '.join(shipped)}")
    return Path(str(res))


def resolve(recipe: Recipe, output_dir: str | None = None) -> Resolved:
    """Check every TRL key, derive batch sizes, fix the output dir and launch command."""
    allowed = trl_fields(recipe.stage)
    unknown = sorted(set(recipe.trl) - allowed)
    if unknown:
        cls = trl_config_class(recipe.stage).__name__
        raise CaravanError(f"recipe {recipe.name}: unknown trl key(s) for {cls}: {unknown}")
    ours = {"output_dir", "gradient_accumulation_steps", "steps_per_generation"} & set(recipe.trl)
    if ours:
        raise CaravanError(
            f"recipe {recipe.name}: set {sorted(ours)} through the recipe (effective_batch_size, "
            "grpo.*, --output-dir), not under trl:"
        )
    notes: list[str] = []
    kw = dict(recipe.trl)
    _batch_kwargs(recipe, kw, notes)
    out = output_dir or recipe.output_dir or str(Path("runs") / recipe.name)
    kw["output_dir"] = out
    if recipe.stage == "sft" and recipe.sft.loss_reduction == "sum":
        kw["average_tokens_across_devices"] = False
        notes.append("loss: sum over assistant tokens (Tülu 3), not the per-token mean")
    if recipe.stage == "dpo" and recipe.dpo.cache_reference_log_probs:
        kw["precompute_ref_log_probs"] = True
    command = launch_command(recipe, out)
    return Resolved(recipe, kw, out, command, notes)


def launch_command(recipe: Recipe, output_dir: str) -> list[str]:
    """One process runs in place; several go through `accelerate launch` with FSDP2."""
    runner = ["-m", "train_adapters.run", str(Path(output_dir) / "caravan_recipe.yaml")]
    if recipe.launch.num_processes == 1 and recipe.launch.num_machines == 1:
        return [sys.executable, *runner]
    config = accelerate_config_path(recipe.launch.accelerate_config)
    command = [
        "accelerate",
        "launch",
        "--config_file",
        str(config),
        "--num_processes",
        str(recipe.launch.num_processes),
        "--num_machines",
        str(recipe.launch.num_machines),
    ]
    if recipe.launch.num_machines > 1:
        # Each node runs the same command; the scheduler sets these per node (e.g. Slurm).
        command += [
            "--machine_rank",
            os.environ.get("MACHINE_RANK", "0"),
            "--main_process_ip",
            os.environ.get("MAIN_PROCESS_IP", "127.0.0.1"),
            "--main_process_port",
            os.environ.get("MAIN_PROCESS_PORT", "29500"),
        ]
    return [*command, *runner]


def format_command(command: list[str]) -> str:
    return shlex.join(command)
