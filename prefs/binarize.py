"""From per-aspect ratings to one chosen/rejected pair per prompt.

A response's score is the mean of its valid aspect ratings (N/A and failed judgements are
left out, never counted as a number). The chosen response has the highest score; the
rejected one always scores strictly lower. Prompts where that is impossible are reported
with the reason, not forced into a pair.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from caravan.errors import CaravanError

STRATEGIES = ("random-lower", "lowest", "margin")

# Why a prompt produced no pair.
NO_RESPONSES = "fewer_than_2_responses"  # generation failed or came back empty
JUDGE_FAILED = "judge_failed"  # an aspect's judgement never validated
FEW_RATED = "fewer_than_2_rated"  # fewer than two responses with any valid rating
TIE = "tie"  # every rated response has the same score
BELOW_MARGIN = "below_margin"  # no response scores at least `margin` below the best


def mean_score(ratings: list[float | None]) -> float | None:
    """Mean of the valid ratings; None when there are none."""
    valid = [r for r in ratings if r is not None]
    return sum(valid) / len(valid) if valid else None


@dataclass(frozen=True)
class Pair:
    chosen: int  # candidate index
    rejected: int
    score_chosen: float
    score_rejected: float


def binarize(
    scores: list[float | None],
    rng: random.Random,
    strategy: str = "random-lower",
    margin: float = 1.0,
) -> Pair | str:
    """A Pair, or the reason (a string constant above) why there is none."""
    if strategy not in STRATEGIES:
        raise CaravanError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    rated = [(i, s) for i, s in enumerate(scores) if s is not None]
    if len(rated) < 2:
        return FEW_RATED
    best = max(s for _, s in rated)
    top = [i for i, s in rated if s == best]
    lower = [(i, s) for i, s in rated if s < best]
    if not lower:
        return TIE
    chosen = rng.choice(top)
    if strategy == "lowest":
        worst = min(s for _, s in lower)
        pool = [i for i, s in lower if s == worst]
    elif strategy == "margin":
        pool = [i for i, s in lower if best - s >= margin]
        if not pool:
            return BELOW_MARGIN
    else:
        pool = [i for i, _ in lower]
    rejected = rng.choice(pool)
    return Pair(chosen, rejected, best, scores[rejected])  # type: ignore[arg-type]


def pair_rng(seed: int, prompt_key: str) -> random.Random:
    """The seeded draw among equally good (and among lower) responses of one prompt."""
    return random.Random(f"{seed}:pair:{prompt_key}")
