"""Durable response cache and run journal in SQLite (WAL).

A response counts as done only once its row is committed, so a run killed at any moment
loses nothing that completed and, on restart, re-sends nothing that completed. Only
responses are stored, keyed by the request hash: never prompts' secrets, keys or headers.
Submitted batch jobs are journaled here too, so a restart polls them instead of paying twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from caravan.llm.types import Response, Usage

from caravan.errors import CaravanError
from caravan.secrets import redact_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    request_id TEXT,
    error_kind TEXT,
    error TEXT,
    raw_text TEXT,
    attempts INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    info TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (batch_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_items_key ON batch_items (key);
"""

_STORED = ("text", "parsed", "finish_reason", "latency_s", "cost_usd", "attempts")


def response_to_json(response: Response) -> str:
    data = {k: getattr(response, k) for k in _STORED}
    data["usage"] = asdict(response.usage)
    return json.dumps(data, ensure_ascii=False)


def response_from_json(text: str, request_id: str | None) -> Response:
    data = json.loads(text)
    usage = Usage(**data.pop("usage", {}))
    return Response(request_id=request_id, usage=usage, cached=True, **data)


class ResponseCache:
    """One SQLite file. Safe to share between threads; one writer at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaravanError(f"{self.path}: cannot create the cache folder: {exc}") from exc
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a killed process (the WAL is in the OS already);
            # only power loss can drop the last commits, never corrupt the file.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        self._lock = threading.Lock()

    def _unusable(self, exc: Exception) -> CaravanError:
        return CaravanError(
            f"{self.path}: not a usable cache database: {exc} (move it aside, or point --cache "
            "at another file)"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- responses ------------------------------------------------------------------------

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Stored response JSON for every key that has one."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._lock:
            try:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(
                        f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk
                    )
                    found.update(rows.fetchall())
            except sqlite3.DatabaseError as exc:
                raise self._unusable(exc) from exc
        for key, text in found.items():
            try:
                response_from_json(text, None)
            except (ValueError, TypeError) as exc:
                raise CaravanError(
                    f"{self.path}: the cached response for key {key[:16]}... is unreadable "
                    f"({exc.__class__.__name__}: {exc}); rerun with --refresh to ask again "
                    "and overwrite it"
                ) from exc
        return found

    def get(self, key: str, request_id: str | None = None) -> Response | None:
        found = self.get_many([key])
        return response_from_json(found[key], request_id) if key in found else None

    def put_many(self, items: list[tuple[str, str, str, Response]]) -> None:
        """Commit (key, backend, model, response) rows in one transaction."""
        now = time.time()
        rows = [(k, b, m, response_to_json(r), now) for k, b, m, r in items]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._unusable(exc) from exc
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", rows
                )
                self._db.executemany(
                    "DELETE FROM failures WHERE key = ?", [(k,) for k, *_ in items]
                )
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise self._unusable(exc) from exc
                raise

    def record_failures(self, items: list[tuple[str, Response]]) -> None:
        """Keep the last error per key (for reports); a failure is not a cache hit."""
        now = time.time()
        rows = [
            (
                key,
                r.request_id,
                r.error_kind,
                redact_text(r.error or ""),
                r.text,
                r.attempts,
                now,
            )
            for key, r in items
        ]
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def failures(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                "SELECT key, request_id, error_kind, error, raw_text, attempts FROM failures"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ---- batch journal --------------------------------------------------------------------

    def add_batch(
        self,
        batch_id: str,
        provider: str,
        info: dict[str, Any],
        items: dict[str, str],
        status: str = "submitted",
    ) -> None:
        """Journal a batch and its custom_id -> cache key map, atomically. Status
        "submitting" is written *before* the provider is asked, under a placeholder id."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, ?)",
                    (batch_id, provider, status, json.dumps(info), now, now),
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO batch_items VALUES (?, ?, ?)",
                    [(batch_id, cid, key) for cid, key in items.items()],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def confirm_batch(self, placeholder: str, batch_id: str, info: dict[str, Any]) -> None:
        """The provider accepted the batch: swap the placeholder id for the real one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE batches SET batch_id = ?, status = 'submitted', info = ?, "
                    "updated_at = ? WHERE batch_id = ?",
                    (batch_id, json.dumps(info), time.time(), placeholder),
                )
                self._db.execute(
                    "UPDATE batch_items SET batch_id = ? WHERE batch_id = ?",
                    (batch_id, placeholder),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def set_batch_status(self, batch_id: str, status: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET status = ?, updated_at = ? WHERE batch_id = ?",
                (status, time.time(), batch_id),
            )

    def batch_ids(self, provider: str) -> set[str]:
        """Every provider batch id this cache has journaled, in any state."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id FROM batches WHERE provider = ? AND status != 'submitting'",
                (provider,),
            ).fetchall()
        return {batch_id for (batch_id,) in rows}

    def open_batches(self, provider: str) -> list[dict[str, Any]]:
        """Batches not yet collected (status submitted, or submitting: the run died while
        asking the provider), each with its custom_id -> key map."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, info, status FROM batches WHERE provider = ? "
                "AND status IN ('submitted', 'submitting') ORDER BY created_at",
                (provider,),
            ).fetchall()
            out = []
            for batch_id, info, status in rows:
                items = dict(
                    self._db.execute(
                        "SELECT custom_id, key FROM batch_items WHERE batch_id = ?", (batch_id,)
                    ).fetchall()
                )
                out.append(
                    {
                        "batch_id": batch_id,
                        "info": json.loads(info),
                        "items": items,
                        "status": status,
                    }
                )
        return out


# ---- one cache over many workers ---------------------------------------------------------

_worker_shard: str | None = None  # set once per process by a distributed executor


def use_worker_shard(name: str | None) -> None:
    """From now on, caches this process opens write to their own shard file `name` (SQLite
    allows one writer per file: N workers writing one file over a network share would
    serialize or corrupt it)."""
    global _worker_shard
    _worker_shard = name


def shards_dir(path: Path) -> Path:
    """`responses.sqlite` -> `responses.sqlite.shards/` (one file per worker)."""
    return path.with_name(path.name + ".shards")


class ShardedCache(ResponseCache):
    """Writes go to one file (this worker's shard, or the main file); reads look in that file
    first, then in the main file and every shard, so a rerun on any number of workers finds
    every response any of them committed."""

    def __init__(self, path: str | Path, shard: str | None = None) -> None:
        self.home = Path(path)
        own = shards_dir(self.home) / f"{shard}.sqlite" if shard else self.home
        super().__init__(own)
        self._others: dict[Path, ResponseCache] = {}

    def _readers(self) -> list[ResponseCache]:
        files = [self.home, *sorted(shards_dir(self.home).glob("*.sqlite"))]
        for f in files:
            if f != self.path and f not in self._others and f.exists():
                self._others[f] = ResponseCache(f)
        return [self._others[f] for f in files if f in self._others]

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        found = super().get_many(keys)
        for other in self._readers():
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            found.update(other.get_many(missing))
        return found

    def close(self) -> None:
        for other in self._others.values():
            other.close()
        self._others.clear()
        super().close()


def open_shared_cache(path: str | Path) -> ResponseCache:
    """The cache a session opens: a plain file, or a sharded one when workers write shards
    (this process is one of them, or an earlier run left shards to read)."""
    path = Path(path)
    if _worker_shard is None and not shards_dir(path).is_dir():
        return ResponseCache(path)
    return ShardedCache(path, _worker_shard)
