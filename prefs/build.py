"""`prefs build` as functions: prompts -> pool (+ policy) responses -> judge -> pairs.

Every model call goes through llm/ with one shared SQLite cache, so a killed run restarted
with the same arguments pays for nothing twice: generation and judge replies that finished
come back from the cache; only the rest is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caravan.llm.api import acomplete, default_cache_path
from caravan.llm.backends import in_process_options, make_backend
from caravan.llm.backends.anthropic_api import unsupported_params
from caravan.llm.cache import ResponseCache
from caravan.llm.cache_scope import cache_scope
from caravan.llm.estimate import Estimate, estimate_cost
from caravan.llm.guard import RunGuard
from caravan.llm.pricing import PriceTable
from caravan.llm.types import Request, Response
from caravan.prefs.binarize import JUDGE_FAILED, NO_RESPONSES, Pair, binarize, mean_score
from caravan.prefs.judge import ASPECTS, AspectResult, JudgeTask, check_aspects, judge_request
from caravan.prefs.judge import read_judgement as _read
from caravan.prefs.pool import PoolModel, sample_models
from caravan.prefs.prompts import PromptItem, load_prompts

from caravan.errors import CaravanError

IN_PROCESS = ("local", "vllm")
DEFAULT_JUDGE = "gpt-4o-2024-08-06"
# Tülu 3 judged at temperature 0.1.
DEFAULT_JUDGE_PARAMS: dict[str, Any] = {"temperature": 0.1, "max_tokens": 4096}


@dataclass
class BuildConfig:
    prompts: list[Path]
    output: Path
    pool: list[PoolModel]
    k: int = 4
    on_policy: PoolModel | None = None
    judge_model: str = DEFAULT_JUDGE
    judge_provider: str = "openai"
    judge_base_url: str | None = None
    judge_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_JUDGE_PARAMS))
    aspects: tuple[str, ...] = ASPECTS
    judge_retries: int = 1  # extra rounds for judge calls that still failed
    seed: int = 0
    strategy: str = "random-lower"
    margin: float = 1.0
    max_tokens: int | None = 2048  # generation length, unless a pool entry sets its own
    batch: bool = False
    batch_poll_s: float = 30.0
    batch_max_wait_s: float | None = None
    cache: Path | None = None
    concurrency: int = 64
    max_retries: int = 8
    timeout_s: float = 120.0
    prices: Path | None = None
    progress: bool = True
    prompt_field: str | None = None
    source: str | None = None
    ground_truth_field: str = "ground_truth"
    limit: int | None = None
    merge_if: list[Path] = field(default_factory=list)
    verify_if: bool = False
    side_table: Path | None = None
    chunk_size: int | None = None  # generation requests per llm call [4 x concurrency]
    refresh: bool = False  # ask again, overwrite cached answers
    guard: RunGuard = field(default_factory=RunGuard)  # spending cap and early stop

    def __post_init__(self) -> None:
        self.aspects = check_aspects(tuple(self.aspects))
        if self.k > len(self.pool):
            raise CaravanError(f"--k {self.k}: the pool holds only {len(self.pool)} models")
        if self.on_policy is None and self.k < 2:
            raise CaravanError("a pair needs two responses: use --k 2 or more, or --on-policy")

    @property
    def side_path(self) -> Path:
        return self.side_table or self.output.with_name(self.output.stem + ".responses.parquet")

    def public(self) -> dict[str, Any]:
        """What provenance records: settings, never keys or URL credentials."""
        from caravan.llm.job import public_url

        def model_info(m: PoolModel) -> dict[str, Any]:
            return {
                "name": m.name,
                "model": m.model,
                "provider": m.provider,
                "base_url": public_url(m.base_url),
                "params": m.params,
                "origin": m.origin,
            }

        return {
            "pool": [model_info(m) for m in self.pool],
            "k": self.k,
            "on_policy": model_info(self.on_policy) if self.on_policy else None,
            "judge": {
                "model": self.judge_model,
                "provider": self.judge_provider,
                "base_url": public_url(self.judge_base_url),
                "params": self.judge_params,
                "aspects": list(self.aspects),
                "batch": self.batch,
            },
            "seed": self.seed,
            "strategy": self.strategy,
            "margin": self.margin if self.strategy == "margin" else None,
            "max_tokens": self.max_tokens,
            "merge_if": [str(p) for p in self.merge_if],
            "verify_if": self.verify_if,
        }


@dataclass
class Candidate:
    """One response to a prompt, from a pool model or the policy."""

    model: PoolModel
    response: Response

    @property
    def usable(self) -> bool:
        text = self.response.text
        return self.response.ok and isinstance(text, str) and bool(text.strip())


@dataclass
class PromptResult:
    item: PromptItem
    candidates: list[Candidate]
    judged: list[int] = field(default_factory=list)  # candidate indices shown to the judge
    aspects: dict[str, AspectResult] = field(default_factory=dict)
    scores: dict[int, float | None] = field(default_factory=dict)  # candidate -> mean
    pair: Pair | None = None  # indices into `candidates`
    excluded: str | None = None


# ---- plan ---------------------------------------------------------------------------------


def _gen_seed(seed: int, prompt_key: str, model: str) -> int:
    digest = hashlib.sha256(f"{seed}:gen:{prompt_key}:{model}".encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def generation_request(cfg: BuildConfig, item: PromptItem, model: PoolModel) -> Request:
    params = dict(model.params)
    if cfg.max_tokens is not None:
        params.setdefault("max_tokens", cfg.max_tokens)
    if model.provider in IN_PROCESS and params.get("temperature", 0) > 0:
        # Seeded sampling makes local/vLLM responses reproducible (and cache keys stable).
        params.setdefault("seed", _gen_seed(cfg.seed, item.id, model.name))
    return Request(
        messages=item.prompt, model=model.model, params=params, id=f"{item.id}:{model.name}"
    )


def plan_generation(
    cfg: BuildConfig, items: list[PromptItem]
) -> tuple[list[list[PoolModel]], dict[str, list[tuple[int, Request]]]]:
    """Per prompt, the models that answer it; per model name, its (prompt index, request)."""
    per_prompt: list[list[PoolModel]] = []
    per_model: dict[str, list[tuple[int, Request]]] = {}
    for i, item in enumerate(items):
        models = sample_models(cfg.pool, item.id, cfg.k, cfg.seed)
        if cfg.on_policy is not None:
            models = [*models, cfg.on_policy]
        per_prompt.append(models)
        for m in models:
            per_model.setdefault(m.name, []).append((i, generation_request(cfg, item, m)))
    return per_prompt, per_model


def _models_by_name(cfg: BuildConfig) -> dict[str, PoolModel]:
    models = {m.name: m for m in cfg.pool}
    if cfg.on_policy is not None:
        models[cfg.on_policy.name] = cfg.on_policy
    return models


def compat_warnings(cfg: BuildConfig) -> list[str]:
    """Sampling settings the Anthropic SDK cannot send (llm leaves them out), one line per model."""
    lines = []
    models = [*_models_by_name(cfg).values()]
    for name, provider, params in [(m.name, m.provider, m.params) for m in models] + [
        (f"judge {cfg.judge_model}", cfg.judge_provider, cfg.judge_params)
    ]:
        dropped = unsupported_params(params) if provider == "anthropic" else []
        if dropped:
            lines.append(
                f"warning: {name}: the installed anthropic SDK takes no {', '.join(dropped)}; "
                "sending without (provider defaults apply)"
            )
    return lines


def judge_tasks(cfg: BuildConfig, result: PromptResult) -> list[JudgeTask]:
    texts = [result.candidates[i].response.text or "" for i in result.judged]
    params = cfg.judge_params
    return [
        judge_request(
            result.item.id,
            aspect,
            result.item.prompt,
            texts,
            cfg.judge_model,
            params,
            cfg.seed,
        )
        for aspect in cfg.aspects
    ]


# ---- run ----------------------------------------------------------------------------------


Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _complete(
    cfg: BuildConfig,
    cache: ResponseCache,
    requests: list[Request],
    model: str,
    provider: str,
    base_url: str | None,
    options: dict[str, Any] | None = None,
    batch: bool = False,
) -> list[Response]:
    return await acomplete(
        requests,
        model,
        provider=provider,
        base_url=base_url,
        cache=cache,
        concurrency=cfg.concurrency,
        max_retries=cfg.max_retries,
        timeout_s=cfg.timeout_s,
        prices=cfg.prices,
        progress=cfg.progress,
        batch=batch,
        batch_poll_s=cfg.batch_poll_s,
        batch_max_wait_s=cfg.batch_max_wait_s,
        backend_options=options,
        refresh=cfg.refresh,
        guard=cfg.guard,
    )


def spend_line(label: str, responses: list[Response]) -> str:
    """One line of what a stage cost: calls, cache hits, failures, tokens, dollars."""
    fresh = [r for r in responses if not r.cached]
    tokens = sum(r.usage.total_tokens for r in fresh)
    costs = [r.cost_usd for r in fresh if r.ok]
    known = [c for c in costs if c is not None]
    cost = "unknown" if len(known) < len(costs) else f"${sum(known):.4f}"
    failed = sum(not r.ok for r in responses)
    return (
        f"{label}: {len(responses)} calls, {len(responses) - len(fresh)} from the cache, "
        f"{failed} failed, {tokens:,} new tokens, cost {cost}"
    )


async def generate(
    cfg: BuildConfig, items: list[PromptItem], cache: ResponseCache, log: Log
) -> list[PromptResult]:
    """Every pool model (and the policy) answers its prompts. API models run side by side
    (each with its own `concurrency`); in-process models take turns. Work goes out in
    chunks so one progress display can follow all models."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from caravan.progress import PlainTicker, is_terminal

    per_prompt, per_model = plan_generation(cfg, items)
    models = _models_by_name(cfg)
    got: dict[tuple[int, str], Response] = {}
    chunk = cfg.chunk_size or max(64, 4 * cfg.concurrency)
    plain = cfg.progress and not is_terminal(sys.stderr)  # nohup/Slurm: periodic lines
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), disable=not cfg.progress or plain, transient=False,
    )  # fmt: skip

    async def one_model(name: str) -> None:
        m, work = models[name], per_model[name]
        task = progress.add_task(f"generate {name}", total=len(work))
        ticker = PlainTicker(f"generate {name}", len(work), unit="responses") if plain else None
        # One backend per model for all its chunks: a local model loads once.
        options = in_process_options(m.provider, dict(m.options), cfg.concurrency)
        if m.provider in ("openai", "anthropic"):
            options.setdefault("timeout", cfg.timeout_s)
        backend = make_backend(m.provider, m.model, base_url=m.base_url, **options)
        try:
            for start in range(0, len(work), chunk):
                part = work[start : start + chunk]
                responses = await acomplete(
                    [r for _, r in part], m.model, backend=backend, cache=cache,
                    concurrency=cfg.concurrency, max_retries=cfg.max_retries,
                    timeout_s=cfg.timeout_s, prices=cfg.prices, progress=False,
                    refresh=cfg.refresh, guard=cfg.guard,
                )  # fmt: skip
                for (i, _), response in zip(part, responses, strict=True):
                    got[(i, name)] = response
                progress.advance(task, len(part))
                if ticker is not None:
                    ticker.update(ticker.done + len(part))
            if ticker is not None:
                ticker.finish()
        finally:
            if hasattr(backend, "aclose"):
                await backend.aclose()

    async def in_turn(names: list[str]) -> None:
        for name in names:
            await one_model(name)

    api = [n for n in per_model if models[n].provider not in IN_PROCESS]
    local = [n for n in per_model if models[n].provider in IN_PROCESS]
    log(f"generating: {len(per_model)} models answer {len(items)} prompts")
    with progress:
        await asyncio.gather(*(one_model(n) for n in api), in_turn(local))
    for name in per_model:
        log(spend_line(f"  {name}", [got[(i, name)] for i, _ in per_model[name]]))
    return [
        PromptResult(item, [Candidate(m, got[(i, m.name)]) for m in per_prompt[i]])
        for i, item in enumerate(items)
    ]


