"""Run one training stage from a resolved recipe file (what `accelerate launch` executes).

python -m train_adapters.run runs/NAME/caravan_recipe.yaml [--resume force]

Order matters: data first (bad data fails before a model loads), then the TRL config, which
creates the process group, then the model (so FSDP's memory-efficient loading can keep the
weights on one rank per node), then training and a full-weight final save.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from caravan.train_adapters.digest import table_digest
from caravan.train_adapters.mixer import build_mixture
from caravan.train_adapters.model_loading import adapt_to_machine, load_model_and_tokenizer
from caravan.train_adapters.recipe import Recipe
from caravan.train_adapters.recipe_file import RECIPE_FILE, restore_secrets, secrets_from_env
from caravan.train_adapters.resolve import Resolved, resolve, trl_config_class
from caravan.train_adapters.resume import RESUME_MODES, check_data, write_run_record
from caravan.train_adapters.saving import save_final

from caravan.yaml_config import load_yaml

log = logging.getLogger("train_adapters")
__all__ = ["RECIPE_FILE", "run", "stage_dataset", "build_trainer", "prompt_token_count"]


def say(message: str, main_process: bool = True) -> None:
    """A line the user should see once (stderr, rank 0 only), whatever the log level."""
    if main_process:
        print(message, file=sys.stderr, flush=True)


def prompt_token_count(tokenizer: Any, messages: list[dict[str, Any]]) -> int:
    """Tokens of a chat prompt with its generation prompt, as the policy will see it.

    Rendered to text and tokenized without extra special tokens: `apply_chat_template(
    tokenize=True)` returns a dict in transformers 5, whose len() is the number of keys.
    """
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def stage_dataset(recipe: Recipe, table: Any, tokenizer: Any) -> tuple[Any, int]:
    """The columns each TRL trainer reads, from our record table; and prompts dropped."""
    import datasets

    if recipe.stage == "sft":
        table = table.select(["messages"])
    elif recipe.stage == "dpo":
        table = table.select(["prompt", "chosen", "rejected"])
    else:
        table = table.select(["messages", "ground_truth", "dataset"]).rename_columns(
            ["prompt", "ground_truth", "dataset"]
        )
    ds = datasets.Dataset(table)
    dropped = 0
    if recipe.stage == "grpo" and recipe.grpo.max_prompt_length:
        limit = recipe.grpo.max_prompt_length
        keep = [i for i, p in enumerate(ds["prompt"]) if prompt_token_count(tokenizer, p) <= limit]
        dropped = len(ds) - len(keep)
        if dropped:
            ds = ds.select(keep)
    return ds, dropped


def trl_args(resolved: Resolved, kwargs: dict[str, Any]) -> Any:
    """The TRL config object. Building it sets up the process group (on every rank)."""
    if resolved.recipe.stage == "grpo":
        from caravan.train_adapters.grpo import grpo_kwargs

        kwargs = grpo_kwargs(kwargs, resolved.recipe.grpo)
    args = trl_config_class(resolved.recipe.stage)(**kwargs)
    _ = args.device  # creates the accelerate PartialState, so torch.distributed is up
    return args


def build_trainer(resolved: Resolved, model: Any, tokenizer: Any, dataset: Any, args: Any) -> Any:
    recipe = resolved.recipe
    if recipe.stage == "sft":
        from caravan.train_adapters.sft import build_trainer as build_sft

        return build_sft(model, tokenizer, dataset, args, recipe.sft.loss_reduction)
    if recipe.stage == "dpo":
        from caravan.train_adapters.dpo import build_trainer as build_dpo

        return build_dpo(model, tokenizer, dataset, args, recipe.dpo)
    from caravan.train_adapters.grpo import build_trainer as build_grpo

    return build_grpo(model, tokenizer, dataset, args, recipe.grpo)


def _template_options(recipe: Recipe, kwargs: dict[str, Any]) -> dict[str, Any]:
    if recipe.stage == "grpo":
        return {"template": None}
    options = recipe.sft if recipe.stage == "sft" else recipe.dpo
    return {
        "template": options.chat_template,
        "needs_generation_markers": recipe.stage == "sft"
        and bool(kwargs.get("assistant_only_loss")),
        "add_role_tokens": options.add_role_tokens,
    }


def run(resolved: Resolved, resume: str = "auto") -> Path:
    recipe = resolved.recipe
    table, report = build_mixture(
        recipe.data, recipe.stage, recipe.data_format, seed=int(resolved.trl_kwargs.get("seed", 8))
    )
    for name, reasons in report.skipped.items():
        log.warning("%s: skipped %d rows (first: %s)", name, len(reasons), reasons[0])
    digest = table_digest(table)
    checkpoint = check_data(resolved, digest, table.num_rows, resume)
    kwargs = dict(resolved.trl_kwargs)
    machine_notes = adapt_to_machine(kwargs)
    args = trl_args(resolved, kwargs)
    main = args.process_index == 0
    for note in machine_notes:
        say(f"note: {note}", main)
    if checkpoint:
        say(f"resuming from {Path(checkpoint).name}", main)
    if main:
        write_run_record(resolved, digest, table.num_rows)
    options = _template_options(recipe, kwargs)
    model, tokenizer, notes = load_model_and_tokenizer(
        recipe.model,
        options.pop("template"),
        bool(kwargs.get("bf16")),
        **options,
    )
    for note in notes:
        say(f"note: {note}", main)
    if recipe.stage == "grpo":
        from caravan.train_adapters.grpo import think_in_prompt_warning

        tokenizer.padding_side = "left"
        warning = think_in_prompt_warning(tokenizer, recipe.grpo)
        if warning:
            say(f"warning: {warning}", main)
    dataset, dropped = stage_dataset(recipe, table, tokenizer)
    if dropped:
        say(
            f"dropped {dropped} of {len(dataset) + dropped} prompts longer than "
            f"{recipe.grpo.max_prompt_length} tokens (grpo.max_prompt_length)",
            main,
        )
    trainer = build_trainer(resolved, model, tokenizer, dataset, args)
    trainer.train(resume_from_checkpoint=checkpoint)
    return save_final(trainer, tokenizer, Path(resolved.output_dir) / "final")


def load_resolved(path: str) -> Resolved:
    """The resolved recipe a launched process runs: the frozen file plus env-held secrets."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    data = restore_secrets(data, secrets_from_env())
    recipe = Recipe.model_validate(data)
    return resolve(recipe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train_adapters.run")
    parser.add_argument("recipe_file", help="OUTPUT_DIR/caravan_recipe.yaml")
    parser.add_argument("--resume", choices=RESUME_MODES, default="auto")
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run(load_resolved(ns.recipe_file), ns.resume)
    return 0


if __name__ == "__main__":
    from caravan.errors import CaravanError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(main())
    except CaravanError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        sys.exit(1)
