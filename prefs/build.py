"""`prefs build`: prompts -> Answer -> Judge -> Binarize, run by the command's executor.

Every pool model, the policy and the judge are `LLM` sessions sharing the command's call
settings, cache and one guard (so --max-cost covers them all). Finished batches are
journaled beside the output and every paid answer is cached, so a killed run restarted
with the same arguments pays for nothing twice. Besides the pairs file, the command writes
the side table of every response and rating, and the one rejected-rows file naming why
each unpaired prompt has no pair.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caravan.prefs.judge import ASPECTS, DEFAULT_JUDGE, DEFAULT_JUDGE_PARAMS, check_aspects
from caravan.prefs.output import IF_DROPPED
from caravan.prefs.pool import PoolModel, pool_session
from caravan.prefs.prompts import PromptItem, load_prompts

from caravan.dataset import Dataset, rejected_path_for
from caravan.errors import CaravanError

if TYPE_CHECKING:
    from caravan.llm.estimate import Estimate
    from caravan.prefs.stages import Answer, Binarize, Judge

    from caravan.cli_run import CallArgs, ExecutorArgs
    from caravan.session import LLM

Log = Callable[[str], None]
VERIFY_STAGE = "prefs.verify_if"


@dataclass
class BuildConfig:
    """What `prefs build` makes, apart from how it calls models (`CallArgs`)."""

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
    prompt_field: str | None = None
    source: str | None = None
    ground_truth_field: str = "ground_truth"
    limit: int | None = None
    merge_if: list[Path] = field(default_factory=list)
    verify_if: bool = False
    side_table: Path | None = None

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
        from caravan.secrets import public_url

        def model_info(m: PoolModel) -> dict[str, Any]:
            return {"name": m.name, "model": m.model, "provider": m.provider,
                    "base_url": public_url(m.base_url), "params": m.params, "origin": m.origin}  # fmt: skip

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
            },
            "seed": self.seed,
            "strategy": self.strategy,
            "margin": self.margin if self.strategy == "margin" else None,
            "max_tokens": self.max_tokens,
            "merge_if": [str(p) for p in self.merge_if],
            "verify_if": self.verify_if,
        }


# ---- inputs and models --------------------------------------------------------------------


@dataclass
class Inputs:
    items: list[PromptItem]
    fingerprints: dict[str, str]  # file -> fingerprint, prompts and --merge-if files
    duplicates: int  # prompts dropped because an identical one came earlier
    merged: list[dict[str, Any]]  # --merge-if pairs, in the output shape

    def data(self) -> Dataset:
        """The prompts as the first stage's input rows."""
        from caravan.records.readers import rows_to_table

        rows = [{"id": it.id, "prompt": it.prompt, "source": it.source,
                 "ground_truth": it.ground_truth} for it in self.items]  # fmt: skip
        return Dataset(rows_to_table(rows), inputs=dict(self.fingerprints))


def load_inputs(cfg: BuildConfig) -> Inputs:
    """Read and check every input (prompts, --merge-if pairs, IF labels) before any call;
    the run and the dry run share this, so a dry run fails on exactly what the run would."""
    from caravan.prefs.ifmerge import check_labels, load_if_pairs

    items, fingerprints, duplicates = load_prompts(
        cfg.prompts, prompt_field=cfg.prompt_field, source=cfg.source,
        ground_truth_field=cfg.ground_truth_field, limit=cfg.limit,
    )  # fmt: skip
    merged, merged_fps = load_if_pairs(cfg.merge_if, cfg.ground_truth_field)
    fingerprints.update(merged_fps)
    if cfg.verify_if:
        check_labels([(f"prompt {it.id!r}", it.ground_truth) for it in items])
        check_labels([(f"pair {r['id']!r}", r.get("ground_truth")) for r in merged])
    return Inputs(items, fingerprints, duplicates, merged)


@dataclass
class Models:
    pool: dict[str, LLM]  # pool name -> session
    policy: LLM | None
    judge: LLM

    def named(self, cfg: BuildConfig) -> list[tuple[str, LLM]]:
        """(label, session) of every model the command calls."""
        out = list(self.pool.items())
        if self.policy is not None and cfg.on_policy is not None:
            out.append((cfg.on_policy.name, self.policy))
        return [*out, (f"judge {cfg.judge_model}", self.judge)]