async def judge(
    cfg: BuildConfig, results: list[PromptResult], cache: ResponseCache, log: Log
) -> None:
    tasks: list[tuple[PromptResult, JudgeTask]] = []
    for result in results:
        result.judged = [i for i, c in enumerate(result.candidates) if c.usable]
        if len(result.judged) < 2:
            result.excluded = NO_RESPONSES
            continue
        tasks.extend((result, t) for t in judge_tasks(cfg, result))
    if not tasks:
        return
    log(f"judging: {len(tasks)} calls ({len(cfg.aspects)} aspects) with {cfg.judge_model}")
    requests = [t.request for _, t in tasks]
    responses = await _complete(
        cfg,
        cache,
        requests,
        cfg.judge_model,
        cfg.judge_provider,
        cfg.judge_base_url,
        batch=cfg.batch,
    )
    pending = [r for r in responses if r.error_kind == "batch_pending"]
    if pending:
        raise BuildPending(len(pending))
    outcomes = [_read(t, r) for (_, t), r in zip(tasks, responses, strict=True)]
    for round_no in range(cfg.judge_retries):
        failed = [i for i, o in enumerate(outcomes) if worth_retrying(o)]
        if not failed:
            break
        log(f"judging: retry round {round_no + 1} for {len(failed)} failed judge calls")
        again = await _complete(
            cfg,
            cache,
            [requests[i] for i in failed],
            cfg.judge_model,
            cfg.judge_provider,
            cfg.judge_base_url,
            batch=cfg.batch,
        )
        if any(r.error_kind == "batch_pending" for r in again):
            raise BuildPending(sum(r.error_kind == "batch_pending" for r in again))
        for i, response in zip(failed, again, strict=True):
            retried = _read(tasks[i][1], response)
            retried.attempts += outcomes[i].attempts
            outcomes[i] = retried
    for (result, task), outcome in zip(tasks, outcomes, strict=True):
        result.aspects[task.aspect] = outcome


