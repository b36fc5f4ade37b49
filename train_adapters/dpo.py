"""DPO with TRL and reference log-probs cached on disk.

The cache key hashes the reference model's weights (TRL's own hash), the *tokenized*
dataset (so data, chat template, tokenizer and truncation all count) and the loss
settings. A restart, or a second run on the same data and model, reuses the file instead
of running the reference model again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$CARAVAN_CACHE_DIR/dpo-ref-logps (the cache root); the older $CARAVAN_CACHE still wins."""
    from caravan.cache_root import cache_dir

    legacy = os.environ.get("CARAVAN_CACHE")
    return Path(legacy) / "dpo-ref-logps" if legacy else cache_dir("dpo-ref-logps")


def dataset_digest(dataset: Any) -> str:
    """sha256 over the Arrow buffers of every column, in order."""
    h = hashlib.sha256()
    table = dataset.with_format("arrow")[: len(dataset)]
    for name in sorted(table.column_names):
        h.update(name.encode())
        for chunk in table.column(name).chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(memoryview(buf))
    return h.hexdigest()


def cached_trainer_class(cache_dir: Path) -> type:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, concatenate_datasets
    from trl import DPOTrainer

    from records.writers import atomic_path

    class CachedRefDPOTrainer(DPOTrainer):
        """DPOTrainer whose precomputed reference log-probs live in a reusable file."""

        ref_cache_hits = 0
        ref_cache_writes = 0

        def ref_cache_path(self, dataset: Any) -> Path:
            settings = repr((self.args.loss_type, self.args.max_length, self.args.truncation_mode))
            key = hashlib.sha256(
                f"{self._precompute_model_hash}|{dataset_digest(dataset)}|{settings}".encode()
            ).hexdigest()[:32]
            return cache_dir / f"{key}.parquet"

        def _precompute_ref_logps(self, dataset, name, batch_size):
            path = self.ref_cache_path(dataset)
            if path.exists():
                table = pq.read_table(path)
                if table.num_rows == len(dataset):
                    type(self).ref_cache_hits += 1
                    log.info("reusing reference log-probs from %s", path)
                    return concatenate_datasets([dataset, Dataset(table)], axis=1)
            out = super()._precompute_ref_logps(dataset, name, batch_size)
            if self.accelerator.is_main_process:
                cols = ["ref_chosen_logps", "ref_rejected_logps"]
                table = pa.table({c: pa.array(out[c], type=pa.float64()) for c in cols})
                with atomic_path(path) as fh:
                    pq.write_table(table, fh)
                type(self).ref_cache_writes += 1
                log.info("cached reference log-probs in %s", path)
            self.accelerator.wait_for_everyone()
            return out

    return CachedRefDPOTrainer


def build_trainer(model: Any, tokenizer: Any, dataset: Any, trl_kwargs: dict, options: Any):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**trl_kwargs)
    if options.cache_reference_log_probs and args.precompute_ref_log_probs:
        cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
        cls = cached_trainer_class(cache_dir)
    else:
        cls = DPOTrainer
    return cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
