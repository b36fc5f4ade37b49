"""prefs' steps on the stage contract: Answer -> Judge -> Binarize.

Answer is organised per prompt (k pool models drawn for it, plus the on-policy model), so
a distributed engine needs no regroup; the request building, judge prompts, reply reading
and the binarization rule are prefs' own functions, unchanged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from caravan.errors import CaravanError
from caravan.session import LLM
from caravan.stage import GlobalStage, Rejection, Stage, StageResult, placeholder_text


def _pool_model(name: str, llm: LLM, origin: str = "pool") -> Any:
    from caravan.prefs.pool import DEFAULT_PARAMS, PoolModel

    return PoolModel(
        name=name, model=llm.model, provider=llm.provider, base_url=llm.base_url,
        params={**DEFAULT_PARAMS, **llm.params}, options=dict(llm.backend_options),
        origin=origin,
    )  # fmt: skip


def cached_replies(llm: LLM, requests: list[Any]) -> list[Any]:
    """What `llm`'s cache already holds for `requests` (None where nothing): dry runs size
    the next steps from real answers where they can. Nothing is sent."""
    from caravan.llm.cache import ResponseCache

    path = llm.cache_path
    if path is None or not path.exists():
        return [None] * len(requests)
    cache = ResponseCache(path)
    try:
        scope = llm.scope()
        return [cache.get(r.cache_key(scope), r.id) for r in requests]
    finally:
        cache.close()


class Answer(Stage):
    """Prompts in; per prompt, `k` models drawn from `pool` (seeded by prompt) plus the
    `on_policy` model answer it. `pool` is a list of sessions (named by their model) or a
    mapping name -> session. Rows gain `candidates` (model, model_id, provider, origin,
    text, ok, error, finish_reason)."""

    name = "prefs.answer"

    def __init__(
        self,
        pool: list[LLM] | dict[str, LLM],
        k: int = 4,
        on_policy: LLM | None = None,
        *,
        seed: int = 0,
        max_tokens: int | None = 2048,
        prompt_field: str | None = None,
        source: str | None = None,
        ground_truth_field: str = "ground_truth",
    ) -> None:
        from caravan.prefs.pool import policy_name

        named = dict(pool) if isinstance(pool, dict) else {m.model: m for m in pool or []}
        if not named or not all(isinstance(m, LLM) for m in named.values()):
            raise CaravanError(f"{self.name}: `pool` must hold LLM sessions (a list or a mapping)")
        if not isinstance(pool, dict) and len(named) < len(pool):
            names = ", ".join(m.model for m in pool)
            raise CaravanError(f"{self.name}: pool models must differ: {names}")
        if not 1 <= k <= len(named):
            raise CaravanError(f"{self.name}: k={k}, but the pool holds {len(named)} models")
        self.names, self.pool = list(named), list(named.values())
        self.k, self.on_policy, self.seed = k, on_policy, seed
        self.max_tokens, self.prompt_field, self.source = max_tokens, prompt_field, source
        self.ground_truth_field = ground_truth_field
        self._sessions = dict(named)
        self._models = [_pool_model(n, m) for n, m in named.items()]
        self._policy = None
        if on_policy is not None:
            name = policy_name(on_policy.model, on_policy.provider)
            self._policy = _pool_model(name, on_policy, "on-policy")
            self._sessions[name] = on_policy

    def _items(self, batch: pa.Table) -> list[Any]:
        from caravan.prefs.prompts import PromptItem, if_ground_truth, row_prompt

        return [
            PromptItem(
                id=str(row["id"]),
                prompt=row_prompt(row, f"row {row['id']}", self.prompt_field),
                source=str(row.get("source") or self.source or "prompts"),
                ground_truth=if_ground_truth(row, self.ground_truth_field),
            )
            for row in batch.to_pylist()
        ]

    def _plan(self, items: list[Any]) -> tuple[list[list[Any]], dict[str, list[Any]]]:
        from caravan.prefs.generation import plan_generation

        return plan_generation(items, self._models, self.k, self._policy, self.seed,
                               self.max_tokens)  # fmt: skip

    def _rows(self, items: list[Any], per_prompt: list[list[Any]], got: dict) -> StageResult:
        out = StageResult()
        for i, item in enumerate(items):
            cands = []
            for m in per_prompt[i]:
                r = got[(i, m.name)]
                ok = r.ok and bool((r.text or "").strip())
                out.counters["responses"] += 1
                out.counters["failed_responses"] += not ok
                cands.append({
                    "model": m.name, "model_id": m.model, "provider": m.provider,
                    "origin": m.origin, "text": r.text, "ok": ok,
                    "error": None if r.ok else f"{r.error_kind}: {r.error}",
                    "finish_reason": r.finish_reason,
                })  # fmt: skip
            out.rows.append({"id": item.id, "prompt": item.prompt, "source": item.source,
                             "ground_truth": item.ground_truth, "candidates": cands})  # fmt: skip
        return out

    async def process(self, batch: pa.Table) -> StageResult:
        import asyncio

        items = self._items(batch)
        per_prompt, per_model = self._plan(items)
        names = list(per_model)
        replies = await asyncio.gather(
            *(
                self._sessions[n].acomplete([r for _, r in per_model[n]], progress=False)
                for n in names
            )
        )
        got = {
            (i, n): resp
            for n, responses in zip(names, replies, strict=True)
            for (i, _), resp in zip(per_model[n], responses, strict=True)
        }
        return self._rows(items, per_prompt, got)

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        _, per_model = self._plan(self._items(batch))
        return [(self._sessions[n], [r for _, r in work]) for n, work in per_model.items()]

    def dry_output(self, batch: pa.Table) -> pa.Table:
        """Cached answers where the cache has them, else replies of the longest allowed
        length (`cached` says which), so the judge's estimate is exact where it can be."""
        from caravan.llm.types import Response

        items = self._items(batch)
        per_prompt, per_model = self._plan(items)
        got: dict[tuple[int, str], Any] = {}
        cached: set[tuple[int, str]] = set()
        for n, work in per_model.items():
            hits = cached_replies(self._sessions[n], [r for _, r in work])
            for (i, req), hit in zip(work, hits, strict=True):
                if hit is not None:
                    cached.add((i, n))
                text = placeholder_text(req.params.get("max_tokens") or self.max_tokens)
                got[(i, n)] = hit or Response(request_id=req.id, text=text)
        rows = self._rows(items, per_prompt, got).rows
        for i, row in enumerate(rows):
            for c in row["candidates"]:
                c["cached"] = (i, c["model"]) in cached
        return pa.Table.from_pylist(rows)