def worth_retrying(outcome: AspectResult) -> bool:
    """A failed judge call gets another round unless its replies were already paid for
    `parse_retries + 1` times and never parsed: the engine retried those itself, and
    asking again would only pay for the same unusable reply."""
    from caravan.llm.engine import EngineConfig

    if outcome.ok:
        return False
    paid_enough = outcome.attempts >= EngineConfig().parse_retries + 1
    return not (outcome.error_kind == "parse_failure" and paid_enough)


class BuildPending(CaravanError):
    """Judge batches are still running at the provider; a rerun collects them."""

    def __init__(self, count: int) -> None:
        super().__init__(
            f"{count} judge requests are still in provider batches (journaled in the cache); "
            "run the same command again to collect them; nothing was written"
        )
        self.count = count


def pair_rng(seed: int, prompt_key: str) -> random.Random:
    """The seeded draw among equally good (and among lower) responses of one prompt."""
    return random.Random(f"{seed}:pair:{prompt_key}")


def pair_up(cfg: BuildConfig, results: list[PromptResult]) -> None:
    for result in results:
        if result.excluded is not None:
            continue
        if any(not result.aspects[a].ok for a in cfg.aspects):
            result.excluded = JUDGE_FAILED
            continue
        scores: list[float | None] = []
        for pos, cand in enumerate(result.judged):
            score = mean_score([result.aspects[a].ratings[pos].rating for a in cfg.aspects])
            result.scores[cand] = score
            scores.append(score)
        rng = pair_rng(cfg.seed, result.item.id)
        outcome = binarize(scores, rng, cfg.strategy, cfg.margin)
        if isinstance(outcome, str):
            result.excluded = outcome
            continue
        result.pair = Pair(
            result.judged[outcome.chosen],
            result.judged[outcome.rejected],
            outcome.score_chosen,
            outcome.score_rejected,
        )


