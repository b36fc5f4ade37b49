"""One cache root for every cache Caravan keeps (LLM responses, decontam indexes, DPO log-probs).

Users point one variable, `CARAVAN_CACHE_DIR`, at fast shared storage and every cache follows;
without it the XDG cache directory is used.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$CARAVAN_CACHE_DIR, else $XDG_CACHE_HOME/caravan, else ~/.cache/caravan."""
    explicit = os.environ.get("CARAVAN_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "caravan"


def cache_dir(kind: str) -> Path:
    """The sub-directory of the cache root for one kind of cache (`llm`, `decontam`, `dpo`, ...)."""
    return cache_root() / kind
