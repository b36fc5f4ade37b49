"""Build a training set from several sources: `name: fraction | count` (open-instruct style).

A value in (0, 1] takes that fraction of the source's rows; a whole number > 1 takes that
many rows. Sampling is seeded. Every row is validated as the stage's record kind first, so
missing columns fail here, before a model loads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pyarrow as pa
from caravan.records import RecordValidationError, load_records, rows_to_table
from caravan.records.schemas import PREFERENCE, RLVR, SFT, RecordKind
from caravan.records.validate import BadRow, RowLocation, validate_rows
from caravan.train_adapters.formats import FORMATS, SkipRow

from caravan.errors import CaravanError

STAGE_KINDS: dict[str, RecordKind] = {"sft": SFT, "dpo": PREFERENCE, "grpo": RLVR}


@dataclass
class MixReport:
    taken: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def parse_data_args(items: list[str]) -> dict[str, float]:
    """`--data PATH` (all rows) or `--data PATH=0.25` / `--data PATH=5000`."""
    mix: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep:
            mix[item] = 1.0
            continue
        try:
            mix[name] = float(value)
        except ValueError as exc:
            raise CaravanError(f"--data {item!r}: {value!r} is not a fraction or count") from exc
    return mix


def _take(n_available: int, value: float, name: str) -> int:
    if value <= 1.0:
        return max(1, round(n_available * value)) if n_available else 0
    if int(value) > n_available:
        raise CaravanError(f"data {name}: asked for {int(value)} rows, it has {n_available}")
    return int(value)


def load_source(name: str, kind: RecordKind, fmt: str) -> tuple[list[dict], list[str]]:
    if fmt not in FORMATS:
        raise CaravanError(f"data {name}: unknown data_format {fmt!r}; known: {sorted(FORMATS)}")
    loaded = load_records(name)
    if loaded.bad_rows:
        raise RecordValidationError(loaded.bad_rows, "input", loaded.source)
    convert = FORMATS[fmt]
    converted, skipped = [], []
    for i, row in enumerate(loaded.table.to_pylist()):
        try:
            converted.append((RowLocation(loaded.source, i), convert(row, name)))
        except SkipRow as exc:
            skipped.append(f"row {i}: {exc}")
    good, bad = [], []
    for loc, row, err in validate_rows(converted, kind):
        if err is None:
            good.append(row)
        else:
            bad.append(BadRow(loc, err, row=row))
    if bad:
        raise RecordValidationError(bad, kind.name, loaded.source)
    return good, skipped


def build_mixture(
    mix: dict[str, float], stage: str, formats: dict[str, str] | None = None, seed: int = 8
) -> tuple[pa.Table, MixReport]:
    """Load, convert, validate and sample every source; one table of the stage's kind."""
    if not mix:
        raise CaravanError("no training data: give --data PATH (or a recipe `data:` section)")
    kind = STAGE_KINDS[stage]
    rng = random.Random(seed)
    report = MixReport()
    rows: list[dict] = []
    seen: set[str] = set()
    for name, value in mix.items():
        good, skipped = load_source(name, kind, (formats or {}).get(name, "records"))
        if skipped:
            report.skipped[name] = skipped
        n = _take(len(good), value, name)
        picked = good if n == len(good) else rng.sample(good, n)
        for row in picked:
            if row["id"] in seen:
                raise CaravanError(f"data {name}: id {row['id']!r} also appears in another source")
            seen.add(row["id"])
            rows.append({c: row.get(c) for c in kind.column_names})
        report.available[name], report.taken[name] = len(good), n
    return rows_to_table(rows, kind), report
