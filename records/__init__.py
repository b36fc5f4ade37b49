"""Dataset shapes (SFT, preference, RLVR) and their validated, atomic Arrow/Parquet I/O."""

from caravan.records.errors import RecordValidationError
from caravan.records.provenance import Provenance
from caravan.records.readers import Loaded, load_records, read_records, rows_to_table
from caravan.records.schemas import (
    KINDS,
    MESSAGE,
    MESSAGES,
    PREFERENCE,
    RLVR,
    SFT,
    RecordKind,
    get_kind,
)
from caravan.records.validate import BadRow, RowLocation, row_error
from caravan.records.writers import atomic_path, write_quarantine, write_records

__all__ = [
    "KINDS",
    "MESSAGE",
    "MESSAGES",
    "PREFERENCE",
    "RLVR",
    "SFT",
    "BadRow",
    "Loaded",
    "Provenance",
    "RecordKind",
    "RecordValidationError",
    "RowLocation",
    "atomic_path",
    "get_kind",
    "load_records",
    "read_records",
    "row_error",
    "rows_to_table",
    "write_quarantine",
    "write_records",
]
