"""Reward assembly for RLVR: the same functions serve `verify score`, TRL and verl.

reward = sum over the row's (ground_truth, dataset) pairs of weight[verifier] x score x value
(value 10 by default, as in Tülu 3), plus an optional format reward; a truncated response can
be given a fixed penalty instead. The thinking trace is stripped first; in strict mode a
malformed one scores 0 for every pair (the response counts as null). When a verifier itself
fails (even on a truncated response that would get the penalty) (timeout, unreadable label, missing module) the reward is None with the error kept:
never a made-up number. TRL excludes None rewards from the group baseline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from caravan.verifiers.registry import Check, get_verifier
from caravan.verifiers.thinking import ThinkingConfig, format_score, strip_thinking

from caravan.errors import CaravanError


@dataclass
class RewardConfig:
    """How verdicts become a reward. Defaults follow the Tülu 3.1 GRPO recipe."""

    value: float = 10.0
    weights: dict[str, float] = field(default_factory=dict)  # verifier name -> weight (1.0)
    strict_thinking: bool = False
    thinking: ThinkingConfig = field(default_factory=ThinkingConfig)
    truncated_penalty: float | None = None  # e.g. -10.0 (Tülu 3 PPO); None: no override
    format_weight: float = 0.0  # added: format_weight x format score (0 or 1)
    answer_tags: bool = False  # the format reward also wants <answer>...</answer>

    def weight(self, verifier: str) -> float:
        return self.weights.get(verifier, self.weights.get(verifier.lower(), 1.0))


@dataclass
class PairResult:
    dataset: str
    verifier: str | None
    score: float | None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RewardResult:
    reward: float | None
    pairs: list[PairResult]
    format_score: float | None = None
    thinking_malformed: bool = False
    truncated: bool = False

    @property
    def errors(self) -> list[str]:
        return [f"{p.dataset}: {p.error}" for p in self.pairs if p.error]


def as_pairs(ground_truth: Any, dataset: Any) -> list[tuple[Any, str]]:
    """(ground_truth, dataset) pairs of one row; lists pair up, a single dataset broadcasts."""
    if isinstance(dataset, str) and isinstance(ground_truth, str):
        stripped = dataset.strip()
        if stripped.startswith("["):  # a JSON-encoded list of datasets in a string column
            try:
                dataset = json.loads(stripped)
                ground_truth = json.loads(ground_truth)
            except json.JSONDecodeError as exc:
                raise CaravanError(
                    f"dataset {dataset!r} looks like a list but is not JSON"
                ) from exc
    if isinstance(dataset, list | tuple):
        truths = list(ground_truth) if isinstance(ground_truth, list | tuple) else None
        if truths is None or len(truths) != len(dataset):
            raise CaravanError(
                f"row has {len(dataset)} datasets but ground_truth "
                f"{'has ' + str(len(truths)) if truths is not None else 'is not a list'}"
            )
        return [(t, str(d)) for t, d in zip(truths, dataset, strict=True)]
    if dataset is None:
        raise CaravanError("row has no dataset (verifier name)")
    if isinstance(ground_truth, list | tuple) and str(dataset).lower() not in ("code", "python"):
        return [(t, str(dataset)) for t in ground_truth]
    return [(ground_truth, str(dataset))]


def _assemble(
    pairs: list[PairResult], answer: str | None, response: str, truncated: bool, cfg: RewardConfig
) -> RewardResult:
    fmt = None
    if cfg.format_weight:
        fmt = format_score(response, config=cfg.thinking, answer_tags=cfg.answer_tags)
    result = RewardResult(None, pairs, fmt, answer is None, truncated)
    if any(p.error for p in pairs):  # checked first: a penalty must not hide a broken verifier
        return result
    if truncated and cfg.truncated_penalty is not None:
        result.reward = float(cfg.truncated_penalty)
        return result
    total = sum(cfg.weight(p.verifier or p.dataset) * (p.score or 0.0) * cfg.value for p in pairs)
    if fmt is not None:
        total += cfg.format_weight * fmt
    result.reward = float(total)
    return result


def compute_rewards(
    responses: Sequence[str],
    ground_truths: Sequence[Any],
    datasets: Sequence[Any],
    *,
    truncated: Sequence[bool] | None = None,
    config: RewardConfig | None = None,
) -> list[RewardResult]:
    """Score a batch. Pairs are grouped by verifier so batch-capable ones (MATH) run in parallel."""
    cfg = config or RewardConfig()
    n = len(responses)
    if not (len(ground_truths) == len(datasets) == n):
        raise CaravanError(
            f"reward batch: {n} responses, {len(ground_truths)} ground truths, "
            f"{len(datasets)} datasets; they must be equal"
        )
    flags = list(truncated) if truncated is not None else [False] * n
    answers = [
        strip_thinking(str(r), strict=cfg.strict_thinking, config=cfg.thinking) for r in responses
    ]
    rows: list[list[PairResult]] = []
    groups: dict[str, list[tuple[int, int, str, Any]]] = defaultdict(list)
    for i in range(n):
        row_pairs: list[PairResult] = []
        try:
            pairs = as_pairs(ground_truths[i], datasets[i])
        except CaravanError as exc:
            row_pairs.append(PairResult(str(datasets[i]), None, None, error=str(exc)))
            rows.append(row_pairs)
            continue
        for j, (truth, name) in enumerate(pairs):
            try:
                verifier = get_verifier(name)
            except CaravanError as exc:
                row_pairs.append(PairResult(name, None, None, error=str(exc)))
                continue
            row_pairs.append(PairResult(name, verifier.name, None))
            answer = answers[i]
            if answer is None:
                row_pairs[-1].score = 0.0
                row_pairs[-1].details = {"null_response": "malformed thinking"}
            else:  # truncated ones too, so a failing verifier shows even under a penalty
                groups[verifier.name].append((i, j, answer, truth))
        rows.append(row_pairs)
    for name, items in groups.items():
        verifier = get_verifier(name)
        try:
            checks = verifier.check_batch([it[2] for it in items], [it[3] for it in items])
        except CaravanError as exc:  # e.g. the verifier's module is missing
            checks = [exc] * len(items)
        for (i, j, _, _), check in zip(items, checks, strict=True):
            pair = rows[i][j]
            if isinstance(check, Check):
                pair.score, pair.details = float(check.score), check.details
            else:
                pair.error = str(check)
    return [_assemble(rows[i], answers[i], str(responses[i]), flags[i], cfg) for i in range(n)]


def compute_reward(
    response: str,
    ground_truth: Any,
    dataset: Any,
    *,
    truncated: bool = False,
    config: RewardConfig | None = None,
) -> RewardResult:
    """Score one response against all of its row's (ground_truth, dataset) pairs."""
    return compute_rewards(
        [response], [ground_truth], [dataset], truncated=[truncated], config=config
    )[0]


