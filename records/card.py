"""Dataset card (README.md) beside written data, readable by people and by `datasets`.

The card is rebuilt from every Caravan file in the folder, so several outputs can share a
folder. A README.md that Caravan did not write is left alone; the card then goes to
CARAVAN.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from caravan.records.provenance import METADATA_KEY, Provenance
from caravan.records.readers import open_arrow
from caravan.records.schemas import KINDS

MARKER = "<!-- written by caravan; regenerated on every write -->"


def _schema_of(path: Path) -> pa.Schema | None:
    try:
        if path.suffix == ".parquet":
            return pq.read_schema(path)
        return open_arrow(path)[0]
    except (pa.ArrowInvalid, OSError):
        return None


def caravan_files(folder: Path) -> list[tuple[Path, pa.Schema, Provenance]]:
    """Caravan-written data files directly in `folder`, with their schema and provenance."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix not in (".parquet", ".arrow"):
            continue
        schema = _schema_of(path)
        if schema is None or METADATA_KEY not in (schema.metadata or {}):
            continue
        prov = Provenance.from_metadata(schema.metadata)
        if prov is not None:
            found.append((path, schema, prov))
    return found


def _yaml_header(files: list[tuple[Path, pa.Schema, Provenance]]) -> str:
    lines = ["---", "configs:"]
    for i, (path, _, _) in enumerate(files):
        lines.append(f"- config_name: {json.dumps(path.stem if len(files) > 1 else 'default')}")
        if i == 0 and len(files) > 1:
            lines.append("  default: true")
        lines.append("  data_files:")
        lines.append("  - split: train")
        lines.append(f"    path: {json.dumps(path.name)}")
    kinds = sorted({p.kind for _, _, p in files if p.kind})
    lines.append("tags:")
    lines += ["- caravan"] + [f"- {k}" for k in kinds]
    lines.append("---")
    return "\n".join(lines)


def _section(path: Path, schema: pa.Schema, prov: Provenance) -> str:
    kind = KINDS.get(prov.kind or "")
    loader = "arrow" if path.suffix == ".arrow" else "parquet"
    out = [f"## `{path.name}`", ""]
    if kind is not None:
        out += [f"**{kind.name}** records: {kind.doc}", ""]
    out += [
        f"- rows: {prov.rows}",
        f"- written by caravan {prov.tool_version} at {prov.created_at}",
        f"- command: `{' '.join(prov.command)}`" if prov.command else "- command: (library call)",
    ]
    for item in prov.inputs:
        out.append(f"- input: `{item['source']}` ({item['fingerprint']})")
    out += ["", "| column | type | meaning |", "|---|---|---|"]
    for f in schema:
        meaning = ""
        if kind is not None and f.name in kind.column_names:
            col = kind.column(f.name)
            meaning = col.doc + ("" if col.required else " (optional)")
        out.append(f"| `{f.name}` | `{f.type}` | {meaning or 'extra column, passed through'} |")
    if prov.rows == 0:  # `load_dataset` refuses a split without rows
        read = "pyarrow.parquet.read_table" if loader == "parquet" else "pyarrow.feather.read_table"
        out += [
            "",
            "This file holds no rows (its columns are kept). `load_dataset` cannot build an "
            "empty split, so read it as:",
            "",
            "```python",
            f"import datasets, {read.rsplit('.', 1)[0]}",
            f'ds = datasets.Dataset({read}("{path.name}"))',
            "```",
        ]
    else:
        out += [
            "",
            "```python",
            "from datasets import load_dataset",
            f'ds = load_dataset("{loader}", data_files="{path.name}", split="train")',
            "```",
        ]
    if kind is not None and kind.trl_hint:
        out += ["", kind.trl_hint]
    return "\n".join(out)


def render_card(folder: Path) -> str | None:
    files = caravan_files(folder)
    if not files:
        return None
    body = [_yaml_header(files), MARKER, "", "# Caravan dataset", ""]
    body.append(
        "Written by [Caravan](https://pypi.org/project/caravan/). Full provenance "
        "(command, config, input fingerprints) is stored in each file's schema metadata "
        "under the key `caravan`.\n"
    )
    body += [_section(*f) + "\n" for f in files]
    return "\n".join(body)


def write_card(folder: Path) -> Path | None:
    """(Re)write the folder's card; returns its path, or None if nothing to describe."""
    from caravan.records.writers import atomic_path

    text = render_card(folder)
    if text is None:
        return None
    target = folder / "README.md"
    if target.exists() and MARKER not in target.read_text(encoding="utf-8", errors="replace"):
        target = folder / "CARAVAN.md"
    with atomic_path(target, "w") as fh:
        fh.write(text)
    return target
