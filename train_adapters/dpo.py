"""DPO with TRL, reference log-probs computed once and kept in Caravan's cache.

TRL's own precompute writes its cache through `datasets` into a per-process temp directory
when the dataset lives in memory (ours does), so with several processes the other ranks
cannot find it. Here every rank computes its share of the reference forward passes, the
results are gathered to all ranks, and rank 0 stores them under `cache_dir("dpo-ref-logps")`. The key
hashes the reference weights, the *tokenized* dataset (data, chat template, tokenizer and
truncation all count) and every DPO setting (loss type, beta, `ld_alpha`, lengths, ...), plus
the precision; rank 0's key is broadcast so every rank agrees. A later run with the same key
reads the file on rank 0 and shares it, so no rank needs to see rank 0's disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from caravan.train_adapters.digest import dataset_digest

from caravan.cache_root import cache_dir

log = logging.getLogger(__name__)
REF_COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


def default_cache_dir() -> Path:
    """$CARAVAN_CACHE_DIR/dpo-ref-logps (the cache root); the older $CARAVAN_CACHE still wins."""
    legacy = os.environ.get("CARAVAN_CACHE")
    return Path(legacy) / "dpo-ref-logps" if legacy else cache_dir("dpo-ref-logps")


def loss_settings(args: Any) -> dict[str, Any]:
    """Every field DPOConfig adds to TrainingArguments, plus the precision: all that can
    change a reference log-prob (a superset is safe: it can only cause a cache miss)."""
    from transformers import TrainingArguments

    base = {f.name for f in dataclasses.fields(TrainingArguments)}
    out = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(args)
        if f.name not in base and f.init
    }
    out.update(bf16=args.bf16, fp16=args.fp16)
    return out


def reference_cache_key(model_hash: str | None, dataset: Any, args: Any) -> str:
    settings = json.dumps(loss_settings(args), sort_keys=True, default=str)
    blob = f"{model_hash}|{dataset_digest(dataset)}|{settings}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@contextlib.contextmanager
def _hash_on_main_process_only():
    """TRL hashes the reference weights on every rank; with FSDP's memory-efficient loading
    the other ranks hold meta tensors (unhashable) and the key is rank 0's anyway."""
    from accelerate import PartialState
    from trl.trainer import dpo_trainer

    real = dpo_trainer.hash_module
    if PartialState().is_main_process:
        yield
        return
    dpo_trainer.hash_module = lambda module: "not-main-process"
    try:
        yield
    finally:
        dpo_trainer.hash_module = real


def cached_trainer_class(cache: Path | None) -> type:
    """A DPOTrainer whose reference precompute is shared by all ranks (cached when `cache`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from accelerate.utils import broadcast_object_list
    from caravan.records.writers import atomic_path
    from datasets import Dataset, concatenate_datasets
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from trl import DPOTrainer

    class CachedRefDPOTrainer(DPOTrainer):
        ref_cache_hits = 0
        ref_cache_writes = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            with _hash_on_main_process_only():
                super().__init__(*args, **kwargs)

        def ref_cache_path(self, dataset: Any) -> Path | None:
            if cache is None:
                return None
            key: list[str | None] = [None]
            if self.accelerator.is_main_process:
                key = [reference_cache_key(self._precompute_model_hash, dataset, self.args)]
            broadcast_object_list(key, from_process=0)
            return cache / f"{key[0]}.parquet"

        def _read_cached(self, path: Path | None, rows: int) -> list[Any]:
            """Rank 0 reads the file (if any and complete); every rank gets its columns."""
            found: list[Any] = [None]
            if self.accelerator.is_main_process and path is not None and path.exists():
                table = pq.read_table(path)
                if table.num_rows == rows:
                    found = [{c: table.column(c).to_pylist() for c in REF_COLUMNS}]
            broadcast_object_list(found, from_process=0)
            return found

        def _compute(self, dataset: Any, name: str, batch_size: int) -> dict[str, list[float]]:
            loader = DataLoader(
                dataset,
                batch_size=batch_size,
                collate_fn=self.data_collator,
                num_workers=self.args.dataloader_num_workers,
                shuffle=False,
            )
            loader = self.accelerator.prepare(loader)
            model = self.ref_model or self.model
            chosen, rejected = [], []
            progress = tqdm(
                loader,
                desc=f"reference log-probs ({name})",
                disable=not self.accelerator.is_main_process,
            )
            for batch in progress:
                c, r = self.compute_ref_log_probs(model, batch)
                c, r = self.accelerator.gather_for_metrics((c, r))
                chosen.append(c.float().cpu())
                rejected.append(r.float().cpu())
            log.info("computed reference log-probs for %d %s rows", len(dataset), name)
            return {
                REF_COLUMNS[0]: torch.cat(chosen).tolist(),
                REF_COLUMNS[1]: torch.cat(rejected).tolist(),
            }

        def _precompute_ref_logps(self, dataset, name, batch_size):
            path = self.ref_cache_path(dataset)
            found = self._read_cached(path, len(dataset))[0]
            if found is not None:
                type(self).ref_cache_hits += 1
                log.info("reusing reference log-probs from %s", path)
            else:
                found = self._compute(dataset, name, batch_size)
                if path is not None and self.accelerator.is_main_process:
                    table = pa.table(
                        {c: pa.array(found[c], type=pa.float64()) for c in REF_COLUMNS}
                    )
                    with atomic_path(path) as fh:
                        pq.write_table(table, fh)
                    type(self).ref_cache_writes += 1
                    log.info("cached reference log-probs in %s", path)
                self.accelerator.wait_for_everyone()
            extra = Dataset.from_dict(found)
            return concatenate_datasets([dataset, extra], axis=1)

    return CachedRefDPOTrainer


def build_trainer(model: Any, tokenizer: Any, dataset: Any, args: Any, options: Any):
    from trl import DPOTrainer

    if args.precompute_ref_log_probs:
        cache = None
        if options.cache_reference_log_probs:
            cache = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
        cls = cached_trainer_class(cache)
    else:
        cls = DPOTrainer
    return cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