def _completion_text(completion: Any) -> str:
    """TRL passes strings (standard) or message lists (conversational) as completions."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [m.get("content", "") for m in completion if isinstance(m, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    raise CaravanError(f"cannot read a completion of type {type(completion).__name__}")


def trl_reward_fn(
    config: RewardConfig | None = None,
    *,
    ground_truth_column: str = "ground_truth",
    dataset_column: str = "dataset",
    truncated_column: str | None = None,
) -> Callable[..., list[float | None]]:
    """A TRL GRPO reward function: `f(prompts=, completions=, **columns) -> list[float | None]`.

    TRL forwards the dataset's extra columns as keyword lists, so `ground_truth` and `dataset`
    arrive per completion. None marks a sample whose verifier failed.
    """
    cfg = config or RewardConfig()

    def caravan_rlvr_reward(
        prompts: Any = None, completions: Any = None, **columns: Any
    ) -> list[float | None]:
        if completions is None:
            raise CaravanError("reward function called without completions")
        for col in (ground_truth_column, dataset_column):
            if col not in columns:
                raise CaravanError(
                    f"reward function needs the {col!r} column; the dataset passed "
                    f"{sorted(k for k in columns if k != 'completion_ids')}"
                )
        flags = None
        if truncated_column and truncated_column in columns:
            flags = [bool(x) for x in columns[truncated_column]]
        results = compute_rewards(
            [_completion_text(c) for c in completions],
            columns[ground_truth_column],
            columns[dataset_column],
            truncated=flags,
            config=cfg,
        )
        return [r.reward for r in results]

    return caravan_rlvr_reward


def verl_compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None
) -> float:
    """verl's custom reward hook (`custom_reward_function.name: verl_compute_score`).

    Returns the verified score in [0, 1] x weight (verl applies its own scaling); a verifier
    failure raises, so verl surfaces it instead of training on a guessed value.
    """
    result = compute_reward(solution_str, ground_truth, data_source, config=RewardConfig(value=1.0))
    if result.reward is None:
        raise CaravanError("; ".join(result.errors) or "verifier failed")
    return result.reward
