"""decontam's steps on the stage contract: Check (per batch) and Gate (global).

Check loads the eval sets and their n-gram index once per worker (`setup`) and marks each
training row with the eval instances it overlaps (Tülu 3's 8-gram rule, `match.scan_texts`
unchanged), by the row's `id`, never its position. Gate aggregates those marks per eval
set, applies the dataset-level decision (overlapped eval instances / all instances above
`threshold` is contamination) and fails the pipeline when any eval set is contaminated;
otherwise it passes the rows on, without the matched ones when `remove` is set.

`Check(..., only_matched=True)` is what `decontam check` runs over training shards
(`trainio.iter_shards`): it passes on only the matched rows, each with its training id,
row and compared text, and counts the rest, so a scan of any size returns little.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from caravan.errors import CaravanError
from caravan.stage import GlobalStage, Rejection, Stage, StageResult

MARK = "contamination"  # the column Check adds and Gate consumes


class ContaminationError(CaravanError):
    """A gate found an eval set contaminated above its threshold."""

    def __init__(self, message: str, report: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.report = report


class Check(Stage):
    """Mark training rows that overlap eval instances (`evals`: specs such as
    `gsm8k=path/to/test.jsonl:question`, or built-in names)."""

    name = "decontam.check"

    def __init__(
        self,
        evals: list[str],
        *,
        ngram: int = 8,
        instance_threshold: float = 0.5,
        fields: list[str] | None = None,
        cache_dir: str | Path | None = None,
        only_matched: bool = False,
    ) -> None:
        if not evals:
            raise CaravanError(f"{self.name}: give at least one eval set")
        self.evals = [str(e) for e in evals]
        self.ngram, self.instance_threshold = ngram, instance_threshold
        self.fields = list(fields or [])
        self.cache_dir = str(cache_dir) if cache_dir else None
        self.only_matched = only_matched
        self._catalog: Any = None

    def setup(self) -> None:
        if self._catalog is not None:  # built already (shared_state, or an earlier run)
            return
        from caravan.decontam.check import build_catalog
        from caravan.decontam.evalsets import load_eval_sets
        from caravan.decontam.index import default_cache_dir

        sets = load_eval_sets(self.evals)
        cache = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        self._catalog = build_catalog(sets, self.ngram, cache)

    def shared_state(self) -> Any:
        """The eval sets' n-gram index, built once on the driver; Ray workers map it from
        the object store instead of each building (and holding) a copy."""
        if self._catalog is None:
            self.setup()
        return self._catalog

    def use_shared_state(self, state: Any) -> None:
        self._catalog = state

    def __getstate__(self) -> dict[str, Any]:
        """The stage travels to workers without its index (shared or rebuilt there)."""
        return {**self.__dict__, "_catalog": None}

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.decontam.match import scan_texts
        from caravan.decontam.trainio import resolve_fields, row_text

        if self.only_matched:
            return self._matched(batch)
        rows = batch.to_pylist()
        fields = resolve_fields(batch.column_names, self.fields, "<training rows>")
        texts = [row_text(r, fields) for r in rows]
        found = scan_texts(texts, self._catalog.index, self.instance_threshold)
        marks = self._marks(found, len(rows))
        out = StageResult(counters=Counter(tokens=found.tokens, matches=len(found.matches)))
        out.counters["rows_matched"] = sum(bool(m) for m in marks)
        totals = {s.name: len(s.texts) for s in self._catalog.sets}
        for row, mark in zip(rows, marks, strict=True):
            out.rows.append({**row, MARK: mark})
        out.counters.update({f"eval_instances:{n}": t for n, t in totals.items()})
        return out

    def _marks(self, found: Any, n: int) -> list[list[dict[str, Any]]]:
        """Per row: the eval instances it overlaps (eval set, 0-based row, coverage)."""
        import numpy as np

        marks: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        if found.matches:
            items = np.array([m.eval_index for m in found.matches], dtype=np.int64)
            sets, eval_rows = self._catalog.locate(items)
            for m, k, er in zip(found.matches, sets.tolist(), eval_rows.tolist(), strict=True):
                es = self._catalog.sets[k]
                marks[m.train_index].append({"eval": es.name, "eval_row": int(er),
                                             "coverage": float(m.coverage),
                                             "eval_instances": len(es.texts)})  # fmt: skip
        return marks

    def _matched(self, shard: pa.Table) -> StageResult:
        """A training shard's matched rows: runner id, training id, 0-based training row,
        compared text and marks (`train_id` None: only the whole row, which the shard does
        not carry, gives it); plus the first rows without text (`no_text`)."""
        from caravan.decontam.match import scan_texts
        from caravan.decontam.trainio import (
            PRIVATE,
            ROW,
            parse_field,
            resolve_fields,
            shard_texts,
            shard_train_id,
        )

        if self.fields:  # `decontam check` resolves them once, on the driver
            fields = [parse_field(f) for f in self.fields]
        else:
            columns = [c for c in shard.column_names if c not in PRIVATE and c != "id"]
            fields = resolve_fields(columns, [], "<training rows>")
        texts = shard_texts(shard, fields)
        found = scan_texts(texts, self._catalog.index, self.instance_threshold)
        marks = self._marks(found, len(texts))
        rows_at = shard.column(ROW).to_pylist()
        ids = shard.column("id").to_pylist()
        out = StageResult(counters=Counter(rows=len(texts), tokens=found.tokens,
                                           matches=len(found.matches),
                                           rows_without_text=len(found.empty)))  # fmt: skip
        for i, mark in enumerate(marks):
            if mark:
                out.rows.append({"id": ids[i], "train_id": shard_train_id(shard, i),
                                 "train_row": rows_at[i], "text": texts[i], MARK: mark})  # fmt: skip
        for i in found.empty[:10]:
            out.rows.append({"id": ids[i], "train_row": rows_at[i], "no_text": True, MARK: []})
        return out


class Gate(GlobalStage):
    """Fail when any eval set's overlapped fraction exceeds `threshold` (Tülu: 0.02);
    `remove=True` also drops (rejects) every matched training row that passes the gate."""

    name = "decontam.gate"

    def __init__(self, threshold: float = 0.02, *, remove: bool = True) -> None:
        if not 0.0 <= threshold < 1.0:
            raise CaravanError(f"{self.name}: threshold must be in [0, 1), not {threshold}")
        self.threshold, self.remove = threshold, remove

    def report(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per eval set: overlapped instances, fraction, decision, matched training row ids."""
        per: dict[str, dict[str, Any]] = {}
        for row in rows:
            for m in row.get(MARK) or []:
                e = per.setdefault(m["eval"], {"eval": m["eval"], "instances": m["eval_instances"],
                                               "eval_rows": set(), "train_ids": []})  # fmt: skip
                e["eval_rows"].add(m["eval_row"])
                if not e["train_ids"] or e["train_ids"][-1] != row["id"]:
                    e["train_ids"].append(str(row["id"]))
        out = []
        for e in per.values():
            fraction = len(e["eval_rows"]) / e["instances"] if e["instances"] else 0.0
            out.append({"eval": e["eval"], "eval_instances": e["instances"],
                        "overlapped": len(e["eval_rows"]), "fraction": fraction,
                        "contaminated": fraction > self.threshold,
                        "train_ids": e["train_ids"]})  # fmt: skip
        return sorted(out, key=lambda r: r["eval"])

    async def process(self, batch: pa.Table) -> StageResult:
        if MARK not in batch.column_names:
            raise CaravanError(f"{self.name}: the rows carry no `{MARK}`; run decontam.check first")
        rows = batch.to_pylist()
        report = self.report(rows)
        bad = [r for r in report if r["contaminated"]]
        if bad:
            worst = "; ".join(
                f"{r['eval']}: {r['overlapped']}/{r['eval_instances']} eval instances "
                f"({r['fraction']:.1%}) overlap training rows e.g. {', '.join(r['train_ids'][:3])}"
                for r in bad
            )
            raise ContaminationError(
                f"decontamination gate failed (threshold {self.threshold:.1%}): {worst}", report
            )
        out = StageResult()
        for r in report:
            out.counters[f"overlapped:{r['eval']}"] = r["overlapped"]
        for row in rows:
            marks = row.pop(MARK) or []
            if marks and self.remove:
                details = [f"{m['eval']} row {m['eval_row']} ({m['coverage']:.0%} of its tokens)"
                           for m in marks]  # fmt: skip
                out.rejected.append(Rejection(row["id"], "contaminated", details, row))
            else:
                out.rows.append(row)
        return out
