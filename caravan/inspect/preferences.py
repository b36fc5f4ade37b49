"""Preference data at a glance: scores, margins, the length bias, win rates, per-aspect
ratings, the judge's position bias (with confidence intervals) and parse failures.

Inputs are the rows of a `prefs build` pairs file and of its side table (one row per
response with `<aspect>_rating/_label/_position/_judge_error/_judge_attempts`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from typing import Any

from caravan.inspect import figures
from caravan.inspect.data import text_of
from caravan.inspect.html import escape, table_html
from caravan.prefs.judge import ASPECTS

Z95 = 1.96  # normal approximation; with few ratings per position the interval is optimistic


def pair_lengths(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pair: chosen/rejected characters, their difference and the score margin."""
    out = []
    for r in pairs:
        sc, sr = r.get("score_chosen"), r.get("score_rejected")
        c, j = len(text_of(r.get("chosen"))), len(text_of(r.get("rejected")))
        out.append(
            {
                "id": r.get("id"),
                "chosen_chars": c,
                "rejected_chars": j,
                "length_diff": c - j,
                "margin": None if sc is None or sr is None else sc - sr,
            }
        )
    return out


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r, or None when it is undefined (fewer than 2 points, or no variance)."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def length_bias(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """How often chosen is the longer answer, and r(margin, chosen - rejected length)."""
    lens = [p for p in pair_lengths(pairs) if p["margin"] is not None]
    longer = sum(p["length_diff"] > 0 for p in lens)
    r = pearson([p["length_diff"] for p in lens], [p["margin"] for p in lens])
    return {
        "pairs": len(lens),
        "chosen_longer": longer,
        "chosen_longer_rate": round(longer / len(lens), 4) if lens else None,
        "mean_chosen_chars": round(statistics.fmean([p["chosen_chars"] for p in lens]), 1)
        if lens
        else None,
        "mean_rejected_chars": round(statistics.fmean([p["rejected_chars"] for p in lens]), 1)
        if lens
        else None,
        "margin_length_r": None if r is None else round(r, 4),
    }


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean with a 95% interval (normal approximation); no interval below 2 values."""
    n = len(values)
    if not values:
        return {"n": 0, "mean": None, "lo": None, "hi": None}
    mean = statistics.fmean(values)
    half = Z95 * statistics.stdev(values) / math.sqrt(n) if n > 1 else None
    return {
        "n": n,
        "mean": round(mean, 4),
        "lo": None if half is None else round(mean - half, 4),
        "hi": None if half is None else round(mean + half, 4),
    }


