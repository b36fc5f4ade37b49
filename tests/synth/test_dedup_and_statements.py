"""MinHash dedup and the check that IF prompts state their constraints."""

from __future__ import annotations

import json

import pytest
from caravan.records import read_records, write_records
from caravan.synth.dedup import DedupConfig, dedup_texts
from caravan.synth.if_statement import missing_statements
from caravan.verifiers.ifeval import sample_constraints

from caravan.errors import CaravanError

BASE = (
    "A farmer sells eggs at the market every Saturday morning and keeps a careful record of "
    "how many dozen she brings, how many she sells and how many crack on the way home."
)


def test_exact_and_near_duplicates_are_reported():
    texts = [
        BASE,
        BASE.upper(),  # exact after case folding
        BASE.replace("Saturday", "Sunday"),  # one word changed: near duplicate
        "How many prime numbers lie between ten and fifty?",
    ]
    report = dedup_texts(texts, DedupConfig(threshold=0.7, shingle_size=3))
    assert report.kept == [0, 3]
    assert [(r.index, r.duplicate_of, r.reason) for r in report.removed] == [
        (1, 0, "exact"), (2, 0, "near"),
    ]  # fmt: skip
    assert report.summary() == "dedup: kept 2, removed 2 (1 exact, 1 near-duplicate)"


def test_threshold_and_shingle_size_matter():
    texts = [BASE, BASE.replace("Saturday", "Sunday")]
    assert len(dedup_texts(texts, DedupConfig(threshold=0.95, shingle_size=5)).removed) == 0
    assert len(dedup_texts(texts, DedupConfig(threshold=0.6, shingle_size=2)).removed) == 1
    with pytest.raises(CaravanError):
        DedupConfig(threshold=0)


def test_dedup_command(synth, tmp_path):
    src = tmp_path / "p.parquet"
    write_records([{"id": f"r{i}", "prompt": t} for i, t in
                   enumerate([BASE, BASE.replace("Saturday", "Sunday"), "Something else."])], src)  # fmt: skip
    out = tmp_path / "d.parquet"
    res = synth(
        "dedup", "--input", src, "--output", out, "--threshold", "0.6", "--shingle-size", "2"
    )
    assert res.exit_code == 0, res.stderr
    assert "removed 1 (0 exact, 1 near-duplicate)" in res.output
    assert [r["id"] for r in read_records(out).to_pylist()] == ["r0", "r2"]
    (rej,) = [json.loads(x) for x in (tmp_path / "d.rejected.jsonl").read_text().splitlines()]
    assert rej["id"] == "r1" and rej["reason"] == "near_duplicate" and "r0" in rej["details"][0]


def test_descriptions_state_their_constraints_for_every_id():
    for seed in range(400):
        for c in sample_constraints(seed, 3, 3):
            assert missing_statements(c.description, [c.instruction_id], [c.kwargs]) == []


def test_a_prompt_that_changes_a_number_or_drops_a_rule_fails():
    ids = [
        "keywords:frequency",
        "detectable_format:multiple_sections",
        "language:response_language",
    ]
    kwargs = [{"keyword": "river", "frequency": 3, "relation": "at least"},
              {"section_spliter": "SECTION", "num_sections": 4}, {"language": "fr"}]  # fmt: skip
    good = ("Tell me about the river. Use the word river at least three times, split it into "
            "4 parts each headed SECTION X, and answer in French.")  # fmt: skip
    assert missing_statements(good, ids, kwargs) == []
    wrong_number = good.replace("three", "five")
    assert missing_statements(wrong_number, ids, kwargs) == [
        "keywords:frequency: prompt does not state the number 3"
    ]
    wrong_case = good.replace("SECTION", "Section")
    assert missing_statements(wrong_case, ids, kwargs) == [
        "detectable_format:multiple_sections: prompt does not state the heading word 'SECTION' (same case)"
    ]
    no_language = good.replace(", and answer in French", "")
    assert missing_statements(no_language, ids, kwargs) == [
        'language:response_language: prompt does not state "French"'
    ]
    wrong_relation = good.replace("at least three", "at most three")
    assert missing_statements(wrong_relation, ids, kwargs) == [
        "keywords:frequency: prompt does not state the relation 'at least'"
    ]


def _pairs_at_jaccard_0_6(n: int = 40) -> list[str]:
    import random

    from caravan.synth.dedup import shingles

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    texts = []
    for _ in range(n):
        base = [rng.choice(vocab) for _ in range(200)]
        other = base[:150] + [rng.choice(vocab) for _ in range(50)]
        a, b = " ".join(base), " ".join(other)
        sa, sb = shingles(a, 5), shingles(b, 5)
        assert 0.55 < len(sa & sb) / len(sa | sb) < 0.65
        texts += [a, b]
    return texts


def test_threshold_is_applied_to_lsh_candidates():
    texts = _pairs_at_jaccard_0_6()
    assert dedup_texts(texts, DedupConfig(threshold=0.8)).removed == []
    removed = dedup_texts(texts, DedupConfig(threshold=0.5)).removed
    assert len(removed) >= 30 and all(r.similarity >= 0.5 for r in removed)


def test_dedup_command_prints_progress_lines_off_a_terminal(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("CARAVAN_PROGRESS_EVERY", "0")
    src = tmp_path / "p.jsonl"
    texts = _pairs_at_jaccard_0_6(5)
    src.write_text("".join(json.dumps({"id": str(i), "prompt": t}) + "\n"
                           for i, t in enumerate(texts)))  # fmt: skip
    res = synth("dedup", "--input", src, "--output", tmp_path / "o.parquet")
    assert res.exit_code == 0, res.stderr
    assert "dedup: 10/10 rows (100%)" in res.stderr and "done in" in res.stderr
    quiet = synth("dedup", "--input", src, "--output", tmp_path / "o.parquet", "--no-progress")
    assert "dedup:" not in quiet.stderr.replace("dedup: kept", "")