class Judge(Stage):
    """Answered prompts in; the judge rates every usable response on each aspect
    (UltraFeedback-style, shown in a seeded order). Rows gain `judged` (candidate indexes),
    `scores` (mean valid rating per candidate, None when unrated) and `aspects` (per
    aspect: every shown response's rating, label, rationale and position, or the error and
    raw reply of a call that never validated). A failed call is retried `retries` rounds,
    unless its reply was already paid for parse_retries + 1 times and never parsed."""

    name = "prefs.judge"

    def __init__(
        self,
        llm: LLM,
        aspects: list[str] | tuple[str, ...] | None = None,
        *,
        seed: int = 0,
        retries: int = 1,
    ) -> None:
        from caravan.prefs.judge import ASPECTS, DEFAULT_JUDGE_PARAMS, check_aspects

        if not isinstance(llm, LLM):
            raise CaravanError(f"{self.name}: `llm` must be a caravan LLM session")
        self.llm, self.seed, self.retries = llm, seed, retries
        self.aspects = list(check_aspects(tuple(aspects or ASPECTS)))
        self._params = {**DEFAULT_JUDGE_PARAMS, **llm.params}

    def _tasks(self, row: dict[str, Any], judged: list[int]) -> list[Any]:
        from caravan.prefs.judge import judge_request

        texts = [row["candidates"][i]["text"] or "" for i in judged]
        return [
            judge_request(str(row["id"]), a, row["prompt"], texts, self.llm.model, self._params,
                          self.seed)
            for a in self.aspects
        ]  # fmt: skip

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.prefs.binarize import JUDGE_FAILED, NO_RESPONSES, mean_score
        from caravan.prefs.judge import outcome_row, read_judgement, worth_retrying

        out = StageResult()
        work: list[tuple[dict[str, Any], list[int], list[Any]]] = []
        for row in batch.to_pylist():
            judged = [i for i, c in enumerate(row["candidates"]) if c["ok"]]
            if len(judged) < 2:
                out.rejected.append(Rejection(row["id"], NO_RESPONSES,
                                              [f"{len(judged)} usable responses"], row))  # fmt: skip
                continue
            work.append((row, judged, self._tasks(row, judged)))
        tasks = [t for _, _, ts in work for t in ts]
        responses = await self.llm.acomplete([t.request for t in tasks], progress=False)
        outcomes = [read_judgement(t, r) for t, r in zip(tasks, responses, strict=True)]
        out.counters["judge_calls"] += len(tasks)
        for _ in range(self.retries):
            failed = [i for i, o in enumerate(outcomes) if worth_retrying(o)]
            if not failed:
                break
            again = await self.llm.acomplete([tasks[i].request for i in failed], progress=False)
            out.counters["judge_retries"] += len(failed)
            for i, response in zip(failed, again, strict=True):
                retried = read_judgement(tasks[i], response)
                retried.attempts += outcomes[i].attempts
                outcomes[i] = retried
        pos = 0
        for row, judged, ts in work:
            mine = dict(zip(self.aspects, outcomes[pos : pos + len(ts)], strict=True))
            pos += len(ts)
            aspects = [outcome_row(o) for o in mine.values()]
            scores: list[float | None] = [None] * len(row["candidates"])
            bad = [f"{a}: {o.error}" for a, o in mine.items() if not o.ok]
            if bad:
                judged_row = {**row, "judged": judged, "scores": scores, "aspects": aspects}
                out.rejected.append(Rejection(row["id"], JUDGE_FAILED, bad, judged_row))
                continue
            for p, cand in enumerate(judged):
                scores[cand] = mean_score([mine[a].ratings[p].rating for a in self.aspects])
            out.rows.append({**row, "judged": judged, "scores": scores, "aspects": aspects})
        return out

    def plan(self, batch: pa.Table) -> list[tuple[Any, list[Any]]]:
        reqs: list[Any] = []
        for row in batch.to_pylist():
            judged = [i for i, c in enumerate(row["candidates"]) if c["ok"]]
            if len(judged) >= 2:
                reqs.extend(t.request for t in self._tasks(row, judged))
        return [(self.llm, reqs)]

    def dry_output(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        for row in rows:  # every response judged, distinct scores: the next steps can plan
            n = len(row["candidates"])
            row["judged"] = list(range(n))
            row["scores"] = [float(n - i) for i in range(n)]
        return pa.Table.from_pylist(rows)


class Binarize(GlobalStage):
    """Judged prompts in, preference pairs out (TRL prompt/chosen/rejected plus
    ultrafeedback_binarized columns). Chosen has the best mean score, rejected a strictly
    lower one (`random-lower`, `lowest` or `margin`); ties and unrated prompts are rejected
    with the reason, and the counters hold the pair statistics."""

    name = "prefs.binarize"
    produces = "preference"

    def __init__(self, strategy: str = "random-lower", margin: float = 1.0, seed: int = 0):
        from caravan.prefs.binarize import STRATEGIES

        if strategy not in STRATEGIES:
            raise CaravanError(f"unknown strategy {strategy!r}; choose {', '.join(STRATEGIES)}")
        self.strategy, self.margin, self.seed = strategy, margin, seed

    async def process(self, batch: pa.Table) -> StageResult:
        from caravan.prefs.binarize import binarize, pair_rng
        from caravan.prefs.output import assistant, pair_row

        out = StageResult(counters=Counter())
        margins = []
        for row in batch.to_pylist():
            judged = row["judged"]
            scores = [row["scores"][i] for i in judged]
            outcome = binarize(scores, pair_rng(self.seed, str(row["id"])), self.strategy,
                               self.margin)  # fmt: skip
            if isinstance(outcome, str):
                out.rejected.append(Rejection(row["id"], outcome, [f"scores {scores}"], row))
                continue
            chosen = row["candidates"][judged[outcome.chosen]]
            rejected = row["candidates"][judged[outcome.rejected]]
            margins.append(outcome.score_chosen - outcome.score_rejected)
            out.rows.append(pair_row(
                id=str(row["id"]), prompt=row["prompt"], chosen=assistant(chosen["text"] or ""),
                rejected=assistant(rejected["text"] or ""), score_chosen=outcome.score_chosen,
                score_rejected=outcome.score_rejected, source=row.get("source") or "prompts",
                chosen_model=chosen["model"], rejected_model=rejected["model"], origin="judged",
                ground_truth=row.get("ground_truth"),
            ))  # fmt: skip
        out.counters["pairs"] = len(out.rows)
        if margins:
            out.counters["mean_margin_x100"] = round(100 * sum(margins) / len(margins))
        return out
