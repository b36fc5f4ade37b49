"""SFT and DPO throughput and peak memory on a GPU: our adapter vs plain TRL defaults.

A randomly initialised ~1B Llama at 4k context (no downloads; the tokenizer is the locally
trained test tokenizer, the model's vocabulary is padded to 32k). For each stage, runs
--steps optimizer steps with (a) Caravan's recipe-resolved trainer (Tülu settings: sum loss
for SFT, length-normalised DPO with cached reference log-probs) and (b) TRL's defaults
(bf16, mean loss, sigmoid DPO), and prints tokens/s and peak GPU memory.

    python benchmarks/train_gpu.py --steps 10          # on a CUDA machine
    python benchmarks/train_gpu.py --tiny --steps 2    # CPU smoke run of the script itself
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_model(path: Path, tiny: bool) -> Path:
    import torch
    from caravan.train_adapters.chat_template import apply_template_choice
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.fixtures.tiny_model import build_tokenizer

    tok = build_tokenizer(512)
    apply_template_choice(tok, "tulu")
    size = (
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
        if tiny
        else dict(
            hidden_size=2048,
            intermediate_size=5632,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
        )
    )
    config = LlamaConfig(
        vocab_size=max(32000, len(tok)) if not tiny else len(tok),
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **size,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    n = sum(p.numel() for p in model.parameters())
    print(f"model: {n / 1e9:.2f}B parameters, {size['num_hidden_layers']} layers")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def write_data(folder: Path, n_rows: int, words: int) -> tuple[Path, Path]:
    from caravan.records import write_records

    filler = " ".join(f"w{i % 97}" for i in range(words))
    sft = [
        {
            "id": f"s{i}",
            "source": "bench",
            "messages": [
                {"role": "user", "content": f"Question {i}: {filler[: len(filler) // 4]}"},
                {"role": "assistant", "content": filler},
            ],
        }
        for i in range(n_rows)
    ]
    prefs = [
        {
            "id": f"p{i}",
            "prompt": [{"role": "user", "content": f"Q{i} {filler[: len(filler) // 4]}"}],
            "chosen": [{"role": "assistant", "content": filler[: len(filler) // 2]}],
            "rejected": [{"role": "assistant", "content": filler[len(filler) // 2 :]}],
        }
        for i in range(n_rows)
    ]
    return (
        write_records(sft, folder / "sft.parquet", "sft", card=False),
        write_records(prefs, folder / "prefs.parquet", "preference", card=False),
    )


def consumed_tokens(dataset, rows: int) -> int:
    """Tokens the model processed for the first `rows` examples (DPO: prompt twice)."""
    part = dataset[: min(rows, len(dataset))]
    if "input_ids" in part:
        return sum(len(x) for x in part["input_ids"])
    return sum(
        2 * len(p) + len(c) + len(r)
        for p, c, r in zip(
            part["prompt_ids"], part["chosen_ids"], part["rejected_ids"], strict=True
        )
    )


def run_one(
    stage: str, ours: bool, model_dir: Path, data: Path, out: Path, steps: int, max_len: int
) -> None:
    import torch
    from caravan.train_adapters.mixer import build_mixture
    from caravan.train_adapters.model_loading import adapt_to_machine, load_model_and_tokenizer
    from caravan.train_adapters.recipe import load_recipe
    from caravan.train_adapters.resolve import resolve
    from caravan.train_adapters.run import build_trainer, stage_dataset, trl_args

    recipe_name = {"sft": "tulu3-8b-sft", "dpo": "tulu3-8b-dpo"}[stage]
    common = [
        f"model={model_dir}",
        "launch.num_processes=1",
        "effective_batch_size=4",
        "trl.per_device_train_batch_size=1",
        f"trl.max_steps={steps}",
        "trl.report_to=none",
        "trl.save_strategy=no",
        f"trl.max_length={max_len}",
        "trl.logging_steps=1",
    ]
    if not ours:  # plain TRL: default loss and DPO loss type, no precompute/cache
        common += (
            ["sft.loss_reduction=mean"]
            if stage == "sft"
            else [
                "trl.loss_type=[sigmoid]",
                "trl.beta=0.1",
                "dpo.cache_reference_log_probs=false",
                "trl.precompute_ref_log_probs=false",
            ]
        )
    recipe = load_recipe(recipe_name, common)
    recipe.data = {str(data): 1.0}
    resolved = resolve(recipe, str(out))
    adapt_to_machine(resolved.trl_kwargs)
    table, _ = build_mixture(recipe.data, stage)
    args = trl_args(resolved, resolved.trl_kwargs)
    model, tok, _ = load_model_and_tokenizer(
        recipe.model, "tulu", bool(resolved.trl_kwargs.get("bf16"))
    )
    dataset, _ = stage_dataset(recipe, table, tok)
    trainer = build_trainer(resolved, model, tok, dataset, args)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.train()
    dt = time.perf_counter() - t0
    tokens = consumed_tokens(trainer.train_dataset, steps * 4)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    label = "caravan" if ours else "trl-defaults"
    print(
        f"{stage:<4} {label:<13} {steps} steps  {dt:8.1f} s  {tokens / dt:10,.0f} tokens/s  peak {peak:6.1f} GiB"
    )
    del trainer, model
    if cuda:
        torch.cuda.empty_cache()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tiny", action="store_true", help="tiny model and context (CPU smoke test)")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available() and not args.tiny:
        print("skipped: needs a CUDA GPU (use --tiny for a CPU smoke run)")
        return 0
    max_len, words = (128, 40) if args.tiny else (4096, 1800)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_model(tmp / "model", args.tiny)
        sft, prefs = write_data(tmp / "data", args.steps * 4 + 4, words)
        for stage, data in (("sft", sft), ("dpo", prefs)):
            for ours in (True, False):
                run_one(stage, ours, model_dir, data, tmp / f"{stage}-{ours}", args.steps, max_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
