"""Seeded constraint sampling: reproducible, conflict-free, checkable, described."""

from __future__ import annotations

import json
import random

import pytest
from caravan.verifiers.ifeval import (
    ALL_IDS,
    compatible,
    conflict_table,
    conflicts,
    sample_constraints,
    score_ground_truth,
    to_ground_truth,
)
from caravan.verifiers.ifeval.checking import prepare

from caravan.errors import CaravanError

PROMPT = "Write a short note to a neighbour about a lost cat."


def test_same_seed_same_draw():
    a = [sample_constraints(s, 1, 4, prompt=PROMPT) for s in range(50)]
    b = [sample_constraints(s, 1, 4, prompt=PROMPT) for s in range(50)]
    assert a == b
    assert [c.description for d in a for c in d] == [c.description for d in b for c in d]
    assert len({json.dumps([(c.instruction_id, c.kwargs) for c in d]) for d in a}) > 40


def test_draws_are_conflict_free_sized_and_checkable():
    rng = random.Random(7)
    drawn_ids = set()
    for _ in range(1500):
        cs = sample_constraints(rng, 1, 3, prompt=PROMPT)
        ids = [c.instruction_id for c in cs]
        assert 1 <= len(cs) <= 3
        assert compatible(ids), ids
        for c in cs:
            prepare(c.instruction_id, c.kwargs, PROMPT)
            for key, value in c.kwargs.items():  # the wording states the concrete values
                if key in ("prompt_to_repeat", "language") or "relation" in key:
                    continue
                for v in value if isinstance(value, list) else [value]:
                    assert str(v) in c.description, (c, key)
        drawn_ids.update(ids)
    assert drawn_ids == set(ALL_IDS)  # every id is reachable


def test_prompt_copying_ids_need_a_prompt():
    rng = random.Random(3)
    for _ in range(500):
        for c in sample_constraints(rng, 1, 3):
            assert "prompt_to_repeat" not in c.kwargs


def test_restricting_ids():
    ids = ["punctuation:no_comma", "detectable_format:title", "startend:quotation"]
    for seed in range(30):
        got = [c.instruction_id for c in sample_constraints(seed, 1, 3, ids=ids)]
        assert set(got) <= set(ids)
        assert not ("detectable_format:title" in got and "startend:quotation" in got)


def test_ground_truth_round_trip_scores_a_compliant_response():
    cs = [c for c in sample_constraints(11, 1, 1, ids=["punctuation:no_comma"])]
    label = to_ground_truth(cs)
    assert json.loads(label)[0]["instruction_id"] == ["punctuation:no_comma"]
    assert score_ground_truth("no commas at all", label) == 1.0
    assert score_ground_truth("a, b", label) == 0.0


def test_conflict_table_is_symmetric_and_has_known_pairs():
    table = conflict_table()
    assert set(table) == set(ALL_IDS)
    for a, others in table.items():
        assert a in others
        for b in others:
            assert a in table[b], (a, b)
    assert conflicts("change_case:english_capital", "change_case:english_lowercase")
    assert conflicts("detectable_format:json_format", "detectable_format:number_bullet_lists")
    assert not conflicts("detectable_format:json_format", "keywords:existence")
    assert conflicts("copy:copy", "punctuation:no_comma")
    assert not conflicts("punctuation:no_comma", "detectable_format:title")


def test_impossible_requests_raise():
    with pytest.raises(CaravanError, match="cannot draw"):
        sample_constraints(
            0, 2, 2, ids=["change_case:english_capital", "change_case:english_lowercase"]
        )
    with pytest.raises(CaravanError, match="unknown instruction id"):
        sample_constraints(0, ids=["nope:nope"])
    with pytest.raises(CaravanError, match="k_min"):
        sample_constraints(0, 3, 2)
    with pytest.raises(CaravanError):
        to_ground_truth([])
