import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.caravan.test_ray_executor import ray_local  # noqa: F401 - the one local Ray

ROOT = Path(__file__).resolve().parents[2]


def verify(*args, cwd=None):
    """Run `verify` in a fresh interpreter with this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "CARAVAN_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    code = "import sys; from caravan.verifiers.cli import cli; sys.argv[0] = 'verify'; cli()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_score_adds_columns_and_prints_a_summary(tmp_path):
    rows = [
        {
            "id": "a",
            "response": "<think>hmm 3</think> It is 72.",
            "ground_truth": "72",
            "dataset": "gsm8k",
        },
        {
            "id": "b",
            "response": r"So $\boxed{\dfrac{1}{2}}$",
            "ground_truth": "0.5",
            "dataset": "MATH",
        },
        {"id": "c", "response": r"\boxed{3}", "ground_truth": "4", "dataset": "math"},
        {"id": "d", "response": "text", "ground_truth": "1", "dataset": "astrology"},
        {
            "id": "e",
            "response": "def f():\n    return 1\n",
            "ground_truth": '["assert f() == 1"]',
            "dataset": "code",
        },
    ]
    src = tmp_path / "responses.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    out = tmp_path / "scored.parquet"
    proc = verify("score", "--input", str(src), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "gsm8k" in proc.stdout and "mean score" in proc.stdout
    assert "4 scored, 1 with errors" in proc.stdout
    scored = {r["id"]: r for r in pq.read_table(out).to_pylist()}
    assert [scored[k]["score"] for k in "abcde"] == [10.0, 10.0, 0.0, None, 10.0]
    assert "no verifier for dataset 'astrology'" in scored["d"]["errors"]
    assert scored["a"]["errors"] is None
    checks = json.loads(scored["b"]["checks"])
    assert checks[0]["details"]["extracted"] == r"\dfrac{1}{2}"
    assert json.loads(scored["e"]["checks"])[0]["details"]["tests"][0]["status"] == "passed"
    assert scored["a"]["response"] == rows[0]["response"]  # input columns kept


def test_score_reads_message_lists_and_reports_missing_columns(tmp_path):
    src = tmp_path / "r.jsonl"
    row = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "It is 9"}],
        "ground_truth": "9",
        "dataset": "gsm8k",
    }
    src.write_text(json.dumps(row) + "\n")
    out = tmp_path / "s.parquet"
    proc = verify(
        "score", "--input", str(src), "--output", str(out), "--response-column", "messages"
    )
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(out).column("score").to_pylist() == [10.0]
    proc = verify("score", "--input", str(src), "--output", str(out))
    assert proc.returncode == 1
    assert "no `response` column" in proc.stderr and "Traceback" not in proc.stderr


def _fixture_sources(tmp_path):
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(
        "\n".join(
            json.dumps(
                {
                    "question": f"What is {i} + {i}?",
                    "answer": f"{i} + {i} = <<{i}+{i}={2 * i}>>{2 * i}\n#### {2 * i:,}",
                }
            )
            for i in range(500, 506)
        )
        + "\n"
    )
    math = tmp_path / "math.jsonl"
    math.write_text(
        json.dumps({"problem": "Find x.", "solution": r"Thus $x = \boxed{\frac{1}{2}}$."})
        + "\n"
        + json.dumps({"problem": "Find y.", "answer": "3"})
        + "\n"
    )
    ifs = tmp_path / "if.jsonl"
    ifs.write_text(
        json.dumps(
            {
                "key": 7,
                "prompt": "Write without commas.",
                "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
                "kwargs": [{}, {"relation": "at least", "num_words": 5, "extra": None}],
            }
        )
        + "\n"
    )
    return gsm, math, ifs


def test_build_rlvr_from_small_sources_with_verl_export(tmp_path):
    gsm, math, ifs = _fixture_sources(tmp_path)
    out, verl = tmp_path / "rlvr.parquet", tmp_path / "verl.parquet"
    proc = verify("build-rlvr", "--gsm8k", str(gsm), "--math", str(math), "--ifeval", str(ifs),
                  "--output", str(out), "--verl-output", str(verl), "--few-shot", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = pq.read_table(out).to_pylist()
    assert {r["dataset"] for r in rows} == {"gsm8k", "MATH", "ifeval"}
    gsm_rows = [r for r in rows if r["dataset"] == "gsm8k"]
    assert len(gsm_rows) == 5  # one row became the few-shot example
    assert all("Question:" in r["messages"][0]["content"] for r in gsm_rows)
    assert all("<<" not in r["messages"][0]["content"] for r in gsm_rows)
    assert {r["ground_truth"] for r in gsm_rows} <= {str(2 * i) for i in range(500, 506)}
    if_row = next(r for r in rows if r["dataset"] == "ifeval")
    assert json.loads(if_row["ground_truth"]) == [
        {"instruction_id": ["punctuation:no_comma", "length_constraints:number_words"],
         "kwargs": [{}, {"relation": "at least", "num_words": 5}]}
    ]  # fmt: skip
    assert if_row["constraint_type"] == "punctuation:no_comma, length_constraints:number_words"
    verl_rows = pq.read_table(verl).to_pylist()
    assert len(verl_rows) == len(rows)
    v = verl_rows[0]
    assert set(v) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert v["reward_model"]["style"] == "rule"
    assert v["prompt"] == rows[0]["messages"]


def test_build_rlvr_bad_rows_fail_or_go_to_quarantine(tmp_path):
    src = tmp_path / "math.jsonl"
    src.write_text(
        json.dumps({"problem": "p", "answer": "1"})
        + "\n"
        + json.dumps({"problem": "q", "answer": None})
        + "\n"
    )
    out = tmp_path / "o.parquet"
    proc = verify("build-rlvr", "--math", str(src), "--output", str(out))
    assert (
        proc.returncode == 1
        and "math.jsonl: line 2: needs `problem`" in proc.stderr
        and not out.exists()
    )
    bad = tmp_path / "bad.jsonl"
    proc = verify("build-rlvr", "--math", str(src), "--output", str(out), "--quarantine", str(bad))
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(out).num_rows == 1
    (rejected,) = [json.loads(line) for line in bad.read_text().splitlines()]
    assert rejected["row"]["problem"] == "q"  # the one rejected-rows format
    assert rejected["stage"] == "verify.build_rlvr" and rejected["reason"] == "not_convertible"
    assert rejected["details"][0].startswith(f"{src}: line 2: needs `problem`")
    assert not (tmp_path / "o.rejected.jsonl").exists()  # --quarantine is the side file
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(json.dumps({"question": "q?", "answer": "#### 4"}) + "\n"
                   + json.dumps({"question": "r?", "answer": "#### lots"}) + "\n")  # fmt: skip
    proc = verify("build-rlvr", "--gsm8k", str(gsm), "--output", str(tmp_path / "g.parquet"))
    assert proc.returncode == 1, proc.stderr
    assert f"{gsm}: line 2: answer after #### is not a number: 'lots'" in proc.stderr


def test_build_rlvr_then_score_on_the_shared_data(shared_data, tmp_path):
    out = tmp_path / "rlvr.parquet"
    proc = verify(
        "build-rlvr",
        "--gsm8k", str(shared_data / "train" / "gsm8k_train.jsonl"),
        "--math", str(shared_data / "train" / "math_train.jsonl"),
        "--ifeval", str(shared_data / "eval" / "ifeval_input_data.jsonl"),
        "--output", str(out), "--quarantine", str(tmp_path / "bad.jsonl"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    counts = {}
    for d in table.column("dataset").to_pylist():
        counts[d] = counts.get(d, 0) + 1
    assert counts["gsm8k"] == 7473 and counts["ifeval"] == 540 and counts["MATH"] > 7400
    # score gold-answer responses for a slice: every GSM8K/MATH row must verify
    rows = [r for r in table.to_pylist() if r["dataset"] != "ifeval"][::50]
    for r in rows:
        r["response"] = f"Reasoning... so the final answer is $\\boxed{{{r['ground_truth']}}}$."
    src = tmp_path / "resp.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    proc = verify("score", "--input", str(src), "--output", str(tmp_path / "s.parquet"))
    assert proc.returncode == 0, proc.stderr
    scores = pq.read_table(tmp_path / "s.parquet").column("score").to_pylist()
    assert sum(s == 10.0 for s in scores) >= len(scores) - 1


def test_list_names_every_verifier():
    proc = verify("list")
    assert proc.returncode == 0, proc.stderr
    for name in ("gsm8k", "math", "ifeval", "code"):
        assert name in proc.stdout


def test_score_think_in_prompt_accepts_a_block_opened_by_the_template(tmp_path):
    rows = [
        {"id": "a", "response": "2 and 2 make 4 </think> \\boxed{4}", "ground_truth": "4"},
        {"id": "b", "response": "<think>again</think> \\boxed{4}", "ground_truth": "4"},
    ]
    for row in rows:
        row["dataset"] = "math"
    src = tmp_path / "responses.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    scores = {}
    for flag in ([], ["--think-in-prompt"]):
        out = tmp_path / f"scored{len(flag)}.parquet"
        proc = verify(
            "score", "--input", str(src), "--output", str(out), "--strict-thinking", *flag
        )
        assert proc.returncode == 0, proc.stderr
        scores[bool(flag)] = [r["score"] for r in pq.read_table(out).to_pylist()]
    assert scores[False] == [0.0, 10.0]  # without the flag the opened block looks malformed
    assert scores[True] == [10.0, 0.0]  # with it, a second <think> is the malformed one


def test_score_on_ray_gives_the_local_scores(ray_local, tmp_path, monkeypatch):  # noqa: F811
    from caravan.verifiers.cli import cli as verify_cli
    from caravan.verifiers.rlvr import if_ground_truth
    from caravan.verifiers.stages import Score
    from click.testing import CliRunner

    no_comma = if_ground_truth(["punctuation:no_comma"], [{}])
    rows = []
    for i in range(4):
        rows += [
            {"response": f"So it is {2 * i}.", "ground_truth": str(2 * i + i % 2),
             "dataset": "gsm8k"},
            {"response": rf"Thus $\boxed{{\frac{{{i}}}{{2}}}}$", "ground_truth": str(i / 2),
             "dataset": "MATH"},
            {"response": "no commas here" if i % 2 else "a, b", "ground_truth": no_comma,
             "dataset": "ifeval"},
        ]  # fmt: skip
    src = tmp_path / "mixed.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    monkeypatch.setattr(Score, "batch_size", 4)  # three batches: the actors share the work
    scored = {}
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.parquet"
        res = CliRunner().invoke(verify_cli, ["score", "--input", str(src), "--output", str(out),
                                              "--executor", executor, "--ray-workers", "2"])  # fmt: skip
        assert res.exit_code == 0, res.output
        assert "12 scored, 0 with errors" in res.output
        scored[executor] = pq.read_table(out).select(["id", "score", "checks"]).to_pylist()
    assert scored["ray"] == scored["local"]
    assert [r["score"] for r in scored["local"]] == [
        10.0 if (k == 0 and i % 2 == 0) or k == 1 or (k == 2 and i % 2) else 0.0
        for i in range(4) for k in range(3)
    ]  # fmt: skip
