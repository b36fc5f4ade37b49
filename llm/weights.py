"""A fingerprint of a local checkpoint, so cached answers never outlive the weights that gave them.

The response cache keys local and vLLM answers on this fingerprint: retraining into the same
folder changes it, and the old answers stop matching. By default it hashes the small files
(config, tokenizer, generation config) in full and the weight files by name, size and mtime,
which costs a few stat calls; `content=True` (or CARAVAN_HASH_WEIGHTS=1) hashes every weight
byte instead, for storage that does not keep mtimes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack")
SMALL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "adapter_config.json",
)
HASH_ENV = "CARAVAN_HASH_WEIGHTS"


def hash_weights_requested() -> bool:
    return os.environ.get(HASH_ENV, "") not in ("", "0", "false", "no")


def model_folder(model: str) -> Path | None:
    """The folder holding `model`: a local path, or the hub cache's snapshot of a hub id."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # noqa: BLE001 - not a valid hub id, or no hub library: name only
        return None
    return Path(found).parent if isinstance(found, str) else None


def _checkpoint_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.name in SMALL_FILES or path.name.endswith(WEIGHT_SUFFIXES)):
            files.append(path)
    return files


def weights_fingerprint(model: str, content: bool | None = None) -> str:
    """`sha256:<hex>` of the checkpoint's files, or `name:<model>` when no local copy exists
    (a hub id that is not downloaded yet: the id is all that is known)."""
    folder = model_folder(model)
    if folder is None:
        return f"name:{model}"
    content = hash_weights_requested() if content is None else content
    digest = hashlib.sha256()
    for path in _checkpoint_files(folder):
        rel = path.relative_to(folder).as_posix()
        stat = path.stat()
        digest.update(f"{rel}\0{stat.st_size}\0".encode())
        if path.name in SMALL_FILES or content:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    kind = "content" if content else "stat"
    return f"sha256-{kind}:{digest.hexdigest()[:32]}"
