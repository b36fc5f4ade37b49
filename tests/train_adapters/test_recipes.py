import pytest
from click.testing import CliRunner

from caravan.errors import CaravanError
from train_adapters.cli import cli
from train_adapters.recipe import load_recipe, shipped_recipes
from train_adapters.resolve import resolve

EXPECTED = {
    "tulu3-8b-sft",
    "tulu3-8b-dpo",
    "tulu31-8b-grpo",
    "reasoning-8b-sft",
    "deepscaler-1.5b-grpo",
}


def test_every_shipped_recipe_resolves_in_dry_run():
    assert set(shipped_recipes()) == EXPECTED
    runner = CliRunner()
    for name in shipped_recipes():
        stage = load_recipe(name).stage
        result = runner.invoke(cli, [stage, "--recipe", name, "--dry-run"])
        assert result.exit_code == 0, result.output
        assert f"# recipe {name} ({stage})" in result.output
        assert "output_dir: runs/" + name in result.output
        assert "# launch: accelerate launch --config_file" in result.output
        assert "fsdp2-8gpu.yaml --num_processes 8" in result.output


def test_tulu_numbers_reach_the_trl_config():
    sft = resolve(load_recipe("tulu3-8b-sft")).trl_kwargs
    assert (sft["learning_rate"], sft["num_train_epochs"], sft["max_length"]) == (5e-6, 2, 4096)
    assert sft["warmup_steps"] == 0.03 and sft["lr_scheduler_type"] == "linear"
    assert sft["per_device_train_batch_size"] * 8 * sft["gradient_accumulation_steps"] == 128
    grpo = resolve(load_recipe("tulu31-8b-grpo")).trl_kwargs
    assert grpo["beta"] == 0.01 and grpo["num_generations"] == 16 and grpo["learning_rate"] == 5e-7
    # 48 prompts x 16 samples = 768 per generation, in 2 optimizer steps.
    assert grpo["per_device_train_batch_size"] * 8 * grpo["steps_per_generation"] == 768
    assert grpo["steps_per_generation"] == 2 * grpo["gradient_accumulation_steps"]
    ds = resolve(load_recipe("deepscaler-1.5b-grpo")).trl_kwargs
    assert (ds["temperature"], ds["beta"], ds["num_generations"]) == (0.6, 0.001, 8)


def test_overrides_and_single_process_launch(tmp_path):
    recipe = load_recipe(
        "tulu3-8b-sft",
        [
            "trl.learning_rate=1e-6",
            "launch.num_processes=1",
            "effective_batch_size=4",
            "model=/models/x",
        ],
    )
    resolved = resolve(recipe, str(tmp_path))
    assert resolved.trl_kwargs["learning_rate"] == 1e-6
    assert resolved.trl_kwargs["gradient_accumulation_steps"] == 4
    assert resolved.launch_command[1:3] == ["-m", "train_adapters.run"]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["trl.learnin_rate=1"], "unknown trl key(s) for SFTConfig: ['learnin_rate']"),
        (["sft.loss_reduction=avg"], "sft.loss_reduction: Input should be 'sum' or 'mean'"),
        (["epochs=2"], "epochs: Extra inputs are not permitted"),
        (["effective_batch_size=100"], "not divisible"),
        (["trl.output_dir=x"], "not under trl:"),
        (
            ["launch.accelerate_config=nope", "launch.num_processes=2", "effective_batch_size=2"],
            "no accelerate config 'nope'",
        ),
        (["trl"], "must look like key=value"),
    ],
)
def test_bad_recipe_keys_are_clear_errors(overrides, needle):
    with pytest.raises(CaravanError) as info:
        resolve(load_recipe("tulu3-8b-sft", overrides))
    assert needle in str(info.value)


def test_unknown_recipe_lists_shipped_ones():
    with pytest.raises(CaravanError, match="shipped: deepscaler-1.5b-grpo"):
        load_recipe("tulu4")


def test_stage_mismatch_is_an_error():
    result = CliRunner().invoke(cli, ["dpo", "--recipe", "tulu3-8b-sft", "--dry-run"])
    assert result.exit_code == 1


def test_vllm_generation_options_pass_through_to_trl():
    result = CliRunner().invoke(
        cli,
        [
            "grpo",
            "--recipe",
            "tulu31-8b-grpo",
            "--dry-run",
            "trl.vllm_mode=server",
            "trl.vllm_server_base_url=http://10.0.0.5:8000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "vllm_mode: server" in result.output
    assert "vllm_server_base_url: http://10.0.0.5:8000" in result.output
    assert "use_vllm: true" in result.output


def test_multi_node_launch_takes_rank_and_address_from_the_environment(monkeypatch):
    monkeypatch.setenv("MACHINE_RANK", "3")
    monkeypatch.setenv("MAIN_PROCESS_IP", "10.1.2.3")
    recipe = load_recipe(
        "tulu3-8b-sft",
        [
            "launch.accelerate_config=fsdp2-multinode",
            "launch.num_machines=4",
            "launch.num_processes=32",
        ],
    )
    command = resolve(recipe).launch_command
    assert command[:3] == ["accelerate", "launch", "--config_file"]
    assert command[3].endswith("fsdp2-multinode.yaml")
    joined = " ".join(command)
    assert (
        "--num_processes 32 --num_machines 4 --machine_rank 3 --main_process_ip 10.1.2.3" in joined
    )
