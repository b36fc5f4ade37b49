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

from caravan.train_adapters.recipe import Recipe
from caravan.train_adapters.trl_types import check_trl_types

from caravan.errors import CaravanError
from caravan.yaml_config import load_yaml

CPU_LAUNCH_CONFIG = "cpu-multiprocess"


def trl_config_class(stage: str) -> type:
    try:
        import trl
    except ImportError as exc:
        raise CaravanError(
            "training needs the train extra: pip install 'caravan-posttrain[train]' "
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
    res = resources.files("caravan.train_adapters") / "accelerate" / f"{name_or_path}.yaml"
    if not res.is_file():
        shipped = sorted(
            p.name[:-5]
            for p in (resources.files("caravan.train_adapters") / "accelerate").iterdir()
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
    check_trl_types(trl_config_class(recipe.stage), recipe.trl, f"recipe {recipe.name}")
    notes: list[str] = []
    kw = dict(recipe.trl)
    _batch_kwargs(recipe, kw, notes)
    out = output_dir or recipe.output_dir or str(Path("runs") / recipe.name)
    kw["output_dir"] = out
    if recipe.stage == "sft":
        _sft_loss_kwargs(recipe, kw, notes)
    if recipe.stage == "dpo":
        _dpo_reference_kwargs(recipe, kw, notes)
    if uses_accelerate(recipe):
        _accelerate_kwargs(recipe, kw, notes)
    command = launch_command(recipe, out)
    return Resolved(recipe, kw, out, command, notes)


def _sft_loss_kwargs(recipe: Recipe, kw: dict[str, Any], notes: list[str]) -> None:
    """With a summed loss the gradient norm grows with the token count: clipping must be chosen."""
    if recipe.sft.loss_reduction == "sum":
        if "max_grad_norm" not in recipe.trl:
            raise CaravanError(
                f"recipe {recipe.name}: sft.loss_reduction=sum needs an explicit trl.max_grad_norm "
                "(a summed loss has gradient norms in the hundreds, so TRL's default clipping at "
                "1.0 would fire on every step; 0 turns clipping off)"
            )
        kw["average_tokens_across_devices"] = False
        notes.append("loss: sum over assistant tokens (Tülu 3), not the per-token mean")
    clip = kw.get("max_grad_norm")
    notes.append(f"gradient clipping: max_grad_norm={clip}" if clip else "gradient clipping: off")


def _dpo_reference_kwargs(recipe: Recipe, kw: dict[str, Any], notes: list[str]) -> None:
    """Precompute reference log-probs unless the recipe explicitly says not to."""
    explicit = recipe.trl.get("precompute_ref_log_probs")
    if explicit is None:
        kw["precompute_ref_log_probs"] = True
    if kw["precompute_ref_log_probs"]:
        where = "Caravan's cache" if recipe.dpo.cache_reference_log_probs else "memory only"
        notes.append(f"reference log-probs: computed once before training, kept in {where}")
    else:
        notes.append("reference log-probs: the reference model runs beside the policy every step")


def accelerate_settings(name_or_path: str) -> dict[str, Any]:
    """The accelerate config file as a mapping (its `fsdp_config` section included)."""
    path = accelerate_config_path(name_or_path)
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise CaravanError(f"{path}: an accelerate config is a YAML mapping")
    return data


def _accelerate_kwargs(recipe: Recipe, kw: dict[str, Any], notes: list[str]) -> None:
    """One owner of activation checkpointing, and the precision the launcher asks for."""
    settings = accelerate_settings(recipe.launch.accelerate_config)
    fsdp = settings.get("fsdp_config") or {}
    if settings.get("distributed_type") == "FSDP" and fsdp.get("fsdp_activation_checkpointing"):
        asked = [
            k for k in ("gradient_checkpointing", "activation_checkpointing") if recipe.trl.get(k)
        ]
        if asked:
            raise CaravanError(
                f"recipe {recipe.name}: trl.{asked[0]}=true and the accelerate config "
                f"{recipe.launch.accelerate_config!r} sets fsdp_activation_checkpointing; "
                "transformers refuses both, keep one (FSDP's own is cheaper)"
            )
        kw["activation_checkpointing"] = False
        kw.pop("gradient_checkpointing", None)
        notes.append("activation checkpointing: FSDP's (trl gradient_checkpointing off)")
    precision = str(settings.get("mixed_precision", "no"))
    if precision == "bf16" and kw.get("bf16") is False:
        raise CaravanError(
            f"recipe {recipe.name}: the accelerate config asks for bf16 but trl.bf16 is false"
        )


def uses_accelerate(recipe: Recipe) -> bool:
    """Several processes, or one with a config written for one GPU (fsdp2-1gpu), launch
    through accelerate; a single process with a multi-GPU config runs in place."""
    launch = recipe.launch
    if launch.num_processes > 1 or launch.num_machines > 1:
        return True
    return accelerate_settings(launch.accelerate_config).get("num_processes") == 1


def launch_command(recipe: Recipe, output_dir: str, *, cuda: bool = True) -> list[str]:
    """One process runs in place; several go through `accelerate launch` with FSDP2.

    Without CUDA (`cuda=False`) the processes run on the CPU with gloo and no FSDP, so the
    same recipe can be exercised on a laptop or in CI.
    """
    runner = ["-m", "caravan.train_adapters.run", str(Path(output_dir) / "caravan_recipe.yaml")]
    if not uses_accelerate(recipe) or (not cuda and recipe.launch.num_processes == 1):
        return [sys.executable, *runner]
    config = accelerate_config_path(recipe.launch.accelerate_config if cuda else CPU_LAUNCH_CONFIG)
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
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
