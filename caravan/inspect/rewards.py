"""Verifier rewards at a glance: reward distributions per verifier, pass rates per
verifier and per IF constraint id, and failing checks with their reasons.

Input: the output of `verify score` (the input columns plus `score`, `checks` (JSON, one
entry per (ground_truth, dataset) pair: verifier, score, details, error) and `errors`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from caravan.inspect import figures
from caravan.inspect.html import escape, table_html


def check_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per check: row index, verifier, score, error, details."""
    out = []
    for i, r in enumerate(rows):
        for c in json.loads(r.get("checks") or "[]"):
            out.append(
                {
                    "row": i,
                    "verifier": c.get("verifier") or f"? {c.get('dataset')}",
                    "score": c.get("score"),
                    "error": c.get("error"),
                    "details": c.get("details") or {},
                }
            )
    return out


def pass_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per verifier: checks, scored, errors, mean score, fraction fully passed."""
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: {"checks": 0, "errors": 0, "scores": []})
    for c in check_rows(rows):
        a = acc[c["verifier"]]
        a["checks"] += 1
        if c["error"]:
            a["errors"] += 1
        elif c["score"] is not None:
            a["scores"].append(c["score"])
    out = []
    for name in sorted(acc):
        a, s = acc[name], acc[name]["scores"]
        out.append(
            {
                "verifier": name,
                "checks": a["checks"],
                "scored": len(s),
                "errors": a["errors"],
                "mean_score": round(sum(s) / len(s), 4) if s else None,
                "pass_rate": round(sum(x >= 1.0 for x in s) / len(s), 4) if s else None,
            }
        )
    return out


def constraint_pass_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per IF instruction id: how many responses were checked against it and passed."""
    acc: dict[str, list[bool]] = defaultdict(list)
    for c in check_rows(rows):
        d = c["details"]
        for cid, ok in zip(d.get("instruction_ids") or [], d.get("outcomes") or [], strict=False):
            acc[cid].append(bool(ok))
    return sorted(
        (
            {"constraint_id": k, "checked": len(v), "passed": sum(v),
             "pass_rate": round(sum(v) / len(v), 4)}
            for k, v in acc.items()
        ),
        key=lambda x: (x["pass_rate"], x["constraint_id"]),
    )  # fmt: skip


def reason(check: dict[str, Any], ground_truth: Any = None) -> str:
    """Why a check did not fully pass, in words."""
    if check["error"]:
        return f"error: {check['error']}"
    d = check["details"]
    if "outcomes" in d:
        failed = [c for c, ok in zip(d["instruction_ids"], d["outcomes"], strict=False) if not ok]
        return "failed constraints: " + ", ".join(failed)
    if "tests" in d:
        bad = [t["status"] for t in d["tests"] if not t.get("passed")]
        return f"{len(bad)} of {len(d['tests'])} tests failed ({', '.join(sorted(set(bad)))})"
    if "extracted" in d:
        gt = "" if ground_truth is None else f", expected {str(ground_truth)[:60]}"
        return f"extracted {d['extracted']!r}{gt}"
    return json.dumps(d)[:200] if d else "score below 1"


def failing(rows: list[dict[str, Any]], response_column: str = "response") -> list[dict]:
    """Checks that did not fully pass: row, verifier, score, reason and the response."""
    out = []
    for c in check_rows(rows):
        if c["error"] or (c["score"] is not None and c["score"] < 1.0):
            r = rows[c["row"]]
            resp = r.get(response_column)
            if isinstance(resp, list):
                resp = "\n".join(str(m.get("content")) for m in resp)
            out.append(
                {
                    "row": c["row"],
                    "verifier": c["verifier"],
                    "score": c["score"],
                    "reason": reason(c, r.get("ground_truth")),
                    "response": resp,
                }
            )
    return out


def failing_html(fails: list[dict[str, Any]], n: int = 4, max_chars: int = 400) -> str:
    """The first `n` failing checks of each verifier, with reason and response."""
    shown: dict[str, int] = defaultdict(int)
    picked = []
    for f in fails:
        if shown[f["verifier"]] < n:
            shown[f["verifier"]] += 1
            picked.append(f)
    rows = [
        [str(f["row"]), escape(f["verifier"]), escape(f["score"]), escape(f["reason"], 300),
         escape(f["response"], max_chars)]
        for f in picked
    ]  # fmt: skip
    return table_html(["row", "verifier", "score", "reason", "response"], rows, raw=True)


def rewards_figure(rows: list[dict[str, Any]], top: int = 15) -> Any:
    """Reward per row by verifier, pass rate per verifier, pass rate per constraint id."""
    fig, axes = figures.grid(3, cols=3, cell=(4.0, 3.0))
    by_verifier: dict[str, list[float]] = defaultdict(list)
    for c in check_rows(rows):
        if c["score"] is not None and not c["error"]:
            by_verifier[c["verifier"]].append(c["score"])
    if by_verifier:
        names = sorted(by_verifier)
        axes[0].hist([by_verifier[n] for n in names], bins=10, label=names, range=(0, 1))
        axes[0].legend(fontsize=7)
        axes[0].set_title("check score per verifier")
        axes[0].set_xlabel("score (fraction satisfied)")
    else:
        figures.empty(axes[0], "check score per verifier")
    pr = [p for p in pass_rates(rows) if p["pass_rate"] is not None]
    figures.barh(axes[1], [p["verifier"] for p in pr], [p["pass_rate"] for p in pr],
                 "pass rate per verifier", "fully passed")  # fmt: skip
    cp = constraint_pass_rates(rows)[:top]
    figures.barh(axes[2], [c["constraint_id"] for c in cp], [c["pass_rate"] for c in cp],
                 f"IF constraints, hardest {len(cp)}", "pass rate")  # fmt: skip
    for ax in axes[1:]:
        if ax.has_data():
            ax.set_xlim(0, 1)
    return fig
