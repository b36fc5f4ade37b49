"""`prefs stats`: what a built preference file holds and how the judge behaved.

Pairs file: counts, score and margin distributions. Side table (responses + ratings):
exclusions, model win rates, and position bias: the judge's mean rating by the position a
response was shown at (with shuffled order, a fair judge has flat means across positions).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from caravan.prefs.judge import ASPECTS

from caravan.errors import CaravanError


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    qs = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 4),
        "min": min(values),
        "p25": round(qs[0], 4),
        "median": round(qs[1], 4),
        "p75": round(qs[2], 4),
        "max": max(values),
    }


def histogram(values: list[float], width: float = 0.5) -> dict[str, int]:
    """Counts per bin [lo, lo + width), keyed by the bin's lower edge."""
    bins: Counter[float] = Counter(round((v // width) * width, 4) for v in values)
    return {f"{k:g}": bins[k] for k in sorted(bins)}


def _read(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq
    from caravan.records import read_records

    if path.suffix == ".parquet":
        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # noqa: BLE001 - unreadable file -> one clear line
            raise CaravanError(f"{path}: cannot read as Parquet: {exc}") from exc
    return read_records(path).to_pylist()


def pair_figures(rows: list[dict[str, Any]], source: Path) -> dict[str, Any]:
    missing = {"prompt", "chosen", "rejected"} - set(rows[0]) if rows else set()
    if missing:
        raise CaravanError(f"{source}: not a preference file (missing {', '.join(missing)})")
    chosen = [r["score_chosen"] for r in rows if r.get("score_chosen") is not None]
    rejected = [r["score_rejected"] for r in rows if r.get("score_rejected") is not None]
    margins = [
        r["score_chosen"] - r["score_rejected"]
        for r in rows
        if r.get("score_chosen") is not None and r.get("score_rejected") is not None
    ]
    return {
        "pairs": len(rows),
        "by_origin": dict(Counter(str(r.get("origin")) for r in rows)),
        "by_source": dict(Counter(str(r.get("source")) for r in rows)),
        "if_verified": sum(bool(r.get("if_verified")) for r in rows),
        "score_chosen": summary(chosen),
        "score_rejected": summary(rejected),
        "margin": {**summary(margins), "histogram": histogram(margins)},
        "score_chosen_histogram": histogram(chosen),
        "score_rejected_histogram": histogram(rejected),
    }


def side_figures(side: list[dict[str, Any]]) -> dict[str, Any]:
    prompts: dict[str, str | None] = {}
    for r in side:
        prompts[r["prompt_key"]] = r.get("prompt_status")
    wins: dict[str, Counter[str]] = defaultdict(Counter)
    scores: dict[str, list[float]] = defaultdict(list)
    for r in side:
        model = r["model"]
        if r.get("score") is not None:
            scores[model].append(r["score"])
        if r.get("prompt_status") == "paired" and r.get("judged"):
            wins[model]["appeared"] += 1
            if r.get("role") in ("chosen", "rejected"):
                wins[model][r["role"]] += 1
    models = {}
    for model in sorted(set(wins) | set(scores)):
        c = wins[model]
        models[model] = {
            "appeared_in_pairs": c["appeared"],
            "chosen": c["chosen"],
            "rejected": c["rejected"],
            "win_rate": round(c["chosen"] / c["appeared"], 4) if c["appeared"] else None,
            "mean_score": round(statistics.fmean(scores[model]), 4) if scores[model] else None,
        }
    position: dict[str, dict[str, Any]] = {}
    for aspect in ASPECTS:
        by_pos: dict[int, list[float]] = defaultdict(list)
        na: Counter[int] = Counter()
        for r in side:
            pos = r.get(f"{aspect}_position")
            if pos is None:
                continue
            if r.get(f"{aspect}_rating") is not None:
                by_pos[pos].append(r[f"{aspect}_rating"])
            elif r.get(f"{aspect}_label") == "N/A":
                na[pos] += 1
        if not by_pos and not na:
            continue
        means = {p: statistics.fmean(v) for p, v in by_pos.items() if v}
        position[aspect] = {
            "mean_by_position": {str(p): round(means[p], 4) for p in sorted(means)},
            "n_by_position": {str(p): len(by_pos[p]) for p in sorted(by_pos)},
            "na_by_position": {str(p): na[p] for p in sorted(na)},
            "spread": round(max(means.values()) - min(means.values()), 4) if means else None,
        }
    return {
        "prompts": len(prompts),
        "prompt_status": dict(Counter(str(s) for s in prompts.values())),
        "responses": len(side),
        "models": models,
        "position_bias": position,
    }


def compute_stats(pairs: Path, side_table: Path | None = None) -> dict[str, Any]:
    rows = _read(pairs)
    figures: dict[str, Any] = {"file": str(pairs), **pair_figures(rows, pairs)}
    side_path = side_table or pairs.with_name(pairs.stem + ".responses.parquet")
    if side_path.exists():
        figures["side_table"] = str(side_path)
        figures.update(side_figures(_read(side_path)))
    elif side_table is not None:
        raise CaravanError(f"no such side table: {side_table}")
    return figures


def render(figures: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{figures['file']}[/]: {figures['pairs']} pairs")
    console.print(f"by origin: {figures['by_origin']}   by source: {figures['by_source']}")
    if figures.get("if_verified"):
        console.print(f"IF-verified pairs: {figures['if_verified']}")
    if "prompt_status" in figures:
        console.print(
            f"prompts: {figures['prompts']}  responses: {figures['responses']}  "
            f"status: {figures['prompt_status']}"
        )
    dist = Table(title="scores")
    for col in ("", "n", "mean", "min", "p25", "median", "p75", "max"):
        dist.add_column(col)
    for name in ("score_chosen", "score_rejected", "margin"):
        s = figures[name]
        dist.add_row(
            name, *(str(s.get(k, "-")) for k in ("n", "mean", "min", "p25", "median", "p75", "max"))
        )
    console.print(dist)
    console.print(f"margin histogram (bin start: count): {figures['margin']['histogram']}")
    if figures.get("models"):
        wins = Table(title="models")
        for col in ("model", "in pairs", "chosen", "rejected", "win rate", "mean score"):
            wins.add_column(col)
        for model, m in figures["models"].items():
            wins.add_row(
                model, str(m["appeared_in_pairs"]), str(m["chosen"]), str(m["rejected"]),
                "-" if m["win_rate"] is None else f"{m['win_rate']:.3f}",
                "-" if m["mean_score"] is None else f"{m['mean_score']:.3f}",
            )  # fmt: skip
        console.print(wins)
    if figures.get("position_bias"):
        bias = Table(title="judge position bias: mean rating by shown position")
        positions = sorted(
            {int(p) for a in figures["position_bias"].values() for p in a["mean_by_position"]}
        )
        bias.add_column("aspect")
        for p in positions:
            bias.add_column(f"pos {p}")
        bias.add_column("spread")
        for aspect, a in figures["position_bias"].items():
            cells = [str(a["mean_by_position"].get(str(p), "-")) for p in positions]
            bias.add_row(aspect, *cells, str(a["spread"]))
        console.print(bias)
