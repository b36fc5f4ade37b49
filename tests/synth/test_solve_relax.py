"""`synth solve` and `synth relax` against the double; the IF round trip into `verify score`
and the GRPO reward function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from caravan.records import read_records, write_records
from caravan.verifiers.ifeval import check_instructions, parse_ground_truth


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def if_prompts(synth, api, if_ids, tmp_path):
    out = tmp_path / "if.parquet"
    res = synth("generate", "--persona", "example", "--task", "if", "--output", out,
                "--constraint-ids", if_ids, "--min-constraints", "2", "--max-constraints", "3",
                *api)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    return out


def test_if_round_trip_solve_verify_score_and_grpo_reward(synth, api, if_prompts, tmp_path):
    sft = tmp_path / "sft.parquet"
    res = synth("solve", "--input", if_prompts, "--output", sft, "--verify", *api)
    assert res.exit_code == 0, res.stderr
    rows = read_records(sft, "sft").to_pylist()
    assert len(rows) == 19 and all(r["verified"] for r in rows)
    for r in rows:
        assert r["messages"][-1]["role"] == "assistant" and r["dataset"] == "ifeval"
        assert r["persona_id"].startswith("ex-") and r["template"] == "generate_if"
    # `verify score` reads the rows as they are (response = the verified answer).
    scored_in = tmp_path / "to_score.parquet"
    write_records(
        [
            {**r, "response": r["messages"][-1]["content"], "messages": r["messages"][:1]}
            for r in rows
        ],
        scored_in,
    )
    from caravan.verifiers.cli import cli as verify_cli
    from click.testing import CliRunner

    out = tmp_path / "scored.parquet"
    res = CliRunner().invoke(verify_cli, ["score", "--input", str(scored_in), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert {r["score"] for r in read_records(out).to_pylist()} == {10.0}
    # The GRPO adapter's reward function over the same columns.
    from types import SimpleNamespace

    from caravan.train_adapters.grpo import verifier_reward

    reward = verifier_reward(
        SimpleNamespace(reward_value=10.0, strict=False, truncated_penalty=None), None
    )
    good = [[{"role": "assistant", "content": r["messages"][-1]["content"]}] for r in rows]
    bad = [[{"role": "assistant", "content": "Wrong, Answer"}] for _ in rows]
    columns = {"ground_truth": [r["ground_truth"] for r in rows],
               "dataset": [r["dataset"] for r in rows]}  # fmt: skip
    prompts = [r["messages"][:1] for r in rows]
    assert reward(prompts=prompts, completions=good, **columns) == [10.0] * len(rows)
    assert all(x < 10.0 for x in reward(prompts=prompts, completions=bad, **columns))


def test_if_verify_rejects_answers_that_break_constraints(synth, api, double, if_prompts, tmp_path):
    rows = read_records(if_prompts).to_pylist()
    # Rewrite one prompt's text so the double's answer no longer matches the ground truth.
    label = parse_ground_truth(rows[0]["ground_truth"])
    rows[0]["prompt"] = "Please write me a short note."
    src = tmp_path / "edited.parquet"
    write_records(rows, src)
    res = synth("solve", "--input", src, "--output", tmp_path / "s.parquet", "--verify", *api)
    assert res.exit_code == 0, res.stderr
    (rej,) = _jsonl(tmp_path / "s.rejected.jsonl")
    assert rej["id"] == rows[0]["id"] and rej["reason"] == "answer_fails_its_constraints"
    assert rej["details"] and all(
        d.removeprefix("fails ") in label.instruction_ids for d in rej["details"]
    )


def test_math_majority_gives_ground_truth(synth, api, double, tmp_path):
    prompts = tmp_path / "math.parquet"
    assert (
        synth(
            "generate", "--persona", "example", "--task", "math", "--output", prompts, *api
        ).exit_code
        == 0
    )
    n = len(read_records(prompts))
    out = tmp_path / "sft.parquet"
    res = synth("solve", "--input", prompts, "--output", out, "--verify", "--samples", "4", *api)
    assert res.exit_code == 0, res.stderr
    rows = read_records(out).to_pylist()
    assert len(rows) == n - 1
    assert {(r["ground_truth"], r["dataset"], r["agreement"], r["samples"]) for r in rows} == {
        ("42", "MATH", 1.0, 4)
    }
    assert all("\\boxed{42}" in r["messages"][-1]["content"] for r in rows)
    (rej,) = _jsonl(tmp_path / "sft.rejected.jsonl")
    assert rej["row"]["persona_id"] == "ex-08" and rej["reason"] == "no_majority_answer"
    assert rej["details"][0].startswith("4 samples:") and len(rej["row"]["answers"]) == 4
    # four samples per prompt, each asked once
    assert len([e for e in double.generation_requests() if "boxed" in json.dumps(e.body)]) == 4 * n


def test_gsm_code_instruction_tasks(synth, api, double, tmp_path):
    for task in ("gsm", "code", "instruction"):
        prompts = tmp_path / f"{task}.parquet"
        assert synth("generate", "--persona", "example", "--task", task,
                     "--output", prompts, *api).exit_code == 0  # fmt: skip
        out = tmp_path / f"{task}-sft.parquet"
        res = synth("solve", "--input", prompts, "--output", out, "--verify", *api)
        assert res.exit_code == 0, res.stderr
        rows = read_records(out, "sft").to_pylist()
        rejected = _jsonl(tmp_path / f"{task}-sft.rejected.jsonl")
        if task == "gsm":
            assert {(r["ground_truth"], r["dataset"]) for r in rows} == {("42", "gsm8k")}
        if task == "code":
            assert {r["dataset"] for r in rows} == {"code"}
            assert json.loads(rows[0]["ground_truth"]) == [
                "assert add(1, 2) == 3",
                "assert add(2, 2) == 4",
            ]
            assert [r["reason"] for r in rejected] == ["own_tests_fail"]
            assert rejected[0]["row"]["persona_id"] == "ex-09"
            assert "failed" in rejected[0]["details"][0]
            # code answers default to Claude; --model overrides (the double speaks OpenAI here)
            assert {r["model"] for r in rows} == {"gpt-4o"}
        if task == "instruction":
            assert rows and not any(r["verified"] for r in rows) and rejected == []


def test_solve_defaults_follow_tulu(synth, tmp_path, double):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        json.dumps({"id": "a", "prompt": "Add 2 and 3.", "task": "math"})
        + "\n"
        + json.dumps({"id": "b", "prompt": "Write add(a, b).", "task": "code"})
        + "\n"
    )
    res = synth("solve", "--input", prompts, "--output", tmp_path / "o.parquet", "--dry-run")
    assert res.exit_code == 0, res.stderr
    assert "model: openai:gpt-4o (OPENAI_API_KEY is set)" in res.output
    assert "model: anthropic:claude-sonnet-4-5 (ANTHROPIC_API_KEY is set)" in res.output
    assert double.generation_requests() == []


def test_relax_pairs(synth, api, if_prompts, tmp_path):
    sft = tmp_path / "sft.parquet"
    assert synth("solve", "--input", if_prompts, "--output", sft, "--verify", *api).exit_code == 0
    pairs_path = tmp_path / "pairs.parquet"
    res = synth("relax", "--input", sft, "--output", pairs_path, *api)
    assert res.exit_code == 0, res.stderr
    pairs = read_records(pairs_path, "preference").to_pylist()
    assert pairs
    rejected = _jsonl(tmp_path / "pairs.rejected.jsonl")
    assert len(pairs) + len(rejected) == 19
    for p in pairs:
        label = parse_ground_truth(p["ground_truth"])
        chosen, worse = p["chosen"][0]["content"], p["rejected"][0]["content"]
        assert all(check_instructions(chosen, label.instruction_ids, label.kwargs))
        i = label.instruction_ids.index(p["dropped_constraint"])
        assert check_instructions(worse, [p["dropped_constraint"]], [label.kwargs[i]]) == [False]
        assert p["prompt"][0]["role"] == "user" and p["persona_id"].startswith("ex-")
        assert p["relaxed_prompt"] != p["prompt"][0]["content"]
    # relaxing from bare prompts answers the originals too, and gives the same pairs
    again = tmp_path / "pairs2.parquet"
    assert synth("relax", "--input", if_prompts, "--output", again, *api).exit_code == 0
    assert {p["id"] for p in read_records(again).to_pylist()} == {p["id"] for p in pairs}


def test_relax_named_constraint_and_single_constraint_rows(synth, api, if_ids, tmp_path):
    one = tmp_path / "one.parquet"
    synth("generate", "--persona", "example", "--task", "if", "-n", "4", "--output", one,
          "--constraint-ids", if_ids, "--max-constraints", "1", *api)  # fmt: skip
    res = synth("relax", "--input", one, "--output", tmp_path / "r.parquet", *api)
    assert res.exit_code == 1 and "no pair survived" in res.stderr
    assert "4 of 4 IF prompts have fewer than 2 constraints" in res.stderr
    assert "--min-constraints 2" in res.stderr
    reasons = {r["reason"] for r in _jsonl(tmp_path / "r.rejected.jsonl")}
    assert reasons == {"fewer_than_2_constraints"}
    two = tmp_path / "two.parquet"
    synth("generate", "--persona", "example", "--task", "if", "-n", "8", "--output", two,
          "--constraint-ids", "punctuation:no_comma,detectable_format:title",
          "--min-constraints", "2", "--max-constraints", "2", *api)  # fmt: skip
    res = synth("relax", "--input", two, "--output", tmp_path / "t.parquet",
                "--drop", "punctuation:no_comma", *api)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    pairs = read_records(tmp_path / "t.parquet").to_pylist()
    assert {p["dropped_constraint"] for p in pairs} == {"punctuation:no_comma"}
    assert all("," in p["rejected"][0]["content"] for p in pairs)


def test_generated_if_rows_go_straight_through_complete_and_verify_score(
    synth, api, if_prompts, tmp_path
):
    from caravan.verifiers.cli import cli as verify_cli
    from click.testing import CliRunner

    answered = tmp_path / "answered.parquet"
    res = synth("complete", "--input", if_prompts, "--output", answered,
                "--base-url", api[1], "--model", "gpt-4o", "--no-progress")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    out = tmp_path / "scored.parquet"
    res = CliRunner().invoke(verify_cli, ["score", "--input", str(answered), "--output", str(out)])
    assert res.exit_code == 0, res.output
    scored = read_records(out).to_pylist()
    assert len(scored) == 19 and {r["score"] for r in scored} == {10.0}


def test_solve_template_override_is_recorded(synth, api, double, tmp_path):
    import hashlib

    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "prompt": "Add 40 and 2.", "task": "math"}) + "\n")
    tpl = tmp_path / "mine.txt"
    tpl.write_text("{prompt}\n\nShow your work; put the result inside \\boxed{} at the end.\n")
    out = tmp_path / "o.parquet"
    res = synth("solve", "--input", prompts, "--output", out, "--template", f"math={tpl}", *api)
    assert res.exit_code == 0, res.stderr
    (row,) = read_records(out).to_pylist()
    assert row["solve_template"] == "mine.txt"
    assert row["solve_template_sha256"] == hashlib.sha256(tpl.read_bytes()).hexdigest()
    assert row["messages"][0]["content"].startswith("Add 40 and 2.\n\nShow your work")
    res = synth("solve", "--input", prompts, "--output", out, "--template", str(tpl), *api)
    assert res.exit_code == 1 and "--template expects TASK=PATH" in res.stderr


def _tulu_prompts(tmp_path: Path) -> Path:
    path = tmp_path / "tulu.jsonl"
    rows = [
        {"id": "t1", "task": "if", "prompt": "Write a note, all in lowercase letters.",
         "ground_truth": json.dumps({"func_name": "validate_lowercase", "N": None})},
        {"id": "t2", "task": "if", "prompt": "Write a note. Use no commas.",
         "ground_truth": json.dumps({"func_name": "validate_lowercase"})},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tulu_func_name_labels_in_solve_verify_and_relax(synth, api, tmp_path):
    src = _tulu_prompts(tmp_path)
    out = tmp_path / "sft.parquet"
    res = synth("solve", "--input", src, "--output", out, "--verify", *api)
    assert res.exit_code == 0, res.stderr
    assert [r["id"] for r in read_records(out).to_pylist()] == ["t1"]  # t2's answer has capitals
    (rej,) = _jsonl(tmp_path / "sft.rejected.jsonl")
    assert rej["id"] == "t2" and rej["details"] == ["fails validate_lowercase"]
    res = synth("relax", "--input", src, "--output", tmp_path / "p.parquet", *api)
    assert res.exit_code == 1 and "AttributeError" not in res.stderr
    assert "2 of 2 IF prompts have fewer than 2 constraints" in res.stderr


def test_dry_runs_read_and_check_every_input(synth, api, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        b'{"id": "a", "task": "if", "prompt": "p", "ground_truth": "[]"}\n'
        b'{"id": "b", "task": "if", "prompt": "q", "ground_truth": "{\\"func_name\\": \\"nope\\"}"}\n'
    )
    for cmd in ("solve", "relax"):
        res = synth(cmd, "--input", bad, "--output", tmp_path / "o.parquet", "--dry-run", *api)
        assert res.exit_code == 1, res.stdout
        assert f"{bad}: line 1: IF ground truth list must hold one entry" in res.stderr
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"id": "a", "prompt": "caf\xe9"}\n')
    res = synth("solve", "--input", latin, "--output", tmp_path / "o.parquet", "--task", "math",
                "--dry-run", *api)  # fmt: skip
    assert res.exit_code == 1 and f"{latin}: line 1: not UTF-8" in res.stderr
