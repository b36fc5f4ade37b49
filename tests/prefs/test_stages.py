"""prefs' stages: per-prompt answering (k pool models + policy), judging, binarizing, with
the same pairs `prefs build` writes for the same prompts and settings."""

from __future__ import annotations

from caravan.prefs.stages import Answer, Binarize, Judge
from caravan.records import read_records
from click.testing import CliRunner

from caravan.session import LLM
from tests.prefs.conftest import write_pool, write_prompts

PROMPTS = ["Name a prime.", "Describe the sea in one line.", "ALLTIE please",
           "Write a poem about rain."]  # fmt: skip


def _pool(double, names=("alpha", "beta", "gamma", "delta")):
    return [LLM(n, base_url=double.base_url + "/v1") for n in names]


def _rows():
    return [{"id": f"q{i}", "messages": [{"role": "user", "content": t}]}
            for i, t in enumerate(PROMPTS)]  # fmt: skip


def test_answer_is_per_prompt_with_k_models_and_the_policy(double):
    policy = LLM("my-policy", base_url=double.base_url + "/v1")
    got = Answer(_pool(double), k=2, on_policy=policy, seed=3)(_rows(), progress=False)
    for row in got.to_list():
        models = [c["model"] for c in row["candidates"]]
        assert len(models) == 3 and models[-1] == "policy:my-policy"
        assert len(set(models)) == 3
        for c in row["candidates"]:
            assert c["ok"] and c["text"].startswith(f"[{c['model'].removeprefix('policy:')}]")


def test_a_pool_mapping_names_its_models(double):
    pool = {"fast": LLM("alpha", base_url=double.base_url + "/v1"),
            "slow": LLM("beta", base_url=double.base_url + "/v1")}  # fmt: skip
    got = Answer(pool, k=2)(_rows()[:1], progress=False).to_list()[0]["candidates"]
    assert {(c["model"], c["model_id"]) for c in got} == {("fast", "alpha"), ("slow", "beta")}
    assert all(c["text"].startswith(f"[{c['model_id']}]") for c in got)


def test_answer_judge_binarize_match_prefs_build(double, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", PROMPTS)
    pool = write_pool(tmp_path / "pool.yaml", double.base_url)
    out = tmp_path / "pairs.parquet"
    from caravan.prefs.cli import cli

    res = CliRunner().invoke(cli, ["build", "--prompts", str(prompts), "--pool", str(pool),
                                   "--k", "3", "--output", str(out), "--seed", "5",
                                   "--judge-base-url", double.base_url + "/v1", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    cli_pairs = {r["id"]: r for r in read_records(out).to_pylist()}
    judge = LLM("gpt-4o-2024-08-06", base_url=double.base_url + "/v1")
    answered = Answer(_pool(double), k=3, seed=5)(_rows(), progress=False)
    judged = Judge(judge, seed=5)(answered, progress=False)
    pairs = Binarize(seed=5)(judged, progress=False)
    got = {r["id"]: r for r in pairs.to_list()}
    assert got.keys() == cli_pairs.keys()
    for rid, row in got.items():
        for col in ("chosen", "rejected", "score_chosen", "score_rejected", "chosen_model"):
            assert row[col] == cli_pairs[rid][col], (rid, col)
    rejected = {r["id"]: r["reason"] for r in pairs.rejected.to_pylist()}
    assert rejected == {"q2": "tie"}  # ALLTIE: every response rated the same


def test_judge_rejects_prompts_with_fewer_than_two_responses(double):
    double.fail_prompt("lonely", "500")
    rows = [{"id": "x", "prompt": "lonely"}]
    pool = [LLM(n, base_url=double.base_url + "/v1", max_retries=0, cache=False)
            for n in ("alpha", "beta")]  # fmt: skip
    answered = Answer(pool, k=2)(rows, progress=False)
    judged = Judge(LLM("judge", base_url=double.base_url + "/v1"))(answered, progress=False)
    assert judged.table.num_rows == 0
    assert judged.rejected.to_pylist()[0]["reason"] == "fewer_than_2_responses"
