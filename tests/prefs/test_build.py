"""`prefs build` end to end against the API double (pool models and the judge)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from caravan.prefs.cli import cli
from caravan.records import read_records

from .conftest import write_pool, write_prompts

PROMPTS = [
    "Explain why the sky is blue.",
    "Write a short poem about rivers.",
    "List three prime numbers. FLAKY",
    "Name a city. MALFORMED-honesty",
    "Say anything. ALLTIE",
    "Give one tip for sleeping well.",
]


def run(args, code=0):
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    assert done.value.code == code
    return done


def build_args(tmp_path, double, *extra):
    pool = write_pool(tmp_path / "pool.yaml", double.base_url)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    return [
        "build",
        "--prompts", str(prompts),
        "--pool", str(pool),
        "--k", "3",
        "--judge", "judge-model",
        "--judge-base-url", f"{double.base_url}/v1",
        "--output", str(tmp_path / "out" / "prefs.parquet"),
        "--cache", str(tmp_path / "cache.sqlite"),
        "--no-progress",
        *extra,
    ]  # fmt: skip


def side(tmp_path):
    return pq.read_table(tmp_path / "out" / "prefs.responses.parquet").to_pylist()


def rejected(tmp_path):
    import json

    text = (tmp_path / "out" / "prefs.rejected.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_build_writes_pairs_where_rejected_always_scores_lower(tmp_path, double, capsys):
    run(build_args(tmp_path, double))
    rows = read_records(tmp_path / "out" / "prefs.parquet", "preference").to_pylist()
    out = capsys.readouterr().out
    assert "pairs written: 4" in out
    assert "judge_failed 1" in out and "tie 1" in out
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"q0", "q1", "q2", "q5"}  # MALFORMED and ALLTIE excluded
    ratings = {"alpha": 5, "beta": 4, "gamma": 2, "delta": 2}
    for r in rows:
        assert r["score_chosen"] > r["score_rejected"]
        assert r["score_chosen"] == ratings[r["chosen_model"]]
        assert r["score_rejected"] == ratings[r["rejected_model"]]
        # the chosen text is the chosen model's own answer
        assert r["chosen"][0]["content"].startswith(f"[{r['chosen_model']}]")
        assert r["prompt"] == [{"role": "user", "content": PROMPTS[int(r["id"][1:])]}]
        assert r["messages"] == r["prompt"] + r["chosen"]
        assert len(r["prompt_id"]) == 64 and r["source"] == "prompts"
    # every prompt drew 3 distinct models; the chosen one is the best of the three
    table = side(tmp_path)
    assert len(table) == 3 * len(PROMPTS)
    for r in rows:
        models = {s["model"] for s in table if s["prompt_key"] == r["id"]}
        assert len(models) == 3
        assert r["chosen_model"] == max(models, key=lambda m: ratings[m])
    # the prompts without a pair, in the one rejected-rows file, with why and the whole row
    found = rejected(tmp_path)
    assert {(r["id"], r["stage"], r["reason"]) for r in found} == {
        ("q3", "prefs.judge", "judge_failed"), ("q4", "prefs.binarize", "tie")}  # fmt: skip
    assert all(set(r) == {"id", "stage", "reason", "details", "row"} for r in found)
    failed = next(r for r in found if r["id"] == "q3")
    assert failed["details"][0].startswith("honesty: ") and "not JSON" in failed["details"][0]
    assert failed["row"]["prompt"] == [{"role": "user", "content": PROMPTS[3]}]
    assert len(failed["row"]["candidates"]) == 3
    assert "prefs.rejected.jsonl" in out


def test_side_table_keeps_every_rating_and_never_invents_scores(tmp_path, double):
    run(build_args(tmp_path, double))
    table = side(tmp_path)
    poem = [s for s in table if s["prompt_key"] == "q1"]
    # honesty N/A stays N/A and the mean uses only the three numeric aspects
    assert all(s["honesty_label"] == "N/A" and s["honesty_rating"] is None for s in poem)
    for s in poem:
        numeric = [
            s[f"{a}_rating"] for a in ("helpfulness", "instruction_following", "truthfulness")
        ]
        assert s["score"] == sum(numeric) / 3
        assert s["helpfulness_qualities"] == ["informative"]
        assert s["truthfulness_hallucinations"] == []
        assert s["helpfulness_rationale"].startswith(s["model"])
    # the malformed aspect: no score anywhere, the raw reply and the error kept
    bad = [s for s in table if s["prompt_key"] == "q3"]
    assert all(s["prompt_status"] == "judge_failed" for s in bad)
    assert all(s["score"] is None and s["honesty_rating"] is None for s in bad)
    assert all("great" in s["honesty_judge_raw"] for s in bad)
    assert all("not JSON" in s["honesty_judge_error"] for s in bad)
    # the other aspects of that prompt were rated and are kept
    assert all(s["helpfulness_rating"] is not None for s in bad)
    # the flaky judge call was retried and then used
    flaky = [s for s in table if s["prompt_key"] == "q2"]
    assert all(
        s["prompt_status"] == "paired" and s["helpfulness_judge_attempts"] == 2 for s in flaky
    )
    # shown positions are a permutation per aspect
    for key in {s["prompt_key"] for s in table}:
        group = [s for s in table if s["prompt_key"] == key and s["judged"]]
        for aspect in ("helpfulness", "honesty"):
            assert sorted(s[f"{aspect}_position"] for s in group) == [1, 2, 3]


def test_judge_sees_all_responses_once_per_aspect_in_seeded_shuffled_order(tmp_path, double):
    from .conftest import judge_parts, model_of

    run(build_args(tmp_path, double))
    judge_calls = [e.body for e in double.log if e.body and e.body.get("model") == "judge-model"]
    first = {}
    orders = set()
    for body in judge_calls:
        aspect, texts, user = judge_parts(body)
        assert len(texts) == 3
        assert body["temperature"] == 0.1
        assert body["response_format"]["json_schema"]["strict"] is True
        first.setdefault((user, aspect), [model_of(t) for t in texts])
        orders.add(tuple(model_of(t) for t in texts))
    # 6 prompts x 4 aspects, each a single call (plus retries of the failing ones)
    assert len(first) == 24
    assert len(orders) > 1  # the order really is shuffled


def test_resume_sends_nothing_twice_and_gives_the_same_pairs(tmp_path, double):
    args = build_args(tmp_path, double)
    run(args)
    first = read_records(tmp_path / "out" / "prefs.parquet").to_pylist()
    sent = len(double.generation_requests())
    run(args)
    again = read_records(tmp_path / "out" / "prefs.parquet").to_pylist()
    # only the judge call that never validated is asked again (failures are not cached)
    resent = double.generation_requests()[sent:]
    assert resent and all("MALFORMED-honesty" in e.body["messages"][-1]["content"] for e in resent)
    assert [(r["id"], r["chosen"], r["rejected"]) for r in first] == [
        (r["id"], r["chosen"], r["rejected"]) for r in again
    ]


@pytest.mark.parametrize(
    ("strategy", "extra", "expected_rejected"),
    [("lowest", [], {2}), ("margin", ["--margin", "2.5"], {2})],
)
def test_strategies(tmp_path, double, strategy, extra, expected_rejected):
    run(build_args(tmp_path, double, "--strategy", strategy, *extra))
    rows = read_records(tmp_path / "out" / "prefs.parquet").to_pylist()
    assert rows
    for r in rows:
        assert (
            r["score_rejected"] in expected_rejected
            or r["score_chosen"] - r["score_rejected"] >= 2.5
        )


def test_margin_too_large_excludes_with_reason(tmp_path, double, capsys):
    args = build_args(tmp_path, double, "--strategy", "margin", "--margin", "4")
    run([a for a in args if a != "--no-progress"])  # progress display on
    out = capsys.readouterr().out
    assert "pairs written: 0" in out and "below_margin" in out


def test_dry_run_estimates_and_sends_nothing(tmp_path, double, capsys):
    run(build_args(tmp_path, double, "--dry-run"))
    out = capsys.readouterr().out
    assert double.generation_requests() == []
    assert "[judge judge-model]" in out and "requests: 24" in out
    assert "placeholder" in out
    run(build_args(tmp_path, double))
    capsys.readouterr()
    run(build_args(tmp_path, double, "--dry-run"))
    out = capsys.readouterr().out
    assert "placeholder" not in out  # now sized from the cached responses
    assert "(23 already in the cache, 1 to send)" in out  # the failed call is not cached


def test_judge_batch_mode(tmp_path, double, capsys):
    run(build_args(tmp_path, double, "--batch", "--poll-interval", "0.01"))
    rows = read_records(tmp_path / "out" / "prefs.parquet").to_pylist()
    # the flaky reply was resubmitted in a later batch; the malformed one stays excluded
    assert {r["id"] for r in rows} == {"q0", "q1", "q2", "q5"}
    assert double.batches  # the judge went through the Batch API ...
    direct = [e.body for e in double.generation_requests()]
    assert direct and all(b["model"] != "judge-model" for b in direct)  # ... and only there


def test_bad_pool_and_prompt_errors_are_one_line(tmp_path, double, capsys):
    (tmp_path / "pool.yaml").write_text("- {name: a, model: a, provider: nope}\n")
    write_prompts(tmp_path / "p.jsonl", ["hi"])
    run(["build", "--prompts", "p.jsonl", "--pool", "pool.yaml", "--output", "o.parquet"], 1)
    err = capsys.readouterr().err
    assert "pool.yaml entry 0: unknown provider 'nope'" in err
    write_pool(tmp_path / "pool.yaml", double.base_url)
    (tmp_path / "p.jsonl").write_text('{"id": "x", "text": "hi"}\n')
    run(
        [
            "build",
            "--prompts",
            "p.jsonl",
            "--pool",
            "pool.yaml",
            "--output",
            "o.parquet",
            "--k",
            "2",
        ],
        1,
    )
    assert "p.jsonl: line 1: needs a `messages` or `prompt` column" in capsys.readouterr().err


def test_failed_generations_are_recorded_and_the_prompt_reported(tmp_path, double, capsys):
    double.fail_prompt("Give one tip for sleeping well.", "500")
    run(build_args(tmp_path, double, "--max-retries", "0"))
    out = capsys.readouterr().out
    assert "fewer_than_2_responses 1" in out and "failed or empty generations" in out
    bad = [s for s in side(tmp_path) if s["prompt_key"] == "q5"]
    assert len(bad) == 3
    assert all(s["response"] is None and "500" in s["generation_error"] for s in bad)
    assert all(s["prompt_status"] == "fewer_than_2_responses" and not s["judged"] for s in bad)
    why = next(r for r in rejected(tmp_path) if r["id"] == "q5")
    assert (why["stage"], why["reason"]) == ("prefs.judge", "fewer_than_2_responses")


def test_local_model_options_do_not_reach_api_models(tmp_path, double, capsys):
    run(build_args(tmp_path, double, "--device", "cpu", "--max-batch-size", "4"))
    assert "pairs written: 4" in capsys.readouterr().out


def test_on_policy_from_a_server_url(tmp_path, double):
    run(build_args(tmp_path, double, "--k", "2", "--on-policy", "org/policy-7b",
                   "--on-policy-base-url", f"{double.base_url}/v1"))  # fmt: skip
    table = side(tmp_path)
    policy = [s for s in table if s["origin"] == "on-policy"]
    assert len(policy) == len(PROMPTS) and len(table) == 3 * len(PROMPTS)
    assert {s["model"] for s in policy} == {"policy:org/policy-7b"}
    assert all(s["provider"] == "openai" and s["model_id"] == "org/policy-7b" for s in policy)
    assert all(s["response"].startswith("[org/policy-7b]") for s in policy)
    # the policy is judged with the others (the script rates it 3, between beta and gamma)
    assert {s["score"] for s in policy if s["prompt_status"] == "paired"} == {3.0}


def test_dry_run_estimates_the_policy_too(tmp_path, double, capsys):
    run(build_args(tmp_path, double, "--k", "2", "--on-policy", "org/policy-7b",
                   "--on-policy-base-url", f"{double.base_url}/v1", "--dry-run"))  # fmt: skip
    out = capsys.readouterr().out
    assert double.generation_requests() == []
    assert "[generate policy:org/policy-7b (openai)]" in out and "requests: 6" in out
    assert out.count("[generate ") == 5 and "[judge judge-model]" in out


def test_anthropic_judge_through_forced_tool_calls(tmp_path, double, capsys):
    args = build_args(tmp_path, double)
    i = args.index("--judge-base-url")
    args[i + 1] = double.base_url
    run([*args, "--judge-provider", "anthropic", "--judge", "claude-judge"])
    calls = [e for e in double.log if e.path == "/v1/messages"]
    assert len(calls) == 24 and all(c.body["tool_choice"]["type"] == "tool" for c in calls)
    table = side(tmp_path)
    judged = [s for s in table if s["judged"]]
    # the stock double's tool replies satisfy the schema: every judged response is rated
    assert judged and all(s["helpfulness_label"] in {"1", "2", "3", "4", "5"} for s in judged)
    assert all(s["honesty_judge_error"] is None for s in table)
    # the work-around for llm's Anthropic backend is announced, not silent
    assert "judge claude-judge: the installed anthropic SDK takes no temperature" in (
        capsys.readouterr().err
    )


def test_multi_turn_prompts_are_shown_whole_to_the_judge(tmp_path, double):
    import json

    pool = write_pool(tmp_path / "pool.yaml", double.base_url)
    convo = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Pick a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Why that one?"},
        {"role": "assistant", "content": "It is calm."},  # an SFT answer: cut off
    ]
    (tmp_path / "sft.jsonl").write_text(
        json.dumps({"id": "s", "messages": convo, "source": "sft-mix"}) + "\n"
    )
    run(["build", "--prompts", "sft.jsonl", "--pool", str(pool), "--k", "2",
         "--judge", "judge-model", "--judge-base-url", f"{double.base_url}/v1",
         "--output", "o.parquet", "--cache", "c.sqlite", "--no-progress"])  # fmt: skip
    row = read_records(tmp_path / "o.parquet").to_pylist()[0]
    assert row["prompt"] == convo[:4] and row["source"] == "sft-mix"
    judge_user = next(
        e.body["messages"][-1]["content"]
        for e in double.log
        if e.body and e.body["model"] == "judge-model"
    )
    assert "[assistant]\nBlue." in judge_user and "[user]\nWhy that one?" in judge_user
    assert "It is calm." not in judge_user


def test_provenance_records_settings_but_no_secrets(tmp_path, double):
    import json

    args = build_args(tmp_path, double)
    pool = tmp_path / "pool.yaml"
    pool.write_text(pool.read_text().replace("http://", "http://user:hunter2@"))
    run(args)
    for name in ("prefs.parquet", "prefs.responses.parquet"):
        meta = pq.read_schema(tmp_path / "out" / name).metadata[b"caravan"].decode()
        assert "hunter2" not in meta and "sk-test-openai-key" not in meta
        config = json.loads(meta)["config"]
        assert config["judge"]["model"] == "judge-model" and config["k"] == 3
        assert config["pool"][0]["base_url"].startswith("http://127.0.0.1:")
        assert config["excluded"] == {"judge_failed": 1, "tie": 1}


def test_max_cost_caps_generation_and_judging_then_resumes(tmp_path, double, capsys):
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "".join(
            f"{m}: {{input: 1.0, output: 1.0, max_output: 4096}}\n"
            for m in ("alpha", "beta", "gamma", "delta", "judge-model")
        )
    )
    # A generation call (max_tokens 2048) costs at most about $0.0021: room for two.
    run(build_args(tmp_path, double, "--prices", str(prices), "--max-cost", "0.0045"), 1)
    err = capsys.readouterr().err
    assert "--max-cost $0.0045 reached" in err
    paid = {e.key for e in double.generation_requests()}
    assert 1 <= len(paid) <= 2
    run(build_args(tmp_path, double, "--prices", str(prices)))
    assert all(double.served[k] == 1 for k in paid)  # resumed from the cache, not re-bought
    rows = read_records(tmp_path / "out" / "prefs.parquet").to_pylist()
    assert rows


def test_max_cost_needs_prices_for_every_model(tmp_path, double, capsys):
    run(build_args(tmp_path, double, "--max-cost", "1"), 1)
    assert "no known price" in capsys.readouterr().err
    assert double.generation_requests() == []


@pytest.mark.parametrize("judge_retries", ["1", "3"])
def test_a_judge_reply_that_never_parses_is_paid_at_most_parse_retries_plus_one(
    tmp_path, double, judge_retries
):
    from caravan.llm.engine import EngineConfig

    from .conftest import judge_parts

    run(build_args(tmp_path, double, "--judge-retries", judge_retries))
    never = [
        e for e in double.generation_requests()
        if (e.body.get("response_format") or {}).get("type") == "json_schema"
        and judge_parts(e.body)[0] == "honesty" and "MALFORMED-honesty" in judge_parts(e.body)[2]
    ]  # fmt: skip
    assert len(never) == EngineConfig().parse_retries + 1  # 3, not 6 (or 12)
    flaky = [s for s in side(tmp_path) if s["prompt_key"] == "q2"]
    assert all(s["prompt_status"] == "paired" for s in flaky)  # other failures still retried