def position_bias(side: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (aspect, shown position): mean rating with its 95% interval.

    Responses are shown in shuffled order, so a fair judge's intervals overlap across
    positions; a first-slot judge shows position 1 standing apart.
    """
    out = []
    for aspect in ASPECTS:
        by_pos: dict[int, list[float]] = defaultdict(list)
        for r in side:
            pos, rating = r.get(f"{aspect}_position"), r.get(f"{aspect}_rating")
            if pos is not None and rating is not None:
                by_pos[pos].append(float(rating))
        for pos in sorted(by_pos):
            out.append({"aspect": aspect, "position": pos, **mean_ci(by_pos[pos])})
    return out


def rating_distribution(side: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts of each rating (and N/A) per aspect, over every judged response."""
    out = []
    for aspect in ASPECTS:
        counts: Counter[str] = Counter()
        for r in side:
            if r.get(f"{aspect}_rating") is not None:
                counts[f"{float(r[f'{aspect}_rating']):g}"] += 1
            elif r.get(f"{aspect}_label") == "N/A":
                counts["N/A"] += 1
        for rating in sorted(counts):
            out.append({"aspect": aspect, "rating": rating, "count": counts[rating]})
    return out


def parse_failures(side: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per aspect: prompts the judge was asked about, and how many never parsed."""
    out = []
    for aspect in ASPECTS:
        asked, failed = set(), set()
        for r in side:
            if r.get(f"{aspect}_judge_attempts") is not None:
                asked.add(r["prompt_key"])
            if r.get(f"{aspect}_judge_error") is not None:
                failed.add(r["prompt_key"])
        if asked:
            out.append(
                {
                    "aspect": aspect,
                    "prompts": len(asked),
                    "failed": len(failed),
                    "rate": round(len(failed) / len(asked), 4),
                }
            )
    return out


def win_rates(side: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: pairs it appeared in, times chosen/rejected, win rate (from prefs.stats)."""
    from caravan.prefs.stats import side_figures

    models = side_figures(side)["models"] if side else {}
    return [{"model": m, **v} for m, v in models.items()]


# ---- plots ---------------------------------------------------------------------------


def plot_scores(ax: Any, pairs: list[dict[str, Any]]) -> None:
    chosen = [r["score_chosen"] for r in pairs if r.get("score_chosen") is not None]
    rejected = [r["score_rejected"] for r in pairs if r.get("score_rejected") is not None]
    if not chosen and not rejected:
        figures.empty(ax, "scores", "no scores (unrated pairs)")
        return
    lo, hi = min(chosen + rejected), max(chosen + rejected)
    bins = [lo + (hi - lo + 1e-9) * i / 12 for i in range(13)] if hi > lo else 5
    ax.hist(chosen, bins=bins, alpha=0.6, label="chosen", color="#55a868")
    ax.hist(rejected, bins=bins, alpha=0.6, label="rejected", color="#c44e52")
    ax.set_title("score: chosen vs rejected")
    ax.set_xlabel("mean aspect rating")
    ax.legend(fontsize=7)


def plot_margins(ax: Any, pairs: list[dict[str, Any]]) -> None:
    margins = [p["margin"] for p in pair_lengths(pairs) if p["margin"] is not None]
    figures.hist(ax, margins, "margin (chosen - rejected)", "score margin", bins=12)


def plot_length_bias(ax: Any, pairs: list[dict[str, Any]]) -> None:
    lens = [p for p in pair_lengths(pairs) if p["margin"] is not None]
    if not lens:
        figures.empty(ax, "length vs margin")
        return
    ax.scatter([p["length_diff"] for p in lens], [p["margin"] for p in lens], s=10, alpha=0.7)
    ax.axvline(0, color="grey", lw=0.8)
    r = length_bias(pairs)["margin_length_r"]
    ax.set_title(f"margin vs length difference (r = {'n/a' if r is None else f'{r:.2f}'})")
    ax.set_xlabel("chosen - rejected characters")
    ax.set_ylabel("margin")


def plot_win_rates(ax: Any, side: list[dict[str, Any]]) -> None:
    rows = sorted(
        (w for w in win_rates(side) if w["win_rate"] is not None), key=lambda w: -w["win_rate"]
    )
    figures.barh(
        ax,
        [w["model"] for w in rows],
        [w["win_rate"] for w in rows],
        "win rate",
        "chosen / in pairs",
    )
    if rows:
        ax.set_xlim(0, 1)


def plot_position_bias(ax: Any, side: list[dict[str, Any]]) -> None:
    rows = position_bias(side)
    if not rows:
        figures.empty(ax, "judge position bias")
        return
    aspects = [a for a in ASPECTS if any(r["aspect"] == a for r in rows)]
    width = 0.8 / len(aspects)
    for k, aspect in enumerate(aspects):
        pts = [r for r in rows if r["aspect"] == aspect]
        xs = [r["position"] + (k - (len(aspects) - 1) / 2) * width for r in pts]
        ys = [r["mean"] for r in pts]
        err = [[r["mean"] - (r["lo"] if r["lo"] is not None else r["mean"]) for r in pts],
               [(r["hi"] if r["hi"] is not None else r["mean"]) - r["mean"] for r in pts]]  # fmt: skip
        ax.errorbar(xs, ys, yerr=err, fmt="o", ms=3, capsize=2, label=aspect)
    ax.set_xticks(sorted({r["position"] for r in rows}))
    ax.set_title("mean rating by shown position (95% CI)")
    ax.set_xlabel("position")
    ax.legend(fontsize=6)


def plot_rating_distribution(ax: Any, side: list[dict[str, Any]]) -> None:
    rows = rating_distribution(side)
    if not rows:
        figures.empty(ax, "ratings per aspect")
        return
    ratings = sorted({r["rating"] for r in rows}, key=lambda x: (x == "N/A", x))
    aspects = [a for a in ASPECTS if any(r["aspect"] == a for r in rows)]
    width = 0.8 / len(aspects)
    for k, aspect in enumerate(aspects):
        counts = {r["rating"]: r["count"] for r in rows if r["aspect"] == aspect}
        xs = [i + (k - (len(aspects) - 1) / 2) * width for i in range(len(ratings))]
        ax.bar(xs, [counts.get(x, 0) for x in ratings], width=width, label=aspect)
    ax.set_xticks(range(len(ratings)), ratings)
    ax.set_title("ratings per aspect")
    ax.legend(fontsize=6)


def plot_parse_failures(ax: Any, side: list[dict[str, Any]]) -> None:
    rows = parse_failures(side)
    figures.barh(
        ax, [r["aspect"] for r in rows], [r["rate"] for r in rows], "judge parse failures",
        "failed prompts / judged prompts",
    )  # fmt: skip
    if rows:
        ax.set_xlim(0, max(0.05, max(r["rate"] for r in rows) * 1.2))


def stats_figure(pairs: list[dict[str, Any]], side: list[dict[str, Any]] | None = None) -> Any:
    """Every panel in one figure (what `prefs stats --plot` writes)."""
    panels = [plot_scores, plot_margins, plot_length_bias]
    side_panels = [
        plot_win_rates,
        plot_position_bias,
        plot_rating_distribution,
        plot_parse_failures,
    ]
    fig, axes = figures.grid(len(panels) + (len(side_panels) if side else 0), cell=(3.9, 2.5))
    for ax, draw in zip(axes, panels, strict=False):
        draw(ax, pairs)
    if side:
        for ax, draw_side in zip(axes[len(panels) :], side_panels, strict=False):
            draw_side(ax, side)
    return fig


def write_plot(pairs: list[dict[str, Any]], side: list[dict[str, Any]] | None, out: Any) -> Any:
    return figures.save_png(stats_figure(pairs, side), out)


def pairs_html(pairs: list[dict[str, Any]], n: int = 5, max_chars: int = 600) -> str:
    """The first `n` pairs side by side: prompt, chosen and rejected with scores and models."""
    rows = []
    for r in pairs[:n]:
        rows.append(
            [
                escape(text_of(r.get("prompt")), max_chars),
                f"<b>{escape(str(r.get('chosen_model')))} · {r.get('score_chosen')}</b><br>"
                + escape(text_of(r.get("chosen")), max_chars),
                f"<b>{escape(str(r.get('rejected_model')))} · {r.get('score_rejected')}</b><br>"
                + escape(text_of(r.get("rejected")), max_chars),
            ]
        )
    return table_html(["prompt", "chosen", "rejected"], rows, raw=True)


def plot_stats_files(pairs_path: Any, side_path: Any, out: Any) -> Any:
    """`prefs stats --plot`: read the pairs file (and side table, if any) and draw them."""
    from caravan.inspect.data import read_rows

    pairs = read_rows(pairs_path)
    side = read_rows(side_path) if side_path else None
    return write_plot(pairs, side, out)