@dataclass
class BuildReport:
    prompts: int = 0
    duplicates: int = 0
    pairs: int = 0
    merged_if: int = 0
    if_dropped: int = 0
    if_unverified: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    judge_failures: Counter[str] = field(default_factory=Counter)  # aspect -> failed calls
    generation_failures: Counter[str] = field(default_factory=Counter)  # model -> failures
    output: Path | None = None
    side_table: Path | None = None

    def lines(self) -> list[str]:
        out = [
            f"prompts: {self.prompts} ({self.duplicates} duplicate prompts dropped)",
            f"pairs written: {self.pairs} to {self.output}"
            + (f" (incl. {self.merged_if} merged persona-IF pairs)" if self.merged_if else ""),
        ]
        if self.excluded:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.excluded.items()))
            out.append(f"prompts excluded: {sum(self.excluded.values())} ({reasons})")
        if self.generation_failures:
            fails = ", ".join(f"{k} {v}" for k, v in sorted(self.generation_failures.items()))
            out.append(f"failed or empty generations: {fails}")
        if self.judge_failures:
            fails = ", ".join(f"{k} {v}" for k, v in sorted(self.judge_failures.items()))
            out.append(f"judge calls that never validated (recorded, prompt excluded): {fails}")
        if self.if_dropped or self.if_unverified:
            out.append(
                f"--verify-if: dropped {self.if_dropped} pairs whose chosen answer fails its "
                f"constraints; {self.if_unverified} pairs carry no IF ground truth (kept)"
            )
        out.append(f"all responses and ratings: {self.side_table}")
        return out


