"""Every shipped accelerate config x every shipped recipe builds a valid trainer configuration.

No GPU here, so the test rebuilds what a launch on the cluster would see: the environment
`accelerate launch` derives from the config file and our command line, the FSDP plugin
accelerate builds from that environment, and the TRL config our runner builds from the
resolved recipe; then it checks the invariants that otherwise fail only on 8xH100.
"""

from importlib import resources
from types import SimpleNamespace

import pytest
from caravan.train_adapters.recipe import load_recipe, shipped_recipes
from caravan.train_adapters.resolve import accelerate_settings, resolve, trl_config_class

FOLDER = resources.files("caravan.train_adapters") / "accelerate"
CONFIGS = sorted(p.name[:-5] for p in FOLDER.iterdir() if p.name.endswith(".yaml"))
FSDP_CONFIGS = [c for c in CONFIGS if accelerate_settings(c).get("distributed_type") == "FSDP"]


def launch_environment(command):
    """The ACCELERATE_*/FSDP_* variables `accelerate launch` would give the workers."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    assert command[1:3] == ["-m", "accelerate.commands.launch"], command
    args = launch_command_parser().parse_args(command[3:])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args)
    return {k: v for k, v in env.items() if k.startswith(("ACCELERATE_", "FSDP_"))}


def test_shipped_configs_cover_one_gpu_one_node_and_multi_node():
    assert FSDP_CONFIGS == ["fsdp2-1gpu", "fsdp2-8gpu", "fsdp2-multinode"]
    cpu = accelerate_settings("cpu-multiprocess")
    assert cpu["distributed_type"] != "FSDP" and cpu["mixed_precision"] == "no"


@pytest.mark.parametrize("config", FSDP_CONFIGS)
@pytest.mark.parametrize("recipe_name", shipped_recipes())
def test_trainer_configuration_holds_the_invariants(monkeypatch, tmp_path, config, recipe_name):
    import torch.distributed as dist
    import transformers.training_args as targs
    from accelerate.utils import FullyShardedDataParallelPlugin
    from caravan.train_adapters.grpo import grpo_kwargs
    from caravan.train_adapters.model_loading import loads_on_meta_device
    from caravan.train_adapters.saving import save_final

    settings = accelerate_settings(config)
    recipe = load_recipe(
        recipe_name,
        [
            f"launch.accelerate_config={config}",
            f"launch.num_processes={settings['num_processes']}",
            f"launch.num_machines={settings['num_machines']}",
        ],
    )
    resolved = resolve(recipe, str(tmp_path / "out"))
    env = launch_environment(resolved.launch_command)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()

    monkeypatch.setattr(targs, "is_torch_bf16_gpu_available", lambda: True)  # an H100
    kwargs = dict(resolved.trl_kwargs)
    if recipe.stage == "grpo":
        kwargs = grpo_kwargs(kwargs, recipe.grpo)
    args = trl_config_class(recipe.stage)(**kwargs)

    assert plugin.fsdp_version == 2
    # One owner of activation checkpointing (transformers raises when both are on), and on.
    assert [plugin.activation_checkpointing, args.activation_checkpointing].count(True) == 1
    # bf16 everywhere: launcher mixed precision and the TRL config agree.
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16" and args.bf16 and not args.fp16
    # Memory-efficient loading: every rank but local 0 builds the model on the meta device.
    assert plugin.cpu_ram_efficient_loading
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert loads_on_meta_device()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not loads_on_meta_device()
    # Checkpoints sharded; the final save gathers full weights that transformers can load.
    assert "SHARDED_STATE_DICT" in str(plugin.state_dict_type)
    seen = {}

    def save_model(path):
        seen["type"] = str(plugin.state_dict_type)
        seen["config"] = plugin.state_dict_config

    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(
            state=SimpleNamespace(fsdp_plugin=plugin),
            is_main_process=True,
            wait_for_everyone=lambda: None,
        ),
        save_model=save_model,
    )
    save_final(trainer, SimpleNamespace(save_pretrained=lambda path: None), tmp_path / "final")
    assert "FULL_STATE_DICT" in seen["type"]
    assert seen["config"].offload_to_cpu and seen["config"].rank0_only
    # A summed SFT loss comes with explicit clipping; Tülu SFT batches count examples.
    if recipe.stage == "sft":
        assert "max_grad_norm" in recipe.trl and args.packing is False
