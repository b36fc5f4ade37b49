"""IF modes: merge persona-IF pairs (from `synth relax`) and keep only pairs whose chosen
answer passes its machine-checkable constraints (`--verify-if`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from caravan.prefs.output import pair_row
from caravan.prefs.prompts import if_ground_truth

from caravan.errors import CaravanError

IF_ORIGIN = "persona-if"


def load_if_pairs(
    paths: list[Path], ground_truth_field: str = "ground_truth"
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Preference rows from relax output files, in our output shape."""
    from caravan.records import load_records

    rows: list[dict[str, Any]] = []
    fingerprints: dict[str, str] = {}
    for path in paths:
        loaded = load_records(path, "preference")
        if loaded.bad_rows:
            bad = loaded.bad_rows[0]
            raise CaravanError(f"--merge-if {bad} ({len(loaded.bad_rows)} bad rows)")
        fingerprints[str(path)] = loaded.fingerprint
        for row in loaded.table.to_pylist():
            gt = if_ground_truth(row, ground_truth_field)
            rows.append(
                pair_row(
                    id=str(row["id"]),
                    prompt=row["prompt"],
                    chosen=row["chosen"],
                    rejected=row["rejected"],
                    score_chosen=row.get("score_chosen"),
                    score_rejected=row.get("score_rejected"),
                    source=str(row.get("source") or IF_ORIGIN),
                    chosen_model=row.get("chosen_model") or row.get("model"),
                    rejected_model=row.get("rejected_model") or row.get("model"),
                    origin=IF_ORIGIN,
                    ground_truth=gt,
                )
            )
    return rows, fingerprints


def check_labels(labelled: list[tuple[str, str | None]]) -> None:
    """Every IF label given must parse; the error names its owner (prompt or pair)."""
    from caravan.verifiers.ifeval import parse_ground_truth

    for owner, gt in labelled:
        if not gt:
            continue
        try:
            parse_ground_truth(gt)
        except CaravanError as exc:
            raise CaravanError(f"{owner}: its IF ground truth: {exc}") from exc


def check_unique_ids(rows: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for row in rows:
        if row["id"] in seen:
            raise CaravanError(
                f"pair id {row['id']!r} occurs twice (a merged IF pair reuses a prompt id?); "
                "ids must be unique"
            )
        seen.add(row["id"])


def chosen_text(row: dict[str, Any]) -> str:
    return "".join(m["content"] for m in row["chosen"] if m["role"] == "assistant")


def last_user(row: dict[str, Any]) -> str | None:
    users = [m["content"] for m in row["prompt"] if m["role"] == "user"]
    return users[-1] if users else None


def verify_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], int]:
    """(kept rows, ids of dropped rows, rows without ground truth). Every constraint must
    pass."""
    from caravan.verifiers.ifeval import score_ground_truth

    kept: list[dict[str, Any]] = []
    dropped: list[str] = []
    unverified = 0
    for row in rows:
        gt = row.get("ground_truth")
        if not gt:
            unverified += 1
            kept.append(row)
            continue
        try:
            score = score_ground_truth(
                chosen_text(row), gt, scoring="binary", prompt=last_user(row)
            )
        except CaravanError as exc:
            raise CaravanError(f"pair {row['id']!r}: its IF ground truth: {exc}") from exc
        if score < 1.0:
            dropped.append(row["id"])
            continue
        kept.append({**row, "if_verified": True})
    return kept, dropped, unverified