def _open_cache(cfg: BuildConfig) -> ResponseCache:
    return ResponseCache(cfg.cache or default_cache_path())


def load_inputs(
    cfg: BuildConfig,
) -> tuple[list[PromptItem], dict[str, str], int, list[dict[str, Any]]]:
    """Read and check every input (prompts, --merge-if pairs, IF labels) before any call.

    The run and the dry run share this, so a dry run fails on exactly the inputs the run
    would fail on. Returns (prompts, {file: fingerprint}, duplicates, merged IF pairs).
    """
    from caravan.prefs.ifmerge import check_labels, load_if_pairs

    items, fingerprints, duplicates = load_prompts(
        cfg.prompts,
        prompt_field=cfg.prompt_field,
        source=cfg.source,
        ground_truth_field=cfg.ground_truth_field,
        limit=cfg.limit,
    )
    merged, merged_fps = load_if_pairs(cfg.merge_if, cfg.ground_truth_field)
    fingerprints.update(merged_fps)
    if cfg.verify_if:
        check_labels([(f"prompt {it.id!r}", it.ground_truth) for it in items])
        check_labels([(f"pair {r['id']!r}", r.get("ground_truth")) for r in merged])
    return items, fingerprints, duplicates, merged


def run_build(cfg: BuildConfig, log: Log = _stderr) -> BuildReport:
    """The whole pipeline; writes the pairs file and the side table, returns the report."""
    from caravan.prefs.ifmerge import check_unique_ids, verify_rows
    from caravan.prefs.output import mark_if_dropped, pair_rows, side_rows, write_outputs

    items, fingerprints, duplicates, merged = load_inputs(cfg)
    report = BuildReport(prompts=len(items), duplicates=duplicates)
    for line in compat_warnings(cfg):
        log(line)
    cache = _open_cache(cfg)
    try:
        results = asyncio.run(_pipeline(cfg, items, cache, log))
    finally:
        cache.close()
    rows = pair_rows(cfg, results) + merged
    check_unique_ids(rows)
    report.merged_if = len(merged)
    if cfg.verify_if:
        rows, if_dropped, report.if_unverified = verify_rows(rows)
        report.if_dropped = len(if_dropped)
        mark_if_dropped(results, set(if_dropped))
    for result in results:
        if result.excluded:
            report.excluded[result.excluded] += 1
        for aspect, outcome in result.aspects.items():
            if not outcome.ok:
                report.judge_failures[aspect] += 1
        for cand in result.candidates:
            if not cand.usable:
                report.generation_failures[cand.model.name] += 1
    report.pairs = len(rows)
    report.output, report.side_table = write_outputs(
        cfg, rows, side_rows(cfg, results), fingerprints, report
    )
    return report


