"""The final model as full weights that `from_pretrained` loads, whatever the checkpoints use.

Under FSDP with SHARDED_STATE_DICT (fast, resumable checkpoints) `Trainer.save_model` writes
no weights at all. For the final save the plugin switches to FULL_STATE_DICT, so the shards
are gathered (to CPU, on rank 0) and written as ordinary safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_final(trainer: Any, tokenizer: Any, path: Path) -> Path:
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    if plugin is not None and "FULL_STATE_DICT" not in str(plugin.state_dict_type):
        # accelerate keeps an existing (sharded) config object; clear it so the full one
        # (offloaded to CPU, on rank 0 only) is built
        plugin.state_dict_config = None
        plugin.optim_state_dict_config = None
        plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(path))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(path))
    trainer.accelerator.wait_for_everyone()
    return path
