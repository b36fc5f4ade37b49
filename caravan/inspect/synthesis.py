"""Persona synthesis at a glance: which constraints were sampled, how many per prompt,
prompt lengths, why rows were rejected, how much of the persona file was used, and
clusters of near-duplicate prompts.

Inputs are the rows of a `synth generate` output (prompt, persona, constraint_type, ...),
its `.rejected.jsonl` side file (id, stage, reason, details and the rejected `row`; files of
older versions carried the row's fields at the top level) and the persona file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from caravan.inspect import figures
from caravan.inspect.html import escape, table_html


def constraint_ids(row: dict[str, Any]) -> list[str]:
    """The IF constraint ids of a generated row (empty for non-IF tasks)."""
    text = row.get("constraint_type") or ""
    return [c.strip() for c in text.split(",") if c.strip()]


def constraint_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How often each constraint id (and its family, the part before ':') was sampled."""
    counts = Counter(c for r in rows for c in constraint_ids(r))
    return [
        {"constraint_id": c, "family": c.split(":")[0], "prompts": n}
        for c, n in counts.most_common()
    ]


def constraints_per_prompt(rows: list[dict[str, Any]]) -> dict[int, int]:
    counts = Counter(len(constraint_ids(r)) for r in rows)
    return {k: counts[k] for k in sorted(counts)}


def prompt_words(rows: list[dict[str, Any]]) -> list[int]:
    return [len((r.get("prompt") or "").split()) for r in rows]


def rejection_reasons(rejected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter((r.get("stage") or "?", r.get("reason") or "?") for r in rejected)
    return [{"stage": s, "reason": why, "rows": n} for (s, why), n in counts.most_common()]


def flat(rejected: dict[str, Any]) -> dict[str, Any]:
    """A rejected-file entry with its row's fields beside id, stage, reason and details."""
    row = rejected.get("row") or {}
    out = {**row, **{k: v for k, v in rejected.items() if k != "row"}}
    out.setdefault("text", row.get("text") or row.get("prompt"))
    return out


def persona_coverage(
    personas: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    persona_field: str = "persona",
) -> dict[str, Any]:
    """Of the persona file: how many personas gave a kept prompt, only rejected ones, or
    were never drawn (matched by persona text, so it works whatever the id column)."""
    pool = {str(p.get(persona_field) or "").strip() for p in personas} - {""}
    kept = {str(r.get("persona") or "").strip() for r in rows}
    dropped = {str(flat(r).get("persona") or "").strip() for r in rejected} - kept
    return {
        "personas": len(pool),
        "kept": len(kept & pool),
        "only_rejected": len(dropped & pool),
        "unused": len(pool - kept - dropped),
        "not_in_file": len((kept | dropped) - pool),
        "coverage": round(len(kept & pool) / len(pool), 4) if pool else None,
    }


def near_duplicate_clusters(
    rows: list[dict[str, Any]], rejected: list[dict[str, Any]], threshold: float = 0.5
) -> list[dict[str, Any]]:
    """Groups of similar prompts, largest first.

    Rows the generator's dedup removed join the prompt they duplicate; kept prompts are
    also compared with each other at a looser Jaccard `threshold` (MinHash, as `synth
    dedup`), which shows the near-misses that survived.
    """
    from caravan.synth.dedup import DedupConfig, dedup_texts

    texts = {r["id"]: r.get("prompt") or "" for r in rows}
    groups: dict[str, dict[str, Any]] = {}
    for r in map(flat, rejected):
        if r.get("stage") not in ("dedup", "synth.dedup"):
            continue
        details = " ".join(r.get("details") or [])
        head = (
            details.split("duplicates ", 1)[-1].split(" ", 1)[0] if "duplicates " in details else ""
        )
        g = groups.setdefault(head, {"kept": head, "members": [], "texts": [texts.get(head, "")]})
        g["members"].append(r["id"])
        g["texts"].append(r.get("text") or "")
    ids = list(texts)
    report = dedup_texts([texts[i] for i in ids], DedupConfig(threshold=threshold))
    for rem in report.removed:
        head = ids[rem.duplicate_of]
        g = groups.setdefault(head, {"kept": head, "members": [], "texts": [texts[head]]})
        g["members"].append(ids[rem.index])
        g["texts"].append(texts[ids[rem.index]])
    return sorted(
        ({**g, "size": 1 + len(g["members"])} for g in groups.values()),
        key=lambda g: (-g["size"], g["kept"]),
    )


def clusters_html(clusters: list[dict[str, Any]], limit: int = 5, max_chars: int = 300) -> str:
    rows = [
        [escape(f"{c['size']} prompts"), "<br><hr>".join(escape(t, max_chars) for t in c["texts"])]
        for c in clusters[:limit]
    ]
    return table_html(["cluster", "prompts"], rows, raw=True) if rows else "<p>no clusters</p>"


def samples_html(rows: list[dict[str, Any]], n: int = 5, max_chars: int = 800) -> str:
    """Sample rows: persona, the prompt written for it, and its checkable constraints."""
    out = [
        [escape(r.get("persona"), max_chars), escape(r.get("prompt"), max_chars),
         escape(r.get("constraint") or r.get("constraint_type") or "-", max_chars)]
        for r in rows[:n]
    ]  # fmt: skip
    return table_html(["persona", "prompt", "constraints"], out, raw=True)


def overview_figure(
    rows: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    coverage: dict[str, Any] | None = None,
    top: int = 15,
) -> Any:
    """Constraint frequencies, constraints per prompt, prompt lengths, rejection reasons
    and persona coverage."""
    fig, axes = figures.grid(5 if coverage else 4)
    cc = constraint_counts(rows)[:top]
    figures.barh(axes[0], [c["constraint_id"] for c in cc], [c["prompts"] for c in cc],
                 "constraint ids sampled", "prompts")  # fmt: skip
    per = constraints_per_prompt(rows)
    axes[1].bar([str(k) for k in per], list(per.values()), color="#4c72b0")
    axes[1].set_title("constraints per prompt")
    figures.hist(axes[2], [float(w) for w in prompt_words(rows)], "prompt length", "words")
    rr = rejection_reasons(rejected)
    figures.barh(axes[3], [f"{r['stage']}: {r['reason']}" for r in rr], [r["rows"] for r in rr],
                 "rejected rows by reason", "rows")  # fmt: skip
    if coverage:
        parts = ["kept", "only_rejected", "unused"]
        axes[4].bar(parts, [coverage[p] for p in parts], color=["#55a868", "#c44e52", "#8c8c8c"])
        axes[4].set_title(f"personas used ({coverage['personas']} in file)")
    return fig
