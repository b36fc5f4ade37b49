"""The tables behind the synthesis, rewards and record-file notebooks."""

from __future__ import annotations

import json

import pytest

from caravan.errors import CaravanError
from caravan.inspect import env_param
from caravan.inspect import overview as O
from caravan.inspect import rewards as R
from caravan.inspect import synthesis as S


def test_env_param_casts_to_the_default_type(monkeypatch):
    monkeypatch.setenv("CARAVAN_NB_MAX_ROWS", "25")
    monkeypatch.setenv("CARAVAN_NB_THRESHOLD", "0.3")
    monkeypatch.setenv("CARAVAN_NB_FLAG", "yes")
    assert env_param("max_rows", 100) == 25
    assert env_param("threshold", 0.5) == 0.3
    assert env_param("flag", False) is True
    assert env_param("unset_thing", "a.parquet") == "a.parquet"
    monkeypatch.setenv("CARAVAN_NB_MAX_ROWS", "lots")
    with pytest.raises(CaravanError, match="CARAVAN_NB_MAX_ROWS='lots': expected int"):
        env_param("max_rows", 100)


def _row(i, persona, prompt, ids):
    return {"id": f"if-{i}", "persona": persona, "prompt": prompt, "constraint_type": ids}


def test_synthesis_tables():
    base = "Write a short note about the harbour at night and mention the old lighthouse keeper"
    rows = [
        _row(0, "a sailor", base + " please.", "punctuation:no_comma, keywords:existence"),
        _row(1, "a sailor's son", base + " now.", "punctuation:no_comma"),
        _row(2, "a chef", "Give me a soup recipe with leeks.", ""),
    ]
    rejected = [
        {"id": "if-3", "persona": "a beekeeper", "stage": "generate",
         "reason": "constraints not stated in prompt", "details": ["x"], "text": "honey"},
        {"id": "if-4", "persona": "a chef's twin", "stage": "dedup", "reason": "exact duplicate",
         "details": ["duplicates if-2 (estimated Jaccard 1.0)"], "text": "Give me a soup"},
    ]  # fmt: skip
    assert S.constraint_counts(rows)[0] == {
        "constraint_id": "punctuation:no_comma", "family": "punctuation", "prompts": 2
    }  # fmt: skip
    assert S.constraints_per_prompt(rows) == {0: 1, 1: 1, 2: 1}
    reasons = {(r["stage"], r["reason"]): r["rows"] for r in S.rejection_reasons(rejected)}
    assert reasons == {("generate", "constraints not stated in prompt"): 1,
                       ("dedup", "exact duplicate"): 1}  # fmt: skip
    personas = [{"persona": p} for p in ("a sailor", "a sailor's son", "a chef", "a beekeeper",
                                         "a chef's twin", "a pilot")]  # fmt: skip
    cov = S.persona_coverage(personas, rows, rejected)
    assert (cov["kept"], cov["only_rejected"], cov["unused"]) == (3, 2, 1)
    clusters = S.near_duplicate_clusters(rows, rejected, threshold=0.5)
    heads = {c["kept"]: c for c in clusters}
    assert heads["if-0"]["members"] == ["if-1"]  # near-miss that survived dedup
    assert heads["if-2"]["members"] == ["if-4"] and heads["if-2"]["size"] == 2
    # the one rejected-file format (the rejected row under `row`) reads the same
    unified = [{"id": r["id"], "stage": "synth." + r["stage"], "reason": r["reason"],
                "details": r["details"],
                "row": {"persona": r["persona"],
                        "prompt" if r["stage"] == "dedup" else "text": r["text"]}}
               for r in rejected]  # fmt: skip
    assert S.persona_coverage(personas, rows, unified) == cov
    assert S.near_duplicate_clusters(rows, unified, threshold=0.5) == clusters
    assert "&lt;" in S.samples_html([_row(9, "<p>", "<b>hi</b>", "")])


def _scored(dataset, score, details, gt="42", error=None):
    check = {"dataset": dataset, "verifier": dataset, "score": score, "details": details,
             "error": error}  # fmt: skip
    return {"response": "r", "ground_truth": gt, "dataset": dataset, "score": score,
            "checks": json.dumps([check]), "errors": error}  # fmt: skip


def test_rewards_tables_and_reasons():
    rows = [
        _scored("gsm8k", 1.0, {"extracted": "42"}),
        _scored("gsm8k", 0.0, {"extracted": "7"}),
        _scored("ifeval", 0.5, {"instruction_ids": ["a:x", "b:y"], "outcomes": [True, False]}),
        _scored("ifeval", 1.0, {"instruction_ids": ["b:y"], "outcomes": [True]}),
        _scored("math", None, {}, error="sympy timed out"),
    ]
    rates = {r["verifier"]: r for r in R.pass_rates(rows)}
    assert rates["gsm8k"]["pass_rate"] == 0.5 and rates["math"]["errors"] == 1
    assert rates["ifeval"]["mean_score"] == 0.75
    cp = {c["constraint_id"]: c for c in R.constraint_pass_rates(rows)}
    assert cp["b:y"] == {"constraint_id": "b:y", "checked": 2, "passed": 1, "pass_rate": 0.5}
    reasons = [f["reason"] for f in R.failing(rows)]
    assert reasons == [
        "extracted '7', expected 42",
        "failed constraints: b:y",
        "error: sympy timed out",
    ]
    fig = R.rewards_figure(rows)
    assert len([a for a in fig.axes if a.get_visible()]) >= 3


def test_record_overview_tables():
    rows = [
        {"id": "1", "source": "a", "messages": [{"role": "user", "content": "hi"},
                                                {"role": "assistant", "content": "hello"}]},
        {"id": "2", "source": "b", "prompt": [{"role": "user", "content": "pick"}],
         "chosen": [{"role": "assistant", "content": "x"}]},
    ]  # fmt: skip
    stats = O.turn_stats(rows)
    assert stats["turns_per_row"] == {2: 2}
    assert {r["role"]: r["mean_chars"] for r in stats["roles"]} == {"assistant": 3.0, "user": 3.0}
    assert O.group_counts(rows) == {"source": {"a": 1, "b": 1}}
    assert O.kinds(["id", "messages", "source"]) == ["sft"]
    assert set(O.kinds(["id", "messages", "ground_truth", "dataset", "source"])) == {"sft", "rlvr"}