async def _pipeline(
    cfg: BuildConfig, items: list[PromptItem], cache: ResponseCache, log: Log
) -> list[PromptResult]:
    results = await generate(cfg, items, cache, log)
    await judge(cfg, results, cache, log)
    pair_up(cfg, results)
    return results


# ---- dry run ------------------------------------------------------------------------------


@dataclass
class DryRun:
    stages: list[tuple[str, Estimate]]
    judge_exact: int  # judge requests built from cached responses
    judge_assumed: int  # judge requests sized from max_tokens placeholders

    def lines(self) -> list[str]:
        out = []
        total: float | None = 0.0
        for label, est in self.stages:
            out.append(f"[{label}]")
            out.extend("  " + line for line in est.lines())
            if est.cost_usd is None or total is None:
                total = None
            else:
                total += est.cost_usd
        if self.judge_assumed:
            out.append(
                f"judge: {self.judge_exact} calls sized from cached responses, "
                f"{self.judge_assumed} from placeholder responses of max_tokens length "
                "(an upper bound)"
            )
        out.append(
            "estimated total, at most: "
            + ("unknown (some models have no price)" if total is None else f"${total:.4f}")
        )
        return out


def dry_run(cfg: BuildConfig) -> DryRun:
    """What `build` would send and roughly cost; nothing is sent."""
    from caravan.llm.tokens import CHARS_PER_TOKEN, expected_output_tokens, output_token_bound

    items, _, _, _ = load_inputs(cfg)
    cache_path = cfg.cache or default_cache_path()
    cache = ResponseCache(cache_path) if cache_path.exists() else None
    prices = PriceTable(cfg.prices)
    try:
        per_prompt, per_model = plan_generation(cfg, items)
        models = _models_by_name(cfg)
        stages: list[tuple[str, Estimate]] = []
        stored: dict[tuple[int, str], Response] = {}
        for name, work in per_model.items():
            m = models[name]
            requests = [r for _, r in work]
            scope = m.backend_name
            # In-process models run on your own hardware: no per-token fee.
            est = estimate_cost(requests, scope, cache, prices, free=m.provider in IN_PROCESS)
            stages.append((f"generate {name} ({m.provider})", est))
            if cache is not None:
                for (i, _), req in zip(work, requests, strict=True):
                    hit = cache.get(req.cache_key(scope), req.id)
                    if hit is not None:
                        stored[(i, name)] = hit
        judge_requests: list[Request] = []
        exact = assumed = 0
        for i, item in enumerate(items):
            cands = []
            for m in per_prompt[i]:
                hit = stored.get((i, m.name))
                if hit is None:
                    req = generation_request(cfg, item, m)
                    price = prices.price(m.model)
                    model_max = price.max_output if price is not None else None
                    bound = output_token_bound(req, m.provider, model_max)
                    text = "x" * ((bound or expected_output_tokens(req)) * CHARS_PER_TOKEN)
                    hit = Response(request_id=req.id, text=text)
                cands.append(Candidate(m, hit))
            result = PromptResult(item, cands)
            result.judged = [j for j, c in enumerate(cands) if c.usable]
            if len(result.judged) < 2:
                continue
            all_cached = all((i, m.name) in stored for m in per_prompt[i])
            tasks = judge_tasks(cfg, result)
            judge_requests.extend(t.request for t in tasks)
            if all_cached:
                exact += len(tasks)
            else:
                assumed += len(tasks)
        judge_scope = cache_scope(cfg.judge_provider, cfg.judge_model, cfg.judge_base_url)
        est = estimate_cost(judge_requests, judge_scope, cache, prices, batch=cfg.batch)
        stages.append((f"judge {cfg.judge_model}" + (" (batch)" if cfg.batch else ""), est))
        return DryRun(stages, exact, assumed)
    finally:
        if cache is not None:
            cache.close()
