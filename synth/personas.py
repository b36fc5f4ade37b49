"""Personas: one-sentence descriptions of people, read from a file or a hub dataset.

Every persona gets a stable id (the file's id column when it has one, else a hash of the
text), so every row synthesised from it can be traced back. Sampling is seeded and without
replacement: the same seed and n give the same personas, and a larger n extends a smaller
draw (the first n of one seeded shuffle), so growing a run reuses finished work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from caravan.errors import CaravanError

EXAMPLE_NAME = "example"  # `--persona example` is the bundled file


@dataclass(frozen=True)
class Persona:
    id: str
    text: str


@dataclass
class PersonaSet:
    personas: list[Persona]
    source: str
    fingerprint: str
    duplicates: list[str] = dataclasses.field(
        default_factory=list
    )  # "WHERE repeats WHERE" per dropped row

    def duplicate_note(self) -> str | None:
        """One line saying which personas were dropped as repeats, or None."""
        if not self.duplicates:
            return None
        more = f" (and {len(self.duplicates) - 1} more)" if len(self.duplicates) > 1 else ""
        return (
            f"{len(self.duplicates)} duplicate persona(s) in {self.source} used once: "
            f"{self.duplicates[0]}{more}"
        )


def example_personas_path() -> Path:
    """The bundled example personas (20 of our own, a JSON list of {id, persona})."""
    return Path(str(resources.files("caravan.synth") / "data" / "example_personas.json"))


def persona_id(text: str) -> str:
    return "p-" + hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:12]


def load_personas(
    source: str | Path,
    field: str = "persona",
    id_field: str = "id",
    split: str | None = None,
    config: str | None = None,
) -> PersonaSet:
    """Every persona in `source` (JSONL, JSON, Parquet, Arrow, folder or hub id), in order.

    A missing column, an empty file, a blank persona or an unreadable file raises
    CaravanError naming the file (and 1-based line or row). Duplicate texts are kept once
    and listed in `duplicates`, so the caller can say so.
    """
    from caravan.records import load_records

    if str(source) == EXAMPLE_NAME:
        source = example_personas_path()
    path = Path(source).expanduser()
    if path.exists() and path.is_file():
        try:
            with path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise CaravanError(f"{path}: cannot read the persona file: {exc.strerror}") from exc
    try:
        loaded = load_records(source, split=split, config=config)
    except CaravanError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow/json errors on a corrupt file
        raise CaravanError(
            f"{source}: not a readable persona file ({type(exc).__name__}: {exc})"
        ) from exc
    if loaded.bad_rows:
        bad = loaded.bad_rows[0]
        raise CaravanError(f"{bad} ({len(loaded.bad_rows)} bad rows in the persona file)")
    out, duplicates = personas_from_table(
        loaded.table, loaded.source, field, id_field, loaded.locations
    )
    return PersonaSet(out, loaded.source, loaded.fingerprint, duplicates)


def personas_from_table(
    table: Any,
    source: str,
    field: str = "persona",
    id_field: str = "id",
    locations: Any = None,
) -> tuple[list[Persona], list[str]]:
    """(personas in order, duplicate notes): blank or non-text personas are errors naming the
    1-based row, repeated texts are kept once (and noted), a repeated id is an error."""
    if table.num_rows == 0:
        raise CaravanError(f"{source}: the persona file holds no rows")
    if field not in table.column_names:
        raise CaravanError(
            f"{source}: no `{field}` column (columns: {', '.join(table.column_names)}); "
            f"name the persona column with --persona-field"
        )
    texts = table.column(field).to_pylist()
    ids = table.column(id_field).to_pylist() if id_field in table.column_names else None

    def where(i: int) -> str:
        return str(locations[i]) if locations is not None else f"{source} row {i + 1}"

    out: list[Persona] = []
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise CaravanError(f"{where(i)}: `{field}` is empty or not text")
        text = " ".join(text.split())
        if text in seen:
            if locations is not None:
                first = locations[seen[text]]
                duplicates.append(f"{locations[i]} repeats {first.unit} {first.index}")
            else:
                duplicates.append(f"{where(i)} repeats row {seen[text] + 1}")
            continue
        seen[text] = i
        pid = ids[i] if ids is not None and ids[i] not in (None, "") else persona_id(text)
        out.append(Persona(str(pid), text))
    taken: set[str] = set()
    for p in out:
        if p.id in taken:
            raise CaravanError(f"{source}: persona id {p.id!r} is used twice")
        taken.add(p.id)
    return out, duplicates


def sample_personas(personas: list[Persona], n: int | None, seed: int) -> list[Persona]:
    """n personas without replacement, in a seeded order (all of them when n is None).

    Asking for more than the file holds is an error, not a silent repeat.
    """
    order = list(personas)
    random.Random(seed).shuffle(order)
    if n is None:
        return order
    if n > len(order):
        raise CaravanError(f"asked for {n} personas but the file holds {len(order)} distinct ones")
    return order[:n]