def make_models(cfg: BuildConfig, calls: CallArgs) -> Models:
    """One session per pool model, the policy and the judge (only it uses --batch)."""
    pool = {m.name: pool_session(m, calls) for m in cfg.pool}
    policy = pool_session(cfg.on_policy, calls) if cfg.on_policy is not None else None
    judge = calls.session(cfg.judge_model, cfg.judge_provider, cfg.judge_base_url,
                          **cfg.judge_params)  # fmt: skip
    return Models(pool, policy, judge)


def make_stages(cfg: BuildConfig, models: Models) -> tuple[Answer, Judge, Binarize]:
    from caravan.prefs.stages import Answer, Binarize, Judge

    answer = Answer(models.pool, cfg.k, models.policy, seed=cfg.seed, max_tokens=cfg.max_tokens)
    judge = Judge(models.judge, cfg.aspects, seed=cfg.seed, retries=cfg.judge_retries)
    return answer, judge, Binarize(cfg.strategy, cfg.margin, cfg.seed)


def compat_warnings(cfg: BuildConfig, models: Models) -> list[str]:
    """Sampling settings the Anthropic SDK cannot send (llm leaves them out), one line per
    model."""
    from caravan.llm.backends.anthropic_api import unsupported_params

    lines = []
    for label, llm in models.named(cfg):
        dropped = unsupported_params(llm.params) if llm.provider == "anthropic" else []
        if dropped:
            lines.append(
                f"warning: {label}: the installed anthropic SDK takes no {', '.join(dropped)}; "
                "sending without (provider defaults apply)"
            )
    return lines


# ---- dry run ------------------------------------------------------------------------------


def dry_run(cfg: BuildConfig, calls: CallArgs) -> list[str]:
    """What `build` would send and cost at most, per pool model, the policy and the judge;
    judge requests are sized from cached answers where every answer of a prompt is cached,
    else from replies of the longest allowed length. Nothing is sent."""
    inputs = load_inputs(cfg)
    models = make_models(cfg, calls)
    answer, judge, _ = make_stages(cfg, models)
    table = inputs.data().table
    label = {id(llm): name for name, llm in models.named(cfg)}
    blocks: list[tuple[str, Estimate]] = [
        (f"generate {label[id(llm)]} ({llm.provider})", llm.estimate(requests))
        for llm, requests in answer.plan(table)
    ]
    answered = answer.dry_output(table)
    exact = assumed = 0
    for row in answered.to_pylist():
        if sum(c["ok"] for c in row["candidates"]) >= 2:
            if all(c["cached"] for c in row["candidates"]):
                exact += len(judge.aspects)
            else:
                assumed += len(judge.aspects)
    for llm, requests in judge.plan(answered):
        batch = " (batch)" if llm.settings.batch else ""
        blocks.append((f"judge {llm.model}{batch}", llm.estimate(requests)))
    lines: list[str] = []
    total: float | None = 0.0
    for name, est in blocks:
        lines.append(f"[{name}]")
        lines.extend("  " + line for line in est.lines())
        total = None if est.cost_usd is None or total is None else total + est.cost_usd
    if assumed:
        lines.append(
            f"judge: {exact} calls sized from cached responses, {assumed} from placeholder "
            "responses of max_tokens length (an upper bound)"
        )
    lines.append("estimated total, at most: "
                 + ("unknown (some models have no price)" if total is None else f"${total:.4f}"))  # fmt: skip
    return lines


