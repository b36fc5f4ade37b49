"""Content digests of training tables: what a resume check and the DPO cache key compare."""

from __future__ import annotations

import hashlib
from typing import Any


def table_digest(table: Any) -> str:
    """sha256 over every column's name and values (an Arrow table), columns in name order.

    Values are hashed through Arrow IPC of each column, so slices and chunking do not matter.
    """
    import pyarrow as pa

    h = hashlib.sha256()
    for name in sorted(table.column_names):
        h.update(name.encode())
        column = table.column(name).combine_chunks()
        sink = pa.BufferOutputStream()
        batch = pa.record_batch([column], names=[name])
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        h.update(memoryview(sink.getvalue()))
    return h.hexdigest()


def dataset_digest(dataset: Any) -> str:
    """`table_digest` of a `datasets.Dataset` (its rows in order)."""
    return table_digest(dataset.with_format("arrow")[: len(dataset)])
