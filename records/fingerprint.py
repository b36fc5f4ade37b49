"""Content fingerprints of inputs, recorded in provenance so a dataset names what made it."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def fingerprint_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def fingerprint_path(path: Path) -> str:
    """sha256 of a file, or of a folder's (relative name, file hash) list."""
    if path.is_file():
        return fingerprint_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode())
        h.update(fingerprint_file(p).encode())
    return f"sha256:{h.hexdigest()}"
