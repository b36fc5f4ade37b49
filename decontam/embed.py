"""Sentence embeddings for semantic decontamination: transformers + mean pooling + L2 norm.

This is what sentence-transformers does for all-MiniLM-L6-v2 and most of its models
(token embeddings averaged over the attention mask, then unit length), done with plain
transformers so no extra dependency is needed beyond torch and transformers (the
`semantic` extra). Texts are embedded longest-first in batches, so each batch pads to
similar lengths, on a GPU when one is present.

Eval-side embeddings are cached as .npy files keyed by the texts' content hash and the
model fingerprint (weights, tokenizer, max length, pooling), like the exact n-gram index.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caravan.errors import CaravanError

DEFAULT_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
POOLING = "mean+l2"
_MISSING = (
    "semantic decontamination needs torch and transformers: "
    "pip install 'caravan-posttrain[semantic]' (error: {exc})"
)


def require_backend() -> tuple[Any, Any]:
    """(torch, transformers), or a one-line error naming the extra to install."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise CaravanError(_MISSING.format(exc=exc)) from exc
    return torch, transformers


def _local_fingerprint(path: Path) -> str:
    """sha256 over the files that change the vectors (weights, config, tokenizer)."""
    from caravan.records.fingerprint import fingerprint_file

    h = hashlib.sha256()
    names = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and (p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model"))
    )
    for p in names:
        h.update(p.name.encode())
        h.update(fingerprint_file(p).encode())
    return h.hexdigest()[:32]


def _default_max_length(path: Path | None, tokenizer: Any) -> int:
    """sentence-transformers' max_seq_length when the folder says it, else the tokenizer's."""
    if path is not None and (path / "sentence_bert_config.json").is_file():
        cfg = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if isinstance(cfg.get("max_seq_length"), int):
            return cfg["max_seq_length"]
    limit = getattr(tokenizer, "model_max_length", 512)
    return int(min(limit, 512)) if isinstance(limit, int) else 512


@dataclass
class Embedder:
    """A loaded embedding model; `fingerprint` names everything that changes its output."""

    name: str
    model: Any
    tokenizer: Any
    device: str
    max_length: int
    fingerprint: str
    dim: int

    @classmethod
    def load(
        cls,
        name: str,
        device: str | None = None,
        max_length: int | None = None,
        quiet: bool = False,
    ) -> Embedder:
        """Load `name` (a local folder or a hub id); `quiet` hides transformers' load bar."""
        torch, transformers = require_backend()
        path = Path(name).expanduser()
        local = path.is_dir()
        if not local and (name.startswith((".", "/", "~")) or path.exists()):
            raise CaravanError(f"embedding model {name!r}: not a folder with a model in it")
        src = str(path) if local else name
        hf_logging = transformers.utils.logging
        bar_was_on = hf_logging.is_progress_bar_enabled()
        if quiet:
            hf_logging.disable_progress_bar()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(src)
            model = transformers.AutoModel.from_pretrained(src)
        except Exception as exc:  # noqa: BLE001 - hub, network and format errors differ
            raise CaravanError(
                f"cannot load embedding model {name!r}: {' '.join(str(exc).split())[:300]}. "
                "Offline? Pass a local folder with --embed-model PATH"
            ) from exc
        finally:
            if quiet and bar_was_on:
                hf_logging.enable_progress_bar()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.eval().to(device)
        max_len = max_length or _default_max_length(path if local else None, tokenizer)
        weights = (
            _local_fingerprint(path)
            if local
            else f"hub:{name}@{getattr(model.config, '_commit_hash', None) or 'unknown'}"
        )
        fp = hashlib.sha256(f"{weights}\x1f{max_len}\x1f{POOLING}".encode()).hexdigest()[:32]
        dim = int(model.config.hidden_size)
        return cls(name, model, tokenizer, device, max_len, fp, dim)

    def embed(
        self,
        texts: list[str],
        batch_size: int = 64,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in input order."""
        torch, _ = require_backend()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch
        with torch.inference_mode():
            for lo in range(0, len(texts), batch_size):
                idx = order[lo : lo + batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
                if on_batch is not None:
                    on_batch(len(idx))
        return out


def embedding_key(texts: list[str], fingerprint: str) -> str:
    """Cache key: the texts themselves and the model fingerprint."""
    h = hashlib.sha256(f"embed\x1f{fingerprint}\x1f{len(texts)}\x1f".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()[:32]


def cached_embeddings(
    texts: list[str], embedder: Embedder, cache_dir: Path | None, batch_size: int = 64
) -> tuple[np.ndarray, bool]:
    """Embeddings of `texts` from `cache_dir`, or computed (and stored); (vectors, hit)."""
    if cache_dir is None:
        return embedder.embed(texts, batch_size), False
    path = Path(cache_dir) / f"embed-{embedding_key(texts, embedder.fingerprint)}.npy"
    if path.exists():
        try:
            vecs = np.load(path)
            if vecs.shape == (len(texts), embedder.dim):
                return vecs, True
        except (OSError, ValueError):
            pass  # unreadable cache entry: recompute and overwrite it
    vecs = embedder.embed(texts, batch_size)
    try:
        from caravan.records.writers import atomic_path

        with atomic_path(path) as fh:
            np.save(fh, vecs)
    except OSError:
        pass  # a read-only cache must not stop a check
    return vecs, False


class RowProgress:
    """Rows embedded so far: a tqdm bar on a terminal, a plain line every `every_s` otherwise."""

    def __init__(self, mode: str, total: int | None, label: str, every_s: float = 30.0) -> None:
        self.mode, self.total, self.label, self.every_s = mode, total, label, every_s
        self.done, self._t0 = 0, time.monotonic()
        self._last = self._t0
        self._bar = None
        if mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="rows", desc=label, unit_scale=True, leave=False)

    def __call__(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines" and time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            print(self._line(), file=sys.stderr, flush=True)

    def _line(self) -> str:
        rate = self.done / max(time.monotonic() - self._t0, 1e-9)
        of = f"/{self.total}" if self.total else ""
        return f"{self.label}: {self.done}{of} rows ({rate:.0f} rows/s)"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            print(self._line() + " done", file=sys.stderr, flush=True)
