"""verify's steps on the stage contract: Score (per batch) and BuildRLVR (global).

Score runs every row's response through the verifier named by its `dataset` (rewards and
per-check details as `verify score` adds them). BuildRLVR turns GSM8K / MATH / IFEval
source rows into open-instruct RLVR rows with the `verifiers.rlvr` builders unchanged;
it is global because few-shot examples are drawn from the whole source.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from caravan.errors import CaravanError
from caravan.stage import GlobalStage, Rejection, Stage, StageResult


class Score(Stage):
    """Rows with `ground_truth`, `dataset` and a response column in; rows gain `score`,
    `checks` (JSON) and `errors`. With `min_score`, rows below it are rejected.
    `unsafe_local_exec` lets code rows run without an OS sandbox where none is available
    (set on each worker in `setup()`, so it holds on Ray actors too)."""

    name = "verify.score"

    def __init__(
        self,
        response_column: str = "response",
        *,
        truncated_column: str | None = None,
        min_score: float | None = None,
        config: Any = None,
        unsafe_local_exec: bool = False,
    ) -> None:
        from caravan.verifiers.rewards import RewardConfig

        self.response_column, self.truncated_column = response_column, truncated_column
        self.min_score = min_score
        self.config = config if config is not None else RewardConfig()
        self.unsafe_local_exec = unsafe_local_exec

    def setup(self) -> None:
        if self.unsafe_local_exec:
            from caravan.verifiers.code.sandbox import set_unsafe_local_exec

            set_unsafe_local_exec(True)

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.verifiers.scoring import score_rows

        rows, summary = score_rows(
            batch.to_pylist(),
            response_column=self.response_column,
            truncated_column=self.truncated_column,
            config=self.config,
            source="<rows>",
        )
        out = StageResult(counters=Counter(rows_scored=summary.rows_scored))
        for name, st in summary.by_verifier.items():
            out.counters[f"{name}:checks"] += st.pairs
            out.counters[f"{name}:full_score"] += st.full
            out.counters[f"{name}:errors"] += st.errors
        for row in rows:
            if self.min_score is not None and (
                row["score"] is None or row["score"] < self.min_score
            ):
                detail = row["errors"] or f"score {row['score']} < {self.min_score}"
                out.rejected.append(Rejection(row["id"], "below min score", [detail], row))
            else:
                out.rows.append(row)
        return out


class BuildRLVR(GlobalStage):
    """Source rows of one `task` (gsm8k: question/answer; math: problem/answer or solution;
    ifeval: prompt/instruction_id_list/kwargs) in, RLVR rows out (id `<task>-<row id>`).
    Rows that cannot be converted are rejected with the reason."""

    name = "verify.build_rlvr"
    produces = "rlvr"

    def __init__(self, task: str, *, few_shot: int = 0, seed: int = 0) -> None:
        from caravan.verifiers.rlvr import BUILDERS

        if task not in BUILDERS:
            raise CaravanError(f"{self.name}: task must be one of {', '.join(BUILDERS)}")
        self.task, self.few_shot, self.seed = task, few_shot, seed

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.records.validate import BadRow
        from caravan.verifiers.rlvr import BUILDERS, _split_examples

        rows = batch.to_pylist()
        shots = self.few_shot if self.task != "ifeval" else 0
        _, skip = _split_examples(rows, shots, self.seed)
        # The builders yield one item per non-example row, in order; ids follow the source
        # rows' stable ids rather than their positions.
        positions = [i for i in range(len(rows)) if i not in skip]
        built = BUILDERS[self.task](rows, "<rows>", shots=shots, seed=self.seed)
        out = StageResult(counters=Counter(few_shot_examples=len(skip)))
        for pos, item in zip(positions, built, strict=True):
            if isinstance(item, BadRow):
                out.rejected.append(Rejection(rows[pos]["id"], "not convertible", [item.error],
                                              rows[pos]))  # fmt: skip
                continue
            out.rows.append({**item, "id": f"{self.task}-{rows[pos]['id']}"})
        return out
