"""Run one training stage from a resolved recipe file (what `accelerate launch` executes).

python -m train_adapters.run runs/NAME/caravan_recipe.yaml
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from train_adapters.mixer import build_mixture
from train_adapters.model_loading import adapt_to_machine, load_model_and_tokenizer
from train_adapters.recipe import Recipe, load_recipe
from train_adapters.resolve import Resolved, resolve

log = logging.getLogger("train_adapters")
RECIPE_FILE = "caravan_recipe.yaml"


def write_resolved_recipe(resolved: Resolved) -> Path:
    """Freeze the recipe (overrides applied) beside the run, for launch and for the record."""
    from records.writers import atomic_path

    path = Path(resolved.output_dir) / RECIPE_FILE
    data = resolved.recipe.model_dump()
    data["output_dir"] = resolved.output_dir
    with atomic_path(path, "w") as fh:
        yaml.safe_dump(data, fh, sort_keys=False, allow_unicode=True)
    return path


def last_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def stage_dataset(recipe: Recipe, table: Any, tokenizer: Any) -> Any:
    """The columns each TRL trainer reads, from our record table."""
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
    if recipe.stage == "grpo" and recipe.grpo.max_prompt_length:
        limit = recipe.grpo.max_prompt_length
        before = len(ds)
        ds = ds.filter(
            lambda row: (
                len(
                    tokenizer.apply_chat_template(
                        row["prompt"], add_generation_prompt=True, tokenize=True
                    )
                )
                <= limit
            )
        )
        if len(ds) < before:
            log.warning("dropped %d prompts longer than %d tokens", before - len(ds), limit)
    return ds


def build_trainer(resolved: Resolved, model: Any, tokenizer: Any, dataset: Any) -> Any:
    recipe, kw = resolved.recipe, resolved.trl_kwargs
    if recipe.stage == "sft":
        from train_adapters.sft import build_trainer as build

        return build(model, tokenizer, dataset, kw, recipe.sft.loss_reduction)
    if recipe.stage == "dpo":
        from train_adapters.dpo import build_trainer as build

        return build(model, tokenizer, dataset, kw, recipe.dpo)
    from train_adapters.grpo import build_trainer as build

    return build(model, tokenizer, dataset, kw, recipe.grpo)


def run(resolved: Resolved) -> Path:
    """Data first (bad data fails before a model loads), then model, train, save."""
    recipe = resolved.recipe
    table, report = build_mixture(
        recipe.data, recipe.stage, recipe.data_format, seed=int(resolved.trl_kwargs.get("seed", 8))
    )
    for name, reasons in report.skipped.items():
        log.warning("%s: skipped %d rows (first: %s)", name, len(reasons), reasons[0])
    for note in adapt_to_machine(resolved.trl_kwargs):
        log.warning(note)
    template = {"sft": recipe.sft.chat_template, "dpo": recipe.dpo.chat_template}.get(recipe.stage)
    model, tokenizer = load_model_and_tokenizer(
        recipe.model, template, bool(resolved.trl_kwargs.get("bf16"))
    )
    if recipe.stage == "grpo":
        tokenizer.padding_side = "left"
    dataset = stage_dataset(recipe, table, tokenizer)
    trainer = build_trainer(resolved, model, tokenizer, dataset)
    trainer.train(resume_from_checkpoint=last_checkpoint(resolved.output_dir))
    final = Path(resolved.output_dir) / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    return final


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m train_adapters.run RESOLVED_RECIPE.yaml", file=sys.stderr)
        return 2
    recipe = load_recipe(args[0])
    run(resolve(recipe))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
