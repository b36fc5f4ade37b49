"""Errors raised while reading, validating and writing records."""

from __future__ import annotations

from caravan.records.validate import BadRow

from caravan.errors import CaravanError


class RecordValidationError(CaravanError):
    """Rows that do not fit their record kind. `bad_rows` holds every one of them."""

    def __init__(self, bad_rows: list[BadRow], kind: str, source: str) -> None:
        self.bad_rows = bad_rows
        self.kind = kind
        self.source = source
        first = bad_rows[0]
        more = f" (and {len(bad_rows) - 1} more)" if len(bad_rows) > 1 else ""
        super().__init__(
            f"{len(bad_rows)} invalid {kind} row(s) in {source}; first at {first}{more}. "
            "Fix them, or quarantine them to a side file (--quarantine PATH)."
        )