# ---- run ----------------------------------------------------------------------------------


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
    rejected: Path | None = None

    def count(self, prompts: list[dict[str, Any]], status: dict[str, str]) -> None:
        """Exclusion reasons, failed judge calls and failed generations of every prompt."""
        for row in prompts:
            if status.get(row["id"], "paired") != "paired":
                self.excluded[status[row["id"]]] += 1
            for outcome in row.get("aspects") or []:
                if not outcome["ok"]:
                    self.judge_failures[outcome["aspect"]] += 1
            for cand in row["candidates"]:
                if not cand["ok"]:
                    self.generation_failures[cand["model"]] += 1

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
        out.append(f"why each unpaired prompt has no pair: {self.rejected}")
        return out


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prompt_outcomes(
    items: list[PromptItem], judged: Dataset, paired: Dataset, dropped: set[str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every prompt's last row (judged, or rejected on the way) in input order, and its
    status: "paired", or why it has no pair."""
    import json

    last = {r["id"]: r for r in judged.to_list()}
    status = {r["id"]: "paired" for r in paired.to_list()}
    for rec in paired.rejected.to_pylist():
        if rec["stage"] in ("prefs.judge", "prefs.binarize") and rec["row"]:
            last.setdefault(rec["id"], json.loads(rec["row"]))
            status[rec["id"]] = rec["reason"]
    for rid in dropped & status.keys():
        status[rid] = IF_DROPPED
    return [last[it.id] for it in items if it.id in last], status


def run_build(
    cfg: BuildConfig,
    calls: CallArgs,
    executor: ExecutorArgs | None = None,
    log: Log = _stderr,
) -> tuple[BuildReport, Dataset]:
    """The whole command: writes the side table, then the pairs file with its rejected-rows
    file and provenance; returns the report and the written Dataset (for `calls.check`)."""
    from caravan.prefs.ifmerge import check_unique_ids, verify_rows

    from caravan.cli_run import finish, run_steps

    inputs = load_inputs(cfg)
    models = make_models(cfg, calls)
    for line in compat_warnings(cfg, models):
        log(line)
    if models.policy is not None:
        models.policy.prepare()  # a local policy that cannot load fails before any call
    answer, judge, binarize = make_stages(cfg, models)
    options: dict[str, Any] = {"output": cfg.output, "executor": executor,
                               "progress": calls.settings.progress, "max_cost": calls.max_cost}  # fmt: skip
    judged = run_steps([answer, judge], inputs.data(), **options)
    paired = run_steps([binarize], judged, **options)

    rows = paired.to_list() + inputs.merged
    check_unique_ids(rows)
    report = BuildReport(prompts=len(inputs.items), duplicates=inputs.duplicates,
                         merged_if=len(inputs.merged))  # fmt: skip
    dropped: list[dict[str, Any]] = []
    if cfg.verify_if:
        kept, dropped_ids, report.if_unverified = verify_rows(rows)
        dropped = [r for r in rows if r["id"] in set(dropped_ids)]
        rows, report.if_dropped = kept, len(dropped)
    prompts, status = prompt_outcomes(inputs.items, judged, paired, {r["id"] for r in dropped})
    report.count(prompts, status)
    report.pairs = len(rows)

    config = {**cfg.public(), "excluded": dict(report.excluded),
              "judge_failures": dict(report.judge_failures), "side_table": cfg.side_path.name}  # fmt: skip
    report.side_table = write_side_table(cfg, prompts, paired, status, config, inputs)
    result = pairs_dataset(rows, dropped, paired, inputs)
    report.output = finish(result, cfg.output, "preference", config=config)
    report.rejected = rejected_path_for(cfg.output)
    return report, result


def write_side_table(
    cfg: BuildConfig,
    prompts: list[dict[str, Any]],
    paired: Dataset,
    status: dict[str, str],
    config: dict[str, Any],
    inputs: Inputs,
) -> Path:
    """Written first: it holds every paid response."""
    from caravan.prefs.output import side_rows
    from caravan.records import Provenance, write_records

    from caravan.secrets import public_argv

    pairs = {r["id"]: r for r in paired.to_list()}
    prov = Provenance.capture(config, inputs.fingerprints, public_argv(sys.argv))
    return write_records(side_rows(prompts, pairs, status), cfg.side_path, provenance=prov)


def pairs_dataset(
    rows: list[dict[str, Any]], dropped: list[dict[str, Any]], paired: Dataset, inputs: Inputs
) -> Dataset:
    """The pairs (judged and merged), with the chain's lineage and every rejected prompt;
    pairs --verify-if dropped join the rejected rows."""
    import pyarrow as pa
    from caravan.records.readers import rows_to_table
    from caravan.records.schemas import get_kind

    from caravan.stage import Rejection, rejected_table

    why = "the chosen answer fails its IF constraints"
    gone = rejected_table(VERIFY_STAGE, [Rejection(r["id"], "if_constraints_failed", [why], r)
                                         for r in dropped])  # fmt: skip
    table = rows_to_table(rows, get_kind("preference"))
    return Dataset(table, pa.concat_tables([paired.rejected, gone]), dict(paired.stats),
                   list(paired.steps), dict(inputs.fingerprints))  # fmt: skip
