"""`train sft|dpo|grpo ... launch.num_processes=2`: two CPU processes (gloo) end to end.

Each test runs the real `train` command in a fresh interpreter, which launches two workers
through `accelerate launch` (torchrun). Kept tiny (a 2-layer Llama, 2 steps) for CI.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from caravan.records import write_records

from .conftest import CPU_OVERRIDES

ROOT = Path(__file__).resolve().parents[2]
TWO = [*CPU_OVERRIDES, "launch.num_processes=2"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "CARAVAN_DEBUG"}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def train(*args, env=None):
    code = "import sys; from caravan.train_adapters.cli import cli; sys.argv[0] = 'train'; cli()"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=420,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _steps(out):
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    return [e for e in state["log_history"] if "loss" in e]


def test_train_sft_with_two_processes(tmp_path, tiny_model_dir, sft_file):
    out = tmp_path / "run"
    proc = train(
        "sft", "--recipe", "tulu3-8b-sft", "--model", str(tiny_model_dir),
        "--data", str(sft_file), "--output-dir", str(out),
        *TWO, "trl.max_length=128", "trl.packing=false",
    )  # fmt: skip
    assert "-m accelerate.commands.launch" in proc.stderr and "--num_processes 2" in proc.stderr
    logged = _steps(out)
    # 8 rows, 2 per device x 2 processes: two steps are one epoch only if both processes ran
    assert [e["epoch"] for e in logged] == [0.5, 1.0]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out / "final")


def test_train_dpo_with_two_processes_shares_cached_reference_log_probs(
    tmp_path, tiny_model_dir, pref_file
):
    import pyarrow.parquet as pq

    cache = tmp_path / "cache-root"
    out = tmp_path / "run"
    proc = train(
        "dpo", "--recipe", "tulu3-8b-dpo", "--model", str(tiny_model_dir),
        "--data", str(pref_file), "--output-dir", str(out), *TWO, "trl.max_length=128",
        env=_env(CARAVAN_CACHE_DIR=str(cache)),
    )  # fmt: skip
    assert proc.stderr.count("cached reference log-probs in") == 1  # rank 0 alone writes
    files = list((cache / "dpo-ref-logps").glob("*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).num_rows == 8
    assert [e["epoch"] for e in _steps(out)] == [0.5, 1.0]

    again = train(
        "dpo", "--recipe", "tulu3-8b-dpo", "--model", str(tiny_model_dir),
        "--data", str(pref_file), "--output-dir", str(tmp_path / "again"), *CPU_OVERRIDES,
        "trl.max_length=128", env=_env(CARAVAN_CACHE_DIR=str(cache)),
    )  # fmt: skip
    assert "reusing reference log-probs from" in again.stderr
    assert "cached reference log-probs in" not in again.stderr


def test_train_grpo_with_two_processes(tmp_path, tiny_model_dir):
    rows = [
        {
            "id": f"g{i}",
            "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
            "ground_truth": str(2 * i),
            "dataset": "gsm8k",
        }
        for i in range(8)
    ]
    data = write_records(rows, tmp_path / "rl.parquet", "rlvr")
    out = tmp_path / "run"
    train(
        "grpo", "--recipe", "tulu31-8b-grpo", "--model", str(tiny_model_dir),
        "--data", str(data), "--output-dir", str(out), *TWO,
        "grpo.prompts_per_step=2", "grpo.mini_batches=1", "trl.num_generations=2",
        "trl.max_completion_length=8", "grpo.max_prompt_length=64",
    )  # fmt: skip
    logged = _steps(out)
    assert len(logged) == 2 and all("rewards/verifiable_reward/mean" in e for e in logged)
    assert (out / "final" / "model.safetensors").is_file()


LOAD_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve
    from caravan.train_adapters.run import trl_args
    from caravan.train_adapters.model_loading import adapt_to_machine, load_model_and_tokenizer

    recipe = load_recipe("tulu3-8b-sft", ["launch.num_processes=1", "effective_batch_size=1",
                                          f"model={sys.argv[1]}", "trl.report_to=none"])
    resolved = resolve(recipe, sys.argv[2])
    kw = dict(resolved.trl_kwargs)
    adapt_to_machine(kw)
    args = trl_args(resolved, kw)  # what run() does first: the process group comes up
    model, _, _ = load_model_and_tokenizer(recipe.model, "auto", False)
    devices = {p.device.type for p in model.parameters()}
    buffers = {b.device.type for b in model.buffers()}
    print(f"rank {args.process_index}: {sorted(devices)} buffers {sorted(buffers)}", flush=True)
    """
)


def test_fsdp_memory_efficient_loading_reads_weights_on_rank_zero_only(tmp_path, tiny_model_dir):
    """With FSDP's cpu_ram_efficient_loading (what the shipped configs set), run()'s order
    (TRL config, hence the process group, before the model) leaves every rank but the first
    on the meta device, so a node holds one copy of the weights in host RAM, not one per GPU."""
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    env = _env(ACCELERATE_USE_FSDP="true", FSDP_CPU_RAM_EFFICIENT_LOADING="true")
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_port", "29517", str(script), str(tiny_model_dir), str(tmp_path / "o"),
        ],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0: ['cpu'] buffers ['cpu']" in proc.stdout
    # rotary frequencies are not broadcast by FSDP: they must be real on every rank
    assert "rank 1: ['meta'] buffers ['cpu']" in proc.stdout
