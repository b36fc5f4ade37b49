"""synth's stages give what the CLI commands give: the decision functions are shared."""

from __future__ import annotations

import json

from caravan.records import read_records
from caravan.synth.stages import Complete, Dedup, Generate, Relax, Solve

from caravan.session import LLM

IF_IDS = [
    "keywords:existence", "punctuation:no_comma", "change_case:english_lowercase",
    "detectable_format:title",
]  # fmt: skip


def _llm(double, tmp_path):
    return LLM("gpt-4o", base_url=double.base_url + "/v1", cache=tmp_path / "c.sqlite")


def test_generate_matches_synth_generate(synth, api, double, tmp_path):
    out = tmp_path / "if.parquet"
    res = synth("generate", "--persona", "example", "--task", "if", "--output", out, "-n", "8",
                "--constraint-ids", ",".join(IF_IDS), "--min-constraints", "2", "--no-dedup",
                *api)  # fmt: skip
    assert res.exit_code == 0, res.output
    cli_rows = {r["id"]: r for r in read_records(out).to_pylist()}
    same_cache = LLM("gpt-4o", base_url=double.base_url + "/v1")  # $CARAVAN_LLM_CACHE
    stage = Generate(task="if", llm=same_cache, n=8, seed=0,
                     constraint_ids=IF_IDS, min_constraints=2)  # fmt: skip
    got = stage("example", progress=False)
    rows = {r["id"]: r for r in got.to_list()}
    assert rows.keys() == cli_rows.keys()
    for rid, row in rows.items():
        assert row["prompt"] == cli_rows[rid]["prompt"]
        assert row["ground_truth"] == cli_rows[rid]["ground_truth"]
    # the CLI's cache answered: the stage builds the very same requests
    sent = [e.body["messages"][-1]["content"] for e in double.generation_requests()]
    assert len(sent) == len(set(sent))


def test_generate_rejects_prompts_that_state_nothing(double, tmp_path):
    personas = [{"id": "bee", "persona": "A beekeeper who sells honey at markets."},
                {"id": "cook", "persona": "A cook who runs a small diner."}]  # fmt: skip
    got = Generate(task="if", llm=_llm(double, tmp_path), constraint_ids=IF_IDS,
                   max_attempts=2)(personas, progress=False)  # fmt: skip
    assert got.table.column("id").to_pylist() == ["if-cook"]
    (rej,) = got.rejected.to_pylist()
    assert rej["id"] == "if-bee" and rej["reason"] == "constraints_not_stated_in_prompt"
    assert json.loads(rej["row"])["draws"] == 2


def test_solve_and_relax_chain(double, tmp_path):
    llm = _llm(double, tmp_path)
    prompts = Generate(task="if", llm=llm, n=10, constraint_ids=IF_IDS, min_constraints=2)(
        "example", progress=False
    )
    sft = Solve(llm=llm, verify=True)(prompts, progress=False)
    assert sft.table.num_rows >= 1 and all(sft.table.column("verified").to_pylist())
    assert set(sft.table.column("id").to_pylist()) <= set(prompts.table.column("id").to_pylist())
    pairs = Relax(llm=llm)(sft, progress=False)
    for row in pairs.to_list():
        assert row["chosen"] != row["rejected"] and row["id"] == "relax-" + row["id"][6:]
    assert pairs.table.num_rows + pairs.rejected.num_rows - sft.rejected.num_rows >= 1
    assert [s["stage"] for s in pairs.steps] == ["synth.generate", "synth.solve", "synth.relax"]


def test_dedup_names_the_row_it_duplicates():
    rows = [{"id": "a", "prompt": "How many hours are in 3 days?"},
            {"id": "b", "prompt": "how many hours are in 3   days?"},
            {"id": "c", "prompt": "Name a prime number above one hundred."}]  # fmt: skip
    got = Dedup()(rows, progress=False)
    assert got.table.column("id").to_pylist() == ["a", "c"]
    (rej,) = got.rejected.to_pylist()
    assert rej["id"] == "b" and rej["reason"] == "exact_duplicate" and "a" in rej["details"][0]


def test_complete_appends_the_answer(double, tmp_path):
    double.fail_prompt("doomed request", "500")
    rows = [{"id": "q1", "prompt": "Say hi."}, {"id": "q2", "prompt": "doomed request"}]
    llm = LLM("gpt-4o", base_url=double.base_url + "/v1", cache=False, max_retries=0)
    got = Complete(llm=llm, max_tokens=50)(rows, progress=False)
    (row,) = got.to_list()
    assert row["id"] == "q1" and row["messages"][-1]["role"] == "assistant"
    assert row["messages"][-1]["content"] == row["response"]
    assert got.rejected.to_pylist()[0]["reason"] == "request_failed"


def test_solve_answers_code_with_its_own_session(double, tmp_path):
    rows = [{"id": "m", "prompt": "Add 40 and 2.", "task": "math"},
            {"id": "c", "prompt": "Write add(a, b).", "task": "code"}]  # fmt: skip
    coder = LLM("gpt-4o-mini", base_url=double.base_url + "/v1", cache=tmp_path / "c.sqlite")
    got = Solve(llm=_llm(double, tmp_path), code_llm=coder, verify=True)(rows, progress=False)
    assert {r["id"]: r["model"] for r in got.to_list()} == {"m": "gpt-4o", "c": "gpt-4o-mini"}
    sent = {e.body["model"]: e.body["messages"][-1]["content"]
            for e in double.generation_requests()}  # fmt: skip
    assert "add(a, b)" in sent["gpt-4o-mini"] and "Add 40 and 2" in sent["gpt-4o"]
