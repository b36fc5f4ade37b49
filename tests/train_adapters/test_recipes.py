import pytest
from caravan.train_adapters.cli import cli
from caravan.train_adapters.recipe import load_recipe, shipped_recipes
from caravan.train_adapters.resolve import resolve
from click.testing import CliRunner

from caravan.errors import CaravanError

EXPECTED = {
    "tulu3-8b-sft",
    "tulu3-8b-dpo",
    "tulu31-8b-grpo",
    "reasoning-8b-sft",
    "deepscaler-1.5b-grpo",
    "tulu3-70b-sft",
    "tulu3-70b-dpo",
}


@pytest.fixture
def stage_files(sft_file, pref_file, tmp_path):
    from caravan.records import write_records

    rows = [
        {
            "id": f"g{i}",
            "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
            "ground_truth": str(2 * i),
            "dataset": "gsm8k",
        }
        for i in range(4)
    ]
    rl = write_records(rows, tmp_path / "data" / "rl.parquet", "rlvr")
    return {"sft": sft_file, "dpo": pref_file, "grpo": rl}


def test_every_shipped_recipe_resolves_in_dry_run(stage_files):
    assert set(shipped_recipes()) == EXPECTED
    runner = CliRunner()
    for name in shipped_recipes():
        stage = load_recipe(name).stage
        data = str(stage_files[stage])
        result = runner.invoke(cli, [stage, "--recipe", name, "--dry-run", "--data", data])
        assert result.exit_code == 0, result.output
        assert f"# recipe {name} ({stage})" in result.output
        assert "output_dir: runs/" + name in result.output
        assert f"# data: {data}: " in result.output and " rows in all" in result.output
        assert "-m accelerate.commands.launch --config_file" in result.output
        assert "fsdp2-" in result.output and "--num_processes" in result.output


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (
            lambda d: _write(d / "rows.csv", "id,messages\n1,hi\n"),
            "rows.csv: cannot tell the format",
        ),
        (lambda d: _truncated_parquet(d), "cut.parquet: cannot read as parquet"),
        (lambda d: d / "missing.parquet", "no such file or folder: "),
    ],
)
def test_dry_run_reads_every_data_source(tmp_path, sft_file, make, needle):
    bad = make(tmp_path)
    result = CliRunner().invoke(
        cli,
        [
            "sft",
            "--recipe",
            "tulu3-8b-sft",
            "--dry-run",
            "--data",
            str(sft_file),
            "--data",
            str(bad),
        ],
    )
    assert result.exit_code == 1
    assert needle in result.output and "Traceback" not in result.output
    assert str(bad.name) in result.output


def _write(path, text):
    path.write_text(text)
    return path


def _truncated_parquet(folder):
    from caravan.records import write_records

    good = write_records(
        [
            {
                "id": "a",
                "source": "u",
                "messages": [
                    {"role": "user", "content": "x" * 400},
                    {"role": "assistant", "content": "y"},
                ],
            }
        ],
        folder / "full.parquet",
        "sft",
    )
    cut = folder / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-40])
    return cut


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("trl.learning_rate=fast", "trl.learning_rate='fast' is not float"),
        ("trl.max_steps=2.5", "trl.max_steps=2.5 is not int"),
        ("trl.bf16=sometimes", "trl.bf16='sometimes' is not bool"),
        ("trl.lr_scheduler_type=[1]", "trl.lr_scheduler_type=[1] is not"),
    ],
)
def test_dry_run_checks_the_type_of_every_override(sft_file, override, needle):
    result = CliRunner().invoke(
        cli, ["sft", "--recipe", "tulu3-8b-sft", "--dry-run", "--data", str(sft_file), override]
    )
    assert result.exit_code == 1
    assert needle in result.output


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
    sft70 = resolve(load_recipe("tulu3-70b-sft")).trl_kwargs
    dpo70 = resolve(load_recipe("tulu3-70b-dpo")).trl_kwargs
    assert (sft70["learning_rate"], dpo70["learning_rate"]) == (2e-6, 2e-7)
    assert sft70["per_device_train_batch_size"] * 32 * sft70["gradient_accumulation_steps"] == 128
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
    assert resolved.launch_command[1:3] == ["-m", "caravan.train_adapters.run"]


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


