"""Decontamination at a glance: the train x eval heatmap, how much of each matched eval
item is covered, and matched pairs with the shared n-grams highlighted.

Inputs are the JSON report of `decontam check` and its matches Parquet (train, train_row,
train_id, eval, eval_row, coverage, train_text, eval_text).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caravan.inspect import figures
from caravan.inspect.html import STYLE, escape, table_html

_TOKEN = re.compile(r"[^\W_]+")  # decontam.tokens' tokenizer, with character offsets


def load_report(path: str | Path) -> dict[str, Any]:
    from caravan.errors import CaravanError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaravanError(f"{path}: not a decontam report: {exc}") from exc


def load_matches(report: dict[str, Any], path: str | Path | None = None) -> list[dict[str, Any]]:
    """The matches file named by the report (or `path`); empty when it holds no rows."""
    from caravan.inspect.data import read_rows

    p = Path(path or report["matches_file"])
    return read_rows(p) if p.exists() else []


def matrix(report: dict[str, Any]) -> tuple[list[str], list[str], list[list[float]]]:
    """(train names, eval names, overlapped fraction per train x eval)."""
    trains = list(dict.fromkeys(r["train"] for r in report["results"]))
    evals = list(dict.fromkeys(r["eval"] for r in report["results"]))
    cell = {(r["train"], r["eval"]): r["fraction"] for r in report["results"]}
    return trains, evals, [[cell.get((t, e), 0.0) for e in evals] for t in trains]


def plot_heatmap(ax: Any, report: dict[str, Any]) -> None:
    trains, evals, m = matrix(report)
    if not trains:
        figures.empty(ax, "contamination")
        return
    threshold = report["settings"]["dataset_threshold"]
    top = max(max(row) for row in m)
    vmax = max(100 * top, 100 * threshold * 2)
    im = ax.imshow([[100 * v for v in row] for row in m], cmap="Reds", aspect="auto",
                   vmin=0, vmax=vmax)  # fmt: skip
    ax.set_xticks(range(len(evals)), evals, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(trains)), [Path(t).name for t in trains], fontsize=8)
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            flag = " !" if v > threshold else ""
            dark = 100 * v > 0.6 * vmax
            ax.text(j, i, f"{100 * v:.1f}%{flag}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_title(f"eval items overlapped (contaminated above {100 * threshold:g}%)")
    ax.figure.colorbar(im, ax=ax, label="% of eval set")


def plot_coverage(ax: Any, matches: list[dict[str, Any]], report: dict[str, Any]) -> None:
    cov = [m["coverage"] for m in matches]
    figures.hist(
        ax, cov, "coverage of matched eval items", "fraction of eval tokens matched", 20, (0, 1)
    )
    if cov:
        ax.axvline(report["settings"]["instance_threshold"], color="red", lw=1)


def heatmap_figure(report: dict[str, Any], matches: list[dict[str, Any]]) -> Any:
    fig, (a, b) = figures.grid(2, cols=2, cell=(5.0, 3.2))
    plot_heatmap(a, report)
    plot_coverage(b, matches, report)
    return fig


def _spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]


def shared_spans(text: str, other: str, n: int) -> list[tuple[int, int]]:
    """Character ranges of `text` covered by an n-gram (decontam tokens) also in `other`."""
    toks = _spans(text)
    words = [t[2] for t in toks]
    other_words = [t[2] for t in _spans(other)]
    grams = {tuple(other_words[i : i + n]) for i in range(len(other_words) - n + 1)}
    hit = [False] * len(toks)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) in grams:
            hit[i : i + n] = [True] * n
    spans: list[tuple[int, int]] = []
    for (start, end, _), h in zip(toks, hit, strict=True):
        if not h:
            continue
        gap = text[spans[-1][1] : start] if spans else "x"
        if len(gap) <= 3 and not any(c.isalnum() for c in gap):
            spans[-1] = (spans[-1][0], end)  # one mark across the gap between shared tokens
        else:
            spans.append((start, end))
    return spans


def highlight(text: str, other: str, n: int = 8, max_chars: int | None = 2000) -> str:
    """`text` escaped, with the n-grams it shares with `other` wrapped in <mark>."""
    shown = text if max_chars is None else text[:max_chars]
    out, pos = [], 0
    for start, end in shared_spans(shown, other, n):
        out.append(escape(shown[pos:start]))
        out.append(f"<mark>{escape(shown[start:end])}</mark>")
        pos = end
    out.append(escape(shown[pos:]))
    if max_chars is not None and len(text) > max_chars:
        out.append(" …")
    return "".join(out)


def matches_html(
    matches: list[dict[str, Any]], n: int = 8, limit: int = 20, max_chars: int = 2000
) -> str:
    """The best-covered matches: eval and training text side by side, shared n-grams marked."""
    best = sorted(matches, key=lambda m: (-m["coverage"], m["eval"], m["eval_row"]))[:limit]
    rows = [
        [
            escape(f"{m['eval']} #{m['eval_row']}") + "<br>" + f"{m['coverage']:.0%}",
            highlight(m["eval_text"] or "", m["train_text"] or "", n, max_chars),
            escape(f"{Path(m['train']).name} row {m['train_row']}"
                   + (f" (id {m['train_id']})" if m.get("train_id") else "")) + "<br>"
            + highlight(m["train_text"] or "", m["eval_text"] or "", n, max_chars),
        ]
        for m in best
    ]  # fmt: skip
    return table_html(["eval item · coverage", "eval text", "training text"], rows, raw=True)


def report_html(report: dict[str, Any], matches: list[dict[str, Any]], limit: int = 50) -> str:
    """A self-contained page: settings, the verdict table, heatmap + coverage (inline PNG),
    and the top matches with shared n-grams highlighted."""
    s = report["settings"]
    fig = heatmap_figure(report, matches)
    img = figures.png_base64(fig)
    figures.pyplot().close(fig)
    verdict = table_html(
        ["train", "eval", "overlapped / total", "%", "contaminated"],
        [
            [Path(r["train"]).name, r["eval"], f"{r['overlapped']} / {r['eval_instances']}",
             f"{100 * r['fraction']:.2f}", "YES" if r["contaminated"] else "no"]
            for r in report["results"]
        ],
    )  # fmt: skip
    shown = min(limit, len(matches))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>decontamination report</title>"
        f"{STYLE}</head><body style='font-family:sans-serif'>"
        "<h1>Decontamination report</h1>"
        f"<p>{escape(report.get('tool', ''))} · {escape(report.get('created_at', ''))} · "
        f"{s['ngram']}-grams · instance threshold {s['instance_threshold']} · "
        f"dataset threshold {s['dataset_threshold']} · tokenizer {escape(s['tokenizer'])}</p>"
        f"{verdict}<h2>Heatmap and coverage</h2><img alt='contamination heatmap' src='{img}'>"
        f"<h2>Matches ({shown} of {len(matches)}, best covered first)</h2>"
        f"{matches_html(matches, s['ngram'], limit) if matches else '<p>no matches</p>'}"
        f"<p style='color:grey'>written {datetime.now(UTC).isoformat(timespec='seconds')}</p>"
        "</body></html>"
    )


def write_html(
    report: dict[str, Any], out: str | Path, matches_path: str | Path | None = None,
    limit: int = 50,
) -> Path:  # fmt: skip
    """`decontam check --html`: write the report page atomically."""
    from caravan.records.writers import atomic_path

    figures.pyplot()  # fail with the install hint before reading anything
    page = report_html(report, load_matches(report, matches_path), limit)
    out = Path(out)
    with atomic_path(out, "w") as fh:
        fh.write(page)
    return out
