"""Local path or Hugging Face hub id? And is the hub reachable at all?

A mistyped local path must not be sent to the hub (that costs tens of seconds of retries and
ends in a confusing 404), and an unreachable hub must fail in one line within seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from caravan.errors import CaravanError

# Suffixes that mark a file name; hub ids like "Qwen/Qwen2.5-0.5B" have dots but none of these.
FILE_SUFFIXES = frozenset(
    [
        ".jsonl",
        ".ndjson",
        ".json",
        ".parquet",
        ".pq",
        ".arrow",
        ".arrows",
        ".ipc",
        ".feather",
        ".gz",
        ".csv",
        ".tsv",
        ".txt",
        ".yaml",
        ".yml",
        ".zip",
        ".bz2",
        ".xz",
        ".zst",
        ".bin",
        ".safetensors",
        ".pt",
        ".pth",
        ".gguf",
        ".md",
    ]
)
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0


def looks_like_path(name: str | Path) -> bool:
    """True when `name` can only mean a local file: it starts with ., / or ~, or has a
    file extension."""
    text = str(name)
    if text.startswith((".", "/", "~")) or os.sep in text and text.endswith(os.sep):
        return True
    return Path(text).suffix.lower() in FILE_SUFFIXES


def check_exists(name: str | Path, what: str = "file") -> None:
    """Raise "no such file" for a path-looking name that is not on disk."""
    if looks_like_path(name) and not Path(str(name)).expanduser().exists():
        raise CaravanError(f"no such {what}: {name}")


def hub_offline() -> bool:
    return any(
        os.environ.get(var, "") not in ("", "0", "false", "False")
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def hub_unreachable_reason(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (one TCP connect, a few seconds at most), or None."""
    parts = urlsplit(hub_endpoint())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    return not hub_offline() and hub_unreachable_reason(timeout) is None


def require_hub(hub_id: str, what: str = "dataset") -> None:
    """Fail in one line, fast, when `hub_id` would have to come from an unreachable hub.

    With HF_HUB_OFFLINE=1 the caller's library reads its local cache instead, so no probe.
    """
    if hub_offline():
        return
    reason = hub_unreachable_reason()
    if reason is not None:
        raise CaravanError(
            f"{hub_id!r} is not a local path, and the Hugging Face hub ({hub_endpoint()}) "
            f"cannot be reached ({reason}) to load it as a {what}. Pass a local copy, or set "
            f"HF_HUB_OFFLINE=1 to use a copy already in the hub cache."
        )
