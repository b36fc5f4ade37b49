"""synth's steps on the stage contract: Generate, Solve, Relax, Dedup, Complete.

The `synth` commands are thin calls of these stages. Each stage runs the decision functions
of its module (prompt building, the constraint-statement check, majority voting, the relax
checks, MinHash dedup); reading, writing and call plumbing belong to the runner and the LLM
session.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
from caravan.synth.dedup import DedupConfig
from caravan.synth.models import ModelChoice

from caravan.errors import CaravanError
from caravan.session import LLM
from caravan.stage import GlobalStage, Rejection, Stage, StageResult, placeholder_text


def _choice(llm: LLM) -> ModelChoice:
    return ModelChoice(llm.provider, llm.model, llm.base_url, "session")


def _need_llm(llm: Any, stage: str) -> LLM:
    if not isinstance(llm, LLM):
        raise CaravanError(f"{stage}: `llm` must be a caravan LLM session, got {llm!r}")
    return llm


class Generate(Stage):
    """Personas in (`persona`, `id`), one verifiable prompt per persona out.

    `n` personas are drawn without replacement with `seed` (all when None); IF prompts that
    do not state their sampled constraints are redrawn up to `max_attempts` times.
    """

    name = "synth.generate"
    consumes = None
    produces = None  # RLVR-shaped for task "if"

    def __init__(
        self,
        task: str,
        llm: LLM,
        n: int | None = None,
        seed: int = 0,
        *,
        persona_field: str = "persona",
        template: str | Path | None = None,
        min_constraints: int = 1,
        max_constraints: int = 3,
        constraint_ids: list[str] | None = None,
        max_attempts: int = 3,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 1024,
    ) -> None:
        from caravan.synth.generate import GenerateConfig

        if n is not None and n < 1:
            raise CaravanError("-n must be at least 1")
        self.llm = _need_llm(llm, self.name)
        self.task, self.n, self.seed, self.persona_field = task, n, seed, persona_field
        self.template = str(template) if template else None
        self._cfg = GenerateConfig(
            task=task, choice=_choice(self.llm), seed=seed,
            template=Path(template) if template else None, min_constraints=min_constraints,
            max_constraints=max_constraints, constraint_ids=constraint_ids,
            max_attempts=max_attempts, temperature=temperature, top_p=top_p,
            max_tokens=max_tokens,
        )  # fmt: skip
        self.params = {"min_constraints": min_constraints, "max_constraints": max_constraints,
                       "constraint_ids": constraint_ids, "max_attempts": max_attempts,
                       "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}  # fmt: skip
        self._template: Any = None

    def select(self, table: pa.Table) -> pa.Table:
        """The seeded draw of `n` distinct personas (the runner calls this on all input)."""
        from caravan.synth.personas import personas_from_table, sample_personas

        personas, _ = personas_from_table(table, "<personas>", self.persona_field)
        picked = sample_personas(personas, self.n, self.seed)
        return pa.table(
            {"id": [p.id for p in picked], self.persona_field: [p.text for p in picked]}
        )

    def setup(self) -> None:
        from caravan.synth.templates import load_template

        self._template = load_template(f"generate_{self.task}", self._cfg.template)

    def _items(self, batch: pa.Table) -> list[Any]:
        from caravan.synth.generate import build_items
        from caravan.synth.personas import personas_from_table

        personas, _ = personas_from_table(batch, "<personas>", self.persona_field)
        return build_items(self._cfg, self._template, personas)

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.synth.generate import judge_round, output_row, rejection_reason, requests_for

        cfg = self._cfg
        items = self._items(batch)
        out = StageResult()
        pending = list(items)
        for attempt in range(cfg.max_attempts):
            if not pending:
                break
            for it in pending:
                it.attempts = attempt
            responses = await self.llm.acomplete(
                requests_for(self.llm, cfg, pending), progress=False
            )
            out.counters["requests"] += len(pending)
            pending = judge_round(cfg, pending, responses)
        for it in items:
            if it.result is None:
                text = it.response.text if it.response else None
                out.rejected.append(Rejection(
                    f"{cfg.task}-{it.id}", rejection_reason(it.problems), it.problems,
                    {"id": it.id, "persona_id": it.id, "persona": it.persona.text,
                     "draws": it.attempts + 1, "text": text},
                ))  # fmt: skip
                continue
            out.rows.append(output_row(cfg, self._template, it))
        return out

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        from caravan.synth.generate import requests_for

        self.setup()
        return [(self.llm, requests_for(self.llm, self._cfg, self._items(batch)))]

    def dry_output(self, batch: pa.Table) -> pa.Table:
        from caravan.synth.generate import output_row

        self.setup()
        items = self._items(batch)
        for it in items:  # the longest prompt the model may write, with its real constraints
            it.result = placeholder_text(self._cfg.max_tokens)
        return pa.Table.from_pylist([output_row(self._cfg, self._template, it) for it in items])


class Solve(Stage):
    """Prompts in (`prompt` or `messages`, `task`), SFT rows out; with `verify`, only
    answers that pass their constraints, agree by majority (math) or pass their own tests
    (code) are kept. `code_llm` answers the code prompts (Tülu 3: Claude), `llm` the rest;
    `templates` maps a task to your own solve template file."""

    name = "synth.solve"
    produces = "sft"

    def __init__(
        self,
        llm: LLM,
        verify: bool = False,
        *,
        code_llm: LLM | None = None,
        samples: int | None = None,
        min_agreement: float = 0.5,
        task: str | None = None,
        prompt_field: str = "prompt",
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 2048,
        seed: int = 0,
        templates: dict[str, str | Path] | None = None,
    ) -> None:
        from caravan.synth.solve import SolveConfig

        self.llm = _need_llm(llm, self.name)
        self.code_llm = _need_llm(code_llm, self.name) if code_llm is not None else None
        self.verify, self.samples, self.min_agreement, self.task = (
            verify,
            samples,
            min_agreement,
            task,
        )
        self.prompt_field, self.seed = prompt_field, seed
        self.params = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.templates = {t: str(p) for t, p in (templates or {}).items()}
        self._cfg = SolveConfig(
            verify=verify, samples=samples, min_agreement=min_agreement, task=task,
            prompt_field=prompt_field, temperature=temperature, top_p=top_p,
            max_tokens=max_tokens, seed=seed,
            templates={t: Path(p) for t, p in self.templates.items()},
        )  # fmt: skip

    def samples_for(self, task: str) -> int:
        """Answers drawn per prompt of `task` (math: for the majority vote)."""
        return self._cfg.k(task)

    def session_for(self, task: str) -> LLM:
        """Who answers prompts of `task`."""
        return self.code_llm if task == "code" and self.code_llm is not None else self.llm

    def _jobs(self, batch: pa.Table) -> list[Any]:
        from caravan.synth.solve import normalize_prompt_rows, plan

        rows = normalize_prompt_rows(batch.to_pylist(), "<prompts>", self.prompt_field, self.task)
        return plan(self._cfg, rows, caller_for=self.session_for)

    @staticmethod
    def _by_session(jobs: list[Any]) -> list[tuple[LLM, list[Any]]]:
        groups: dict[int, tuple[LLM, list[Any]]] = {}
        for job in jobs:
            groups.setdefault(id(job.caller), (job.caller, []))[1].append(job)
        return list(groups.values())

    async def process(self, batch: pa.Table) -> StageResult:
        import asyncio

        from caravan.synth.solve import check, solve_row

        jobs = self._jobs(batch)

        async def answer(llm: LLM, group: list[Any]) -> None:
            responses = iter(
                await llm.acomplete([r for j in group for r in j.requests], progress=False)
            )
            for job in group:
                job.responses = [next(responses) for _ in job.requests]

        await asyncio.gather(*(answer(llm, group) for llm, group in self._by_session(jobs)))
        out = StageResult()
        for job in jobs:
            out.counters["requests"] += len(job.requests)
            extra, reason, details = check(self._cfg, job)
            if extra is None:
                answers = [r.text for r in job.responses]
                out.rejected.append(Rejection(job.row["id"], reason or "rejected", details,
                                              {**job.row, "answers": answers}))  # fmt: skip
                continue
            out.counters["verified"] += bool(extra.get("verified"))
            out.rows.append(solve_row(self._cfg, job, extra))
        return out

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        return [
            (llm, [r for j in group for r in j.requests])
            for llm, group in self._by_session(self._jobs(batch))
        ]

    def dry_output(self, batch: pa.Table) -> pa.Table:
        from caravan.synth.solve import normalize_prompt_rows

        rows = normalize_prompt_rows(batch.to_pylist(), "<prompts>", self.prompt_field, self.task)
        answer = placeholder_text(self._cfg.max_tokens)
        for r in rows:
            r["messages"] = [{"role": "user", "content": r[self.prompt_field]},
                             {"role": "assistant", "content": answer}]  # fmt: skip
        return pa.Table.from_pylist(rows)


class Relax(Stage):
    """SFT rows of IF prompts with >= 2 constraints in, persona-IF preference pairs out:
    one constraint is dropped, the prompt rewritten and answered, and the pair kept only
    when the verifier confirms chosen passes everything and rejected breaks the dropped one."""

    name = "synth.relax"
    consumes = "sft"
    produces = "preference"

    def __init__(
        self,
        llm: LLM,
        *,
        drop_id: str | None = None,
        seed: int = 0,
        template: str | Path | None = None,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 2048,
    ) -> None:
        from caravan.synth.relax import RelaxConfig

        self.llm = _need_llm(llm, self.name)
        self.drop_id, self.seed = drop_id, seed
        self.template = str(template) if template else None
        self.params = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self._cfg = RelaxConfig(
            choice=_choice(self.llm), drop_id=drop_id, seed=seed,
            template=Path(template) if template else None, temperature=temperature, top_p=top_p,
            max_tokens=max_tokens,
        )  # fmt: skip
        self._template: Any = None

    def setup(self) -> None:
        from caravan.synth.templates import load_template

        self._template = load_template("relax_if", self._cfg.template)

    def pairs(self, batch: pa.Table) -> tuple[list[Any], list[Rejection], int]:
        """(the pairs to build, the IF rows that cannot be relaxed, how many rows are not IF
        prompts with ground truth and so pass by)."""
        from caravan.synth.relax import select
        from caravan.synth.solve import normalize_prompt_rows

        rows = batch.to_pylist()
        ifs = [r for r in rows if (r.get("task") or "if") == "if" and r.get("ground_truth")]
        originals = {str(r.get("id")): dict(r) for r in ifs}
        normalize_prompt_rows(ifs, "<sft rows>", "prompt", "if")
        pairs, skipped = select(self._cfg, ifs)
        rejected = [Rejection(s["id"], s["reason"], s["details"], originals.get(s["id"]))
                    for s in skipped]  # fmt: skip
        return pairs, rejected, batch.num_rows - len(ifs)

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.synth.relax import (
            _answer_request,
            accept_rewrite,
            pair_output_row,
            record_answers,
            rewrite_requests,
            verify_pair,
        )

        cfg, llm = self._cfg, self.llm
        out = StageResult()
        pairs, skipped, not_if = self.pairs(batch)
        out.counters["not_if_rows"] = not_if
        out.rejected.extend(skipped)
        rewrites = await llm.acomplete(
            rewrite_requests(llm, cfg, self._template, pairs), progress=False
        )
        for p, r in zip(pairs, rewrites, strict=True):
            accept_rewrite(p, r)
        live = [p for p in pairs if p.reason is None]
        originals = [p for p in live if p.original_answer is None]
        requests = [
            _answer_request(llm, cfg, f"relaxed-{p.row['id']}", p.rewrite, p.seed)
            for p in live
        ] + [
            _answer_request(llm, cfg, f"original-{p.row['id']}", p.row["prompt"], p.seed)
            for p in originals
        ]
        responses = await llm.acomplete(requests, progress=False)
        out.counters["requests"] += len(pairs) + len(requests)
        record_answers(live, originals, responses)
        for p in live:
            if p.reason is None and verify_pair(p):
                out.rows.append(pair_output_row(cfg, self._template, p))
        for p in pairs:
            if p.reason is not None:
                out.rejected.append(Rejection(
                    p.row["id"], p.reason, p.details,
                    {**p.row, "dropped_constraint": p.ids[p.drop],
                     "relaxed_prompt": p.relaxed_prompt, "relaxed_answer": p.relaxed_answer},
                ))  # fmt: skip
        return out

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        from caravan.synth.relax import rewrite_requests

        self.setup()
        pairs, _, _ = self.pairs(batch)
        return [(self.llm, rewrite_requests(self.llm, self._cfg, self._template, pairs))]


class Dedup(GlobalStage):
    """Exact and near-duplicate rows of one text column (MinHash LSH); the first of a group
    is kept, every other one rejected with the id it duplicates."""

    name = "synth.dedup"

    def __init__(
        self,
        field: str = "prompt",
        threshold: float = 0.8,
        shingle_size: int = 5,
        num_perm: int = 128,
        seed: int = 1,
    ) -> None:
        self.field = field
        self.config = DedupConfig(threshold, shingle_size, num_perm, seed)

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.synth.dedup import dedup_texts

        if batch.num_rows == 0:
            return StageResult()
        if self.field not in batch.column_names:
            raise CaravanError(f"{self.name}: no `{self.field}` column to deduplicate on")
        rows = batch.to_pylist()
        report = dedup_texts([str(r[self.field] or "") for r in rows], self.config)
        out = StageResult(rows=[rows[i] for i in report.kept])
        for rem in report.removed:
            dup, kept = rows[rem.index], rows[rem.duplicate_of]
            reason = "exact duplicate" if rem.reason == "exact" else "near duplicate"
            out.rejected.append(Rejection(
                dup["id"], reason,
                [f"duplicates {kept['id']} (estimated Jaccard {rem.similarity})"], dup,
            ))  # fmt: skip
        out.counters.update({f"removed_{k}": v for k, v in report.counts.items()})
        return out


RESPONSE_COLUMNS = (
    "response",
    "response_json",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
    "attempts",
    "cached",
    "error",
    "error_kind",
)
OUTPUTS = ("sft", "columns")


class Complete(Stage):
    """Any prompt rows in; the model answers each.

    `output="sft"` (default): the answer is appended as an assistant turn (`messages`) and
    in `response`; failed, empty and truncated replies are rejected with the reason.
    `output="columns"` (what `synth complete` writes): every input row out, in order, with
    the RESPONSE_COLUMNS added (response, usage, cost, error...); a failed request is kept
    with its error, never dropped, so the output lines up with the input.

    The prompt is the row's `messages` or `prompt` unless `text_field` (one user message)
    or `messages_field` names the column; `schema` (a JSON schema dict or a pydantic model)
    constrains the replies; `params` (temperature, max_tokens...) override the session's."""

    name = "synth.complete"
    produces = "sft"

    def __init__(
        self,
        llm: LLM,
        *,
        schema: Any = None,
        text_field: str | None = None,
        messages_field: str | None = None,
        output: str = "sft",
        **params: Any,
    ) -> None:
        if output not in OUTPUTS:
            raise CaravanError(f"{self.name}: output must be one of {', '.join(OUTPUTS)}")
        self.llm = _need_llm(llm, self.name)
        self.params = params
        self.schema = schema
        self.text_field, self.messages_field, self.output = text_field, messages_field, output

    def _prompt(self, row: dict[str, Any]) -> Any:
        where = f"row {row['id']}"
        if self.text_field:
            value = row.get(self.text_field)
            if not isinstance(value, str):
                raise CaravanError(f"{where}: `{self.text_field}` must hold a text value")
            return value
        if self.messages_field:
            value = row.get(self.messages_field)
            if value is None:
                raise CaravanError(f"{where}: `{self.messages_field}` must hold a messages value")
            return list(value)
        from caravan.prefs.prompts import row_prompt

        return row_prompt(row, where, None)

    def _requests(self, rows: list[dict[str, Any]]) -> list[Any]:
        return [self.llm.request(str(r["id"]), self._prompt(r), self.params, self.schema)
                for r in rows]  # fmt: skip

    async def process(self, batch: pa.Table) -> StageResult:
        rows = batch.to_pylist()
        requests = self._requests(rows)
        responses = await self.llm.acomplete(requests, progress=False)
        out = StageResult(counters=Counter(requests=len(requests)))
        if self.output == "columns":
            out.rows = [{**row, **response_columns(r)} for row, r in zip(rows, responses,
                                                                           strict=True)]  # fmt: skip
            out.counters["failed"] = sum(not r.ok for r in responses)
            return out
        for row, req, r in zip(rows, requests, responses, strict=True):
            if not r.ok:
                out.rejected.append(Rejection(row["id"], "request failed",
                                              [f"{r.error_kind}: {r.error}"], row))  # fmt: skip
            elif r.finish_reason == "length":
                out.rejected.append(Rejection(row["id"], "truncated", ["hit max_tokens"], row))
            elif not (r.text or "").strip():
                out.rejected.append(Rejection(row["id"], "empty answer", [], row))
            else:
                msgs = [m for m in req.messages if m["role"] != "system" or self.llm.system is None]
                out.rows.append({**row, "messages": [*msgs, {"role": "assistant",
                                 "content": r.text.strip()}], "response": r.text.strip(),
                                 "model": self.llm.model})  # fmt: skip
        return out

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        return [(self.llm, self._requests(batch.to_pylist()))]


def response_columns(r: Any) -> dict[str, Any]:
    """A Response as the columns `Complete(output="columns")` adds to its row."""
    import json

    return {
        "response": r.text,
        "response_json": json.dumps(r.parsed) if r.parsed is not None else None,
        "finish_reason": r.finish_reason,
        "prompt_tokens": r.usage.prompt_tokens,
        "completion_tokens": r.usage.completion_tokens,
        "cost_usd": r.cost_usd,
        "latency_s": r.latency_s,
        "attempts": r.attempts,
        "cached": r.cached,
        "error": r.error,
        "error_kind": r.error_kind,
    }