def test_vllm_generation_options_pass_through_to_trl(stage_files):
    result = CliRunner().invoke(
        cli,
        [
            "grpo",
            "--recipe",
            "tulu31-8b-grpo",
            "--dry-run",
            "--data",
            str(stage_files["grpo"]),
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
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--config_file"]
    assert command[4].endswith("fsdp2-multinode.yaml")
    joined = " ".join(command)
    assert (
        "--num_processes 32 --num_machines 4 --machine_rank 3 --main_process_ip 10.1.2.3" in joined
    )


SECRET = "hf_abcdefghijklmnopqrstuvwx"


def test_secrets_are_masked_in_dry_run_and_in_the_saved_recipe(tmp_path, monkeypatch, sft_file):
    import yaml
    from caravan.train_adapters.recipe_file import (
        SECRETS_ENV,
        child_environment,
        write_resolved_recipe,
    )
    from caravan.train_adapters.run import load_resolved

    args = ["--data", str(sft_file), f"trl.hub_token={SECRET}", "trl.hub_model_id=org/m"]
    result = CliRunner().invoke(cli, ["sft", "--recipe", "tulu3-8b-sft", "--dry-run", *args])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "hub_token: '***'" in result.output
    assert "hub_model_id: org/m" in result.output

    recipe = load_recipe("tulu3-8b-sft", [f"trl.hub_token={SECRET}", "launch.num_processes=2"])
    resolved = resolve(recipe, str(tmp_path / "run"))
    saved = write_resolved_recipe(resolved)
    text = saved.read_text()
    assert SECRET not in text
    assert yaml.safe_load(text)["trl"]["hub_token"] == "***"
    # launched processes get the value from their environment, never from the file
    env = child_environment(resolved)
    assert SECRET in env[SECRETS_ENV]
    monkeypatch.setenv(SECRETS_ENV, env[SECRETS_ENV])
    assert load_resolved(str(saved)).trl_kwargs["hub_token"] == SECRET


def test_sum_loss_needs_explicit_gradient_clipping(tmp_path):
    from importlib import resources

    import yaml

    text = (resources.files("caravan.train_adapters") / "recipes" / "tulu3-8b-sft.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["trl"]["max_grad_norm"] == 0.0 and data["trl"]["packing"] is False
    del data["trl"]["max_grad_norm"]
    path = tmp_path / "no-clip.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CaravanError, match="needs an explicit trl.max_grad_norm"):
        resolve(load_recipe(str(path)))
    kw = resolve(load_recipe(str(path), ["sft.loss_reduction=mean"])).trl_kwargs
    assert "max_grad_norm" not in kw


def test_explicit_precompute_ref_log_probs_is_honoured():
    kw = resolve(load_recipe("tulu3-8b-dpo", ["trl.precompute_ref_log_probs=false"])).trl_kwargs
    assert kw["precompute_ref_log_probs"] is False
    assert resolve(load_recipe("tulu3-8b-dpo")).trl_kwargs["precompute_ref_log_probs"] is True


def test_activation_checkpointing_has_one_owner():
    kw = resolve(load_recipe("tulu3-8b-sft")).trl_kwargs
    assert kw["activation_checkpointing"] is False  # FSDP's own does it
    single = resolve(load_recipe("tulu3-8b-sft", ["launch.num_processes=1"])).trl_kwargs
    assert "activation_checkpointing" not in single  # no FSDP: TRL's default (on) stays
    with pytest.raises(CaravanError, match="keep one"):
        resolve(load_recipe("tulu3-8b-sft", ["trl.gradient_checkpointing=true"]))
    with pytest.raises(CaravanError, match="asks for bf16 but trl.bf16 is false"):
        resolve(load_recipe("tulu3-8b-sft", ["trl.bf16=false"]))


def test_one_gpu_config_launches_through_accelerate():
    recipe = load_recipe(
        "tulu3-8b-sft",
        ["launch.accelerate_config=fsdp2-1gpu", "launch.num_processes=1"],
    )
    command = resolve(recipe).launch_command
    assert command[2] == "accelerate.commands.launch" and command[4].endswith("fsdp2-1gpu.yaml")


def test_launched_workers_see_the_same_config_as_the_launching_command(tmp_path, monkeypatch):
    """Resume checks run in the workers, on the recipe read back from caravan_recipe.yaml."""
    from caravan.train_adapters.recipe_file import (
        SECRETS_ENV,
        child_environment,
        write_resolved_recipe,
    )
    from caravan.train_adapters.resume import resolved_config
    from caravan.train_adapters.run import load_resolved

    recipe = load_recipe(
        "tulu3-8b-dpo",
        [f"trl.hub_token={SECRET}", "launch.num_processes=2", "effective_batch_size=2"],
    )
    resolved = resolve(recipe, str(tmp_path / "run"))
    saved = write_resolved_recipe(resolved)
    monkeypatch.setenv(SECRETS_ENV, child_environment(resolved)[SECRETS_ENV])
    worker = load_resolved(str(saved))
    assert worker.trl_kwargs == resolved.trl_kwargs
    assert resolved_config(worker) == resolved_config(resolved)
    assert worker.launch_command == resolved.launch_command
