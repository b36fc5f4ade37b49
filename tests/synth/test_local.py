"""The no-API-key path: the embedded local backend with the tiny random model.

Its text is random, so these tests check shapes, bookkeeping and rejection reasons: every
persona ends up either as a row or as a rejection with a known reason, and nothing is lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from caravan.records import read_records
from caravan.synth.models import DEFAULT_LOCAL_MODEL, no_local_model_message

GEN_REASONS = {"truncated", "empty_prompt", "constraints_not_stated_in_prompt",
               "exact_duplicate", "near_duplicate"}  # fmt: skip


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def test_offline_without_a_local_model_stops_with_one_line(synth, no_key, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    out = tmp_path / "p.parquet"
    res = synth("generate", "--persona", "example", "--task", "if", "-n", "2", "--output", out)
    assert res.exit_code == 1
    assert res.stderr == "error: " + no_local_model_message(DEFAULT_LOCAL_MODEL) + "\n"
    assert "--local-model PATH or CARAVAN_LOCAL_MODEL=PATH" in res.stderr
    assert not out.exists()


def test_dry_run_without_key_names_the_local_model(synth, no_key, monkeypatch, tmp_path):
    monkeypatch.setenv("CARAVAN_LOCAL_MODEL", "/models/my-instruct")
    res = synth("generate", "--persona", "example", "--task", "math", "-n", "3",
                "--output", tmp_path / "p.parquet", "--dry-run")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "model: local:/models/my-instruct (no API key set: local backend)" in res.output
    assert "estimated cost: $0 (runs on this machine)" in res.output


def test_generate_every_task_with_the_tiny_model(
    synth, no_key, monkeypatch, tiny_model_dir, tmp_path
):
    monkeypatch.setenv("CARAVAN_LOCAL_MODEL", str(tiny_model_dir))
    for task in ("if", "math", "gsm", "algebra", "code", "instruction"):
        out = tmp_path / f"{task}.parquet"
        res = synth("generate", "--persona", "example", "--task", task, "-n", "3",
                    "--max-tokens", "12", "--max-attempts", "2", "--output", out, "--no-progress")  # fmt: skip
        rejected = _jsonl(tmp_path / f"{task}.rejected.jsonl")
        assert {r["reason"] for r in rejected} <= GEN_REASONS
        assert all(r["row"]["persona_id"].startswith("ex-") and r["details"] for r in rejected)
        if res.exit_code == 0:
            rows = read_records(out).to_pylist()
            assert f"with local:{tiny_model_dir}" in res.output
            assert all(r["provider"] == "local" and r["model"] == str(tiny_model_dir) for r in rows)
        else:
            rows = []
            assert "no prompt survived (3 rejected" in res.stderr
        assert len(rows) + len(rejected) == 3
    # an IF prompt of random text never states its constraints: regenerated, then rejected
    if_rejected = _jsonl(tmp_path / "if.rejected.jsonl")
    assert {r["row"]["draws"] for r in if_rejected if r["reason"].startswith("constraints")} <= {2}


def test_solve_and_relax_with_the_tiny_model(synth, tiny_model_dir, tmp_path):
    prompts = tmp_path / "p.jsonl"
    gt = json.dumps([{"instruction_id": ["punctuation:no_comma", "detectable_format:title"],
                      "kwargs": [{}, {}]}])  # fmt: skip
    rows = [
        {"id": "m", "prompt": "What is 40 plus 2?", "task": "math"},
        {"id": "g", "prompt": "Tom has 3 apples and buys 4. How many?", "task": "gsm"},
        {"id": "c", "prompt": "Write add(a, b).", "task": "code"},
        {"id": "i", "prompt": "Give me a title. Do not use commas.", "task": "if",
         "ground_truth": gt, "persona_id": "ex-01"},
        {"id": "n", "prompt": "Say hello.", "task": "instruction"},
    ]  # fmt: skip
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    local = [
        "--provider",
        "local",
        "--model",
        str(tiny_model_dir),
        "--no-progress",
        "--max-tokens",
        "10",
    ]
    out = tmp_path / "s.parquet"
    res = synth("solve", "--input", prompts, "--output", out, "--verify", "--samples", "2", *local)
    rejected = _jsonl(tmp_path / "s.rejected.jsonl")
    kept = read_records(out).to_pylist() if res.exit_code == 0 else []
    assert len(kept) + len(rejected) == 5
    by_id = {r["id"]: r for r in rejected}
    # the code reply must be JSON with tests: random text is a recorded parse failure
    assert by_id["c"]["reason"] == "request_failed" and "parse_failure" in by_id["c"]["details"][0]
    allowed = {"truncated", "no_majority_answer", "answer_fails_its_constraints", "request_failed",
               "empty_answer"}  # fmt: skip
    assert {r["reason"] for r in rejected} <= allowed
    assert all(r["samples"] == (2 if r["task"] in ("math", "gsm") else 1) for r in kept)
    res = synth("relax", "--input", prompts, "--output", tmp_path / "r.parquet", *local)
    assert res.exit_code == 1  # random text cannot keep the other constraint stated
    (rej,) = _jsonl(tmp_path / "r.rejected.jsonl")
    assert rej["id"] == "i" and rej["reason"] in {
        "rewrite_failed",
        "rewrite_lost_a_kept_constraint",
    }
