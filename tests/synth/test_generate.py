"""`synth generate` end to end against the API double."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from caravan.records import read_records
from caravan.synth.if_statement import missing_statements
from caravan.synth.personas import example_personas_path
from caravan.synth.templates import bundled_template
from caravan.verifiers.ifeval import parse_ground_truth


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


IF_IDS = (
    "keywords:existence,punctuation:no_comma,change_case:english_lowercase,detectable_format:title"
)


def _if_args(api, out, *extra):
    return ["generate", "--persona", "example", "--task", "if", "--output", out,
            "--constraint-ids", IF_IDS, "--min-constraints", "2", "--max-constraints", "3",
            *api, *extra]  # fmt: skip


def test_if_rows_carry_checkable_ground_truth(synth, api, double, tmp_path):
    out = tmp_path / "if.parquet"
    res = synth(*_if_args(api, out))
    assert res.exit_code == 0, res.output + res.stderr
    rows = read_records(out, "rlvr").to_pylist()
    rejected = _jsonl(tmp_path / "if.rejected.jsonl")
    assert len(rows) + len(rejected) == 20
    template = bundled_template("generate_if")
    for row in rows:
        label = parse_ground_truth(row["ground_truth"])
        assert 2 <= len(label.instruction_ids) <= 3
        assert row["dataset"] == "ifeval"
        assert row["persona_id"].startswith("ex-") and row["id"] == "if-" + row["persona_id"]
        assert row["template"] == "generate_if"
        assert row["template_sha256"] == hashlib.sha256(template.text.encode()).hexdigest()
        assert row["messages"] == [{"role": "user", "content": row["prompt"]}]
        assert missing_statements(row["prompt"], label.instruction_ids, label.kwargs) == []
        assert row["constraint_type"] == ", ".join(label.instruction_ids)
    # The beekeeper's prompt never states its constraints: three draws, then rejected.
    (bee,) = rejected
    assert bee["row"]["persona_id"] == "ex-06"
    assert bee["reason"] == "constraints_not_stated_in_prompt"
    assert bee["row"]["draws"] == 3 and bee["details"]
    bee_calls = [e for e in double.generation_requests() if "beekeeper" in json.dumps(e.body)]
    assert len(bee_calls) == 3
    assert len(double.generation_requests()) == 19 + 3
    assert "wrote 19 if prompts" in res.output and "1 constraints not stated" in res.output


def test_dry_run_sends_nothing_and_counts(synth, api, double, tmp_path):
    res = synth(*_if_args(api, tmp_path / "x.parquet", "-n", "5", "--dry-run"))
    assert res.exit_code == 0, res.stderr
    assert "requests: 5 (0 already in the cache, 5 to send)" in res.output
    assert "estimated cost, at most: $" in res.output
    assert double.generation_requests() == []
    assert not (tmp_path / "x.parquet").exists()


def test_rerun_is_served_from_the_cache(synth, api, double, tmp_path):
    args = _if_args(api, tmp_path / "a.parquet", "-n", "4")
    assert synth(*args).exit_code == 0
    first = len(double.generation_requests())
    res = synth(*args)
    assert res.exit_code == 0
    assert len(double.generation_requests()) == first
    dry = synth(*args, "--dry-run")
    assert "requests: 4 (4 already in the cache, 0 to send)" in dry.output


def test_same_seed_same_constraints_larger_n_extends(synth, api, tmp_path):
    synth(*_if_args(api, tmp_path / "a.parquet", "-n", "3", "--seed", "5"))
    synth(*_if_args(api, tmp_path / "b.parquet", "-n", "6", "--seed", "5"))
    a = {r["id"]: r["ground_truth"] for r in read_records(tmp_path / "a.parquet").to_pylist()}
    b = {r["id"]: r["ground_truth"] for r in read_records(tmp_path / "b.parquet").to_pylist()}
    assert a and all(b[k] == v for k, v in a.items())


def test_duplicates_are_removed_with_reasons(synth, api, tmp_path):
    out = tmp_path / "gsm.parquet"
    res = synth("generate", "--persona", "example", "--task", "gsm", "--output", out, *api)
    assert res.exit_code == 0, res.stderr
    rows = read_records(out).to_pylist()
    assert len(rows) == 19
    (dup,) = _jsonl(tmp_path / "gsm.rejected.jsonl")
    assert dup["reason"] == "exact_duplicate"
    assert {dup["row"]["persona_id"]} <= {"ex-01", "ex-12"}
    assert "duplicates gsm-ex-" in dup["details"][0]
    assert "dedup: kept 19, removed 1 (1 exact, 0 near-duplicate)" in res.output
    res = synth("generate", "--persona", "example", "--task", "gsm", "--no-dedup",
                "--output", tmp_path / "all.parquet", *api)  # fmt: skip
    assert len(read_records(tmp_path / "all.parquet")) == 20


def test_every_task_generates(synth, api, tmp_path):
    for task in ("math", "algebra", "code", "instruction"):
        out = tmp_path / f"{task}.parquet"
        res = synth(
            "generate", "--persona", "example", "--task", task, "-n", "3", "--output", out, *api
        )
        assert res.exit_code == 0, res.stderr
        rows = read_records(out).to_pylist()
        assert len(rows) == 3
        assert {r["task"] for r in rows} == {task}
        assert {r["template"] for r in rows} == {f"generate_{task}"}
        assert all(r["ground_truth"] is None for r in rows)


def test_template_override_is_recorded(synth, api, double, tmp_path):
    tpl = tmp_path / "mine.txt"
    tpl.write_text("Picture this person: {persona}\n\nA puzzle they would enjoy, please.\n")
    out = tmp_path / "m.parquet"
    res = synth("generate", "--persona", "example", "--task", "math", "-n", "2",
                "--template", tpl, "--output", out, *api)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rows = read_records(out).to_pylist()
    assert {r["template"] for r in rows} == {"mine.txt"}
    assert {r["template_sha256"] for r in rows} == {hashlib.sha256(tpl.read_bytes()).hexdigest()}
    sent = double.generation_requests()[0].body["messages"][0]["content"]
    assert "A puzzle they would enjoy" in sent
    bad = tmp_path / "bad.txt"
    bad.write_text("Write something with constraints.")
    res = synth("generate", "--persona", "example", "--task", "if", "--template", bad,
                "--output", tmp_path / "z.parquet", *api)  # fmt: skip
    assert res.exit_code == 1
    assert "needs the placeholder(s) {persona}, {constraints}" in res.stderr


def test_failed_requests_are_rejected_not_lost(synth, api, double, tmp_path):
    text = json.loads(example_personas_path().read_text())[1]["persona"]
    from caravan.synth.templates import bundled_template as bt

    double.fail_prompt(bt("generate_math").render(persona=text), "500")
    out = tmp_path / "m.parquet"
    res = synth("generate", "--persona", "example", "--task", "math", "--output", out,
                "--max-retries", "0", *api)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    rejected = _jsonl(tmp_path / "m.rejected.jsonl")
    (rej,) = [r for r in rejected if r["reason"] == "request_failed"]
    assert (
        rej["row"]["persona_id"] == "ex-02" and "500" in rej["details"][0] or "server" in rej["details"][0]
    )
    assert len(read_records(out)) == 20 - len(rejected)
    # A rerun retries only the failed request (finished ones are cached).
    before = len(double.generation_requests())
    double._fault_for_text.clear()
    synth("generate", "--persona", "example", "--task", "math", "--output", out, *api)
    assert len(double.generation_requests()) == before + 1


def test_provenance_has_no_secret_and_names_inputs(synth, api, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "p.parquet"
    synth(*_if_args(api, out, "-n", "2"))
    meta = pq.read_schema(out).metadata[b"caravan"].decode()
    assert "sk-test" not in meta
    prov = json.loads(meta)
    assert prov["config"]["template"] == "generate_if"
    assert prov["inputs"][0]["source"].endswith("example_personas.json")


def test_duplicate_personas_are_reported_not_dropped_silently(synth, api, tmp_path):
    personas = tmp_path / "p.jsonl"
    texts = ["A retired ship captain.", "A pastry chef.", "A  retired ship captain. "]
    personas.write_text("".join(json.dumps({"persona": t}) + "\n" for t in texts))
    out = tmp_path / "o.parquet"
    res = synth("generate", "--persona", personas, "--task", "gsm", "--output", out, *api)
    assert res.exit_code == 0, res.stderr
    assert (
        f"1 duplicate persona(s) in {personas} used once: {personas}: line 3 repeats line 1"
        in res.stderr
    )
    dry = synth("generate", "--persona", personas, "--task", "gsm", "--output", out,
                "--dry-run", *api)  # fmt: skip
    assert "1 duplicate persona(s)" in dry.stdout
