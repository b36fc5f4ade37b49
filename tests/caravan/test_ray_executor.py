"""The Ray executor gives what the local runner gives: same rows, rejected rows, reports;
resumes from the same journal; survives a killed worker; shares one cache and one rate limit
across workers. One local Ray (2 CPUs) serves the whole module."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from caravan.decontam.stages import Check, ContaminationError, Gate
from caravan.synth.stages import Complete

from caravan.ray_executor import TokenBuckets
from caravan.runner import run_stage
from caravan.session import LLM
from tests.fixtures.llm_env import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from caravan import ray_executor

    # local workers inherit the driver's environment when Ray starts: the fake keys only
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    os.environ.update(OPENAI_API_KEY=FAKE_OPENAI_KEY, ANTHROPIC_API_KEY=FAKE_ANTHROPIC_KEY)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test stage below
    ray_executor.init(num_cpus=2)
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_token_buckets_are_one_limit_for_every_caller():
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    # a minute's worth (120 requests) goes at once, whoever asks; the next waits half a second
    assert all(buckets.reserve("openai|gpt-4o", 120, None, 10) == 0.0 for _ in range(120))
    assert buckets.reserve("openai|gpt-4o", 120, None, 10) == pytest.approx(0.5)
    assert buckets.reserve("openai|gpt-4o-mini", 120, None, 10) == 0.0  # another model's limit
    assert buckets.reserve("t", None, 600, 600) == 0.0
    assert buckets.reserve("t", None, 600, 300) == pytest.approx(30.0)
    buckets.cool_down("u", 7.0)
    assert buckets.reserve("u", 60, None, 1) == pytest.approx(7.0)
    now[0] = 60.0  # a minute later everything refilled
    assert buckets.reserve("openai|gpt-4o", 120, None, 10) == 0.0


EVAL = [
    "Natalia sold clips to 48 of her friends in April and then half as many clips in May",
    "Weng earns twelve dollars an hour for babysitting and yesterday she did fifty minutes",
    "Betty is saving money for a new wallet which costs one hundred dollars in the shop",
    "James writes a three page letter to two different friends twice a week every week",
]


def _train(n=40):
    rows = []
    for i in range(n):
        text = f"Q: {EVAL[i % 4]}?" if i % 9 == 0 else f"Tell me about the sea, take {i}."
        rows.append({"id": f"t{i:03d}", "messages": [{"role": "user", "content": text}]})
    return rows


def test_decontam_check_gives_the_same_report_on_ray(ray_local, tmp_path):
    from caravan import ray_executor

    evals = tmp_path / "e.jsonl"
    evals.write_text("".join(json.dumps({"question": t}) + "\n" for t in EVAL))
    spec = [f"gsm={evals}:question"]
    local = run_stage(Check(spec, cache_dir=tmp_path / "ix"), _train(), progress=False,
                      batch_size=8)  # fmt: skip
    on_ray = ray_executor.apply(_train(), Check(spec, cache_dir=tmp_path / "ix"), progress=False,
                                batch_size=8, workers=2)  # fmt: skip
    assert on_ray.table.equals(local.table)
    assert on_ray.stats == local.stats and on_ray.steps == local.steps
    reports = []
    for checked in (local, on_ray):
        with pytest.raises(ContaminationError) as err:
            Gate(threshold=0.1)(checked, progress=False)
        reports.append(err.value.report)
    assert reports[0] == reports[1]
    assert reports[0][0]["train_ids"] == ["t000", "t009", "t018", "t027", "t036"]
    # the Python API's chain: cv.run([...], executor="ray"), the global Gate on the driver
    import caravan as cv

    assert cv.ray.apply is ray_executor.apply
    chained = cv.run([Check(spec, cache_dir=tmp_path / "ix"), Gate(threshold=0.8)],
                     _train(20), executor="ray", progress=False)  # fmt: skip
    assert chained.rejected.column("id").to_pylist() == ["t000", "t009", "t018"]
    assert chained.table.num_rows == 17


def test_ray_address_comes_from_the_option_then_the_environment(monkeypatch):
    from caravan import ray_executor

    calls = []

    class FakeRay:
        class data:  # noqa: N801 - mimics the module
            class DataContext:
                @staticmethod
                def get_current():
                    return type("Ctx", (), {})()

        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(**kwargs):
            calls.append(kwargs)

    monkeypatch.setattr(ray_executor, "_ray", lambda: FakeRay)
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    ray_executor.init()
    ray_executor.init("other:6379")
    monkeypatch.delenv("RAY_ADDRESS")
    ray_executor.init(num_cpus=2)
    assert [c.get("address") for c in calls] == ["head:6379", "other:6379", None]
    assert calls[2]["num_cpus"] == 2 and "num_cpus" not in calls[0]


SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "corpus" / "t0_prompts.parquet").exists(),
                    reason="needs ../shared/data")  # fmt: skip
def test_decontam_report_on_real_data_is_the_same_on_ray(ray_local, tmp_path):
    """2,000 real T0 prompts plus 20 GSM8K test questions against GSM8K test + MATH-500."""
    from caravan import ray_executor

    t0 = pq.read_table(SHARED / "corpus" / "t0_prompts.parquet", columns=["prompt"]).slice(0, 2000)
    rows = [{"id": f"t0-{i}", "prompt": p} for i, p in enumerate(t0.column("prompt").to_pylist())]
    with open(SHARED / "eval" / "gsm8k_test.jsonl", encoding="utf-8") as fh:
        leaked = [json.loads(line)["question"] for line in fh.readlines()[:20]]
    rows += [{"id": f"leak-{i}", "prompt": q} for i, q in enumerate(leaked)]
    evals = [f"gsm8k={SHARED / 'eval' / 'gsm8k_test.jsonl'}:question",
             f"math500={SHARED / 'eval' / 'math500_test.jsonl'}:problem"]  # fmt: skip
    local = run_stage(Check(evals, cache_dir=tmp_path / "ix"), rows, progress=False)
    on_ray = ray_executor.apply(rows, Check(evals, cache_dir=tmp_path / "ix"), progress=False,
                                workers=2)  # fmt: skip
    assert on_ray.table.equals(local.table)
    report = Gate().report(on_ray.to_list())
    assert report == Gate().report(local.to_list())
    gsm = next(r for r in report if r["eval"] == "gsm8k")
    assert {f"leak-{i}" for i in range(20)} <= set(gsm["train_ids"]) and gsm["overlapped"] >= 20


def _check_command(tmp_path, name, args):
    """`decontam check ARGS` writing NAME.json: the report less what names the run (time,
    paths, index cache hits) and the matches file, for comparing executors."""
    from caravan.decontam.cli import cli
    from click.testing import CliRunner

    report = tmp_path / f"{name}.json"
    res = CliRunner().invoke(cli, ["check", *args, "--report", str(report), "--quiet",
                                   "--cache-dir", str(tmp_path / "ix")])  # fmt: skip
    assert res.exit_code == 0, res.output
    saved = json.loads(report.read_text())
    for key in ("created_at", "matches_file", "eval_index_cache_hits"):
        saved.pop(key)
    return saved, pq.read_table(tmp_path / f"{name}.matches.parquet").to_pylist()


def test_decontam_check_command_writes_the_same_report_on_ray(ray_local, tmp_path):
    evals = tmp_path / "e.jsonl"
    evals.write_text("".join(json.dumps({"question": t}) + "\n" for t in EVAL))
    with_ids = tmp_path / "a.jsonl"
    with_ids.write_text("".join(json.dumps(r) + "\n" for r in _train(60)))
    no_ids = tmp_path / "b.parquet"  # named by content ids
    pq.write_table(pa.Table.from_pylist([{"messages": r["messages"]} for r in _train(30)]), no_ids)
    args = ["--train", str(with_ids), "--train", str(no_ids), "--eval", f"gsm={evals}:question",
            "--batch-rows", "8"]  # fmt: skip
    local, local_matches = _check_command(tmp_path, "local", [*args, "--workers", "2"])
    on_ray, ray_matches = _check_command(tmp_path, "ray", [*args, "--executor", "ray"])
    assert on_ray == local and ray_matches == local_matches
    first = local["results"][0]
    assert [m["train_id"] for m in first["matches"]][:3] == ["t000", "t036", "t009"]
    assert all(m["train_id"].startswith("r-") for m in local["results"][1]["matches"])
    assert local["match_count"] == 7 + 4


@pytest.mark.skipif(not (SHARED / "corpus" / "t0_prompts.parquet").exists(),
                    reason="needs ../shared/data")  # fmt: skip
def test_decontam_check_command_on_real_data_is_the_same_on_ray(ray_local, tmp_path):
    """5,000 real T0 prompts (no ids: content ids) with 20 GSM8K test questions planted,
    against GSM8K test, MATH-500 and BBH."""
    t0 = pq.read_table(SHARED / "corpus" / "t0_prompts.parquet").slice(0, 5000).to_pylist()
    with open(SHARED / "eval" / "gsm8k_test.jsonl", encoding="utf-8") as fh:
        leaked = [json.loads(line)["question"] for line in fh.readlines()[:20]]
    for i, q in enumerate(leaked):
        t0[i * 200 + 7]["prompt"] = "Solve: " + q
    train = tmp_path / "t0.parquet"
    pq.write_table(pa.Table.from_pylist(t0), train, row_group_size=1000)
    args = ["--train", str(train), "--batch-rows", "256",
            "--eval", f"gsm8k={SHARED / 'eval' / 'gsm8k_test.jsonl'}:question",
            "--eval", f"math500={SHARED / 'eval' / 'math500_test.jsonl'}:problem",
            "--eval", f"bbh={SHARED / 'eval' / 'bbh.jsonl'}:input"]  # fmt: skip
    local, local_matches = _check_command(tmp_path, "local", args)
    on_ray, ray_matches = _check_command(tmp_path, "ray", [*args, "--executor", "ray"])
    assert on_ray == local and ray_matches == local_matches
    gsm = next(r for r in local["results"] if r["eval"] == "gsm8k")
    planted = {m["train_row"] for m in gsm["matches"]}
    assert {i * 200 + 8 for i in range(20)} <= planted  # 1-based rows
    from caravan.runner import row_id

    by_row = {m["train_row"]: m["train_id"] for m in gsm["matches"]}
    assert by_row[8] == row_id(t0[7])  # the runner's content id of the planted row


def _prompts(n=12):
    rows = [{"id": f"q{i:02d}", "prompt": f"Name a prime number above {i * 10}."} for i in range(n)]
    rows[5]["prompt"] = "doomed request"
    return rows


def _llm(double, cache):
    return LLM("gpt-4o", base_url=double.base_url + "/v1", cache=cache, max_retries=0,
               progress=False)  # fmt: skip


def _complete(llm, size=3):
    stage = Complete(llm=llm, max_tokens=50)
    stage.batch_size = size
    return stage


def test_complete_same_on_ray_resumes_and_reuses_a_sharded_cache(
    ray_local, double, llm_env, tmp_path
):
    from caravan import ray_executor

    double.fail_prompt("doomed request", "500")
    local = run_stage(_complete(_llm(double, tmp_path / "local.sqlite")), _prompts(),
                      progress=False)  # fmt: skip
    sent = len(double.generation_requests())
    cache = tmp_path / "ray" / "responses.sqlite"
    journal = tmp_path / "journal"
    on_ray = ray_executor.apply(_prompts(), _complete(_llm(double, cache)), progress=False,
                                workers=2, journal=journal)  # fmt: skip
    assert on_ray.table.equals(local.table)
    assert on_ray.rejected.equals(local.rejected)
    assert on_ray.rejected.column("reason").to_pylist() == ["request_failed"]
    assert len(double.generation_requests()) == 2 * sent
    # one cache file per worker, none shared
    shards = sorted((cache.parent / "responses.sqlite.shards").glob("*.sqlite"))
    assert len(shards) == 2
    # a rerun from the journal resumes the 3 finished batches; the one whose request failed
    # is not finished, so it runs again and asks only that request (the rest are cached)
    again = ray_executor.apply(_prompts(), _complete(_llm(double, cache)), progress=False,
                               workers=1, journal=journal)  # fmt: skip
    assert again.stats["synth.complete.batches_resumed"] == 3
    assert again.stats["synth.complete.batches_unfinished"] == 1
    assert again.table.equals(local.table)
    asked = [e.body["messages"][-1]["content"] for e in double.generation_requests()]
    assert asked[2 * sent:] == ["doomed request"]
    # without the journal, 1 worker finds all 11 answers in the 2 workers' shards; only the
    # failed request is asked again
    fresh = ray_executor.apply(_prompts(), _complete(_llm(double, cache)), progress=False,
                               workers=1)  # fmt: skip
    assert fresh.table.equals(local.table)
    assert [e.body["messages"][-1]["content"] for e in double.generation_requests()[2 * sent:]] \
        == ["doomed request"] * 2  # fmt: skip
    # ... and so does the local runner
    run_stage(_complete(_llm(double, cache)), _prompts()[:5], progress=False)
    assert len(double.generation_requests()) == 2 * sent + 2


def test_workers_draw_on_one_cluster_rate_limit(ray_local, double, llm_env, tmp_path):
    from caravan import ray_executor

    llm = LLM("gpt-4o", base_url=double.base_url + "/v1", cache=False, progress=False, rpm=600)
    out = ray_executor.apply(_prompts(9)[:5] + _prompts(9)[6:], _complete(llm, size=2),
                             progress=False, workers=2)  # fmt: skip
    assert out.table.num_rows == 8
    taken = ray_local.get(ray_executor.limits_actor().taken.remote())
    # both workers took their 8 requests (and their tokens) from the cluster's one bucket
    assert [v for k, v in taken.items() if k.endswith("gpt-4o|requests")] == [8]


class Pricey(Complete):
    """Each batch costs one dollar (what a session adds for fresh calls); no calls."""

    async def process(self, batch):
        from caravan.stage import StageResult

        self.llm.spent_usd += 1.0
        return StageResult(rows=batch.to_pylist())


def test_max_cost_stops_on_ray_and_a_rerun_resumes_from_the_journal(ray_local, tmp_path):
    from caravan import ray_executor
    from caravan.journal import Journal
    from caravan.runner import CostLimitReached

    rows = [{"id": f"r{i}", "n": i} for i in range(10)]
    llm = LLM("gpt-4o", provider="openai", cache=False)
    stage = Pricey(llm)
    stage.batch_size = 2
    with pytest.raises(CostLimitReached, match="over the limit of \\$1.5000"):
        ray_executor.apply(rows, stage, journal=tmp_path / "j", max_cost=1.5, progress=False,
                           workers=1)  # fmt: skip
    kept = len(Journal(tmp_path / "j"))
    assert 2 <= kept < 5 and llm.spent_usd == kept  # the driver's session knows the spend
    out = ray_executor.apply(rows, stage, journal=tmp_path / "j", progress=False, workers=1)
    assert out.table.num_rows == 10 and out.stats["synth.complete.batches_resumed"] == kept


class DiesOnce(Complete):
    """Kills its worker process the first time it sees row q04 (marker file: once only)."""

    def __init__(self, llm, marker: str) -> None:
        super().__init__(llm, max_tokens=50)
        self.marker = marker

    async def process(self, batch):
        if "q04" in batch.column("id").to_pylist() and not Path(self.marker).exists():
            Path(self.marker).write_text("died")
            os._exit(1)
        return await super().process(batch)


def test_a_killed_worker_is_replaced_and_the_output_is_complete(
    ray_local, double, llm_env, tmp_path
):
    from caravan import ray_executor

    local = run_stage(_complete(_llm(double, tmp_path / "l.sqlite")), _prompts(8)[:4] +
                      _prompts(8)[6:], progress=False)  # fmt: skip
    rows = _prompts(8)[:4] + _prompts(8)[6:] + [{"id": "q04", "prompt": "Name a prime."}]
    stage = DiesOnce(_llm(double, tmp_path / "r.sqlite"), str(tmp_path / "died"))
    stage.batch_size = 2
    out = ray_executor.apply(rows, stage, progress=False, workers=2,
                             journal=tmp_path / "j")  # fmt: skip
    assert (tmp_path / "died").exists()
    assert out.table.num_rows == 7
    assert out.table.slice(0, 6).equals(local.table)


def test_caravan_run_executor_ray_writes_what_local_writes(ray_local, double, llm_env, tmp_path):
    from click.testing import CliRunner

    from caravan.cli import cli

    src = tmp_path / "prompts.jsonl"
    rows = [{**r, "source": "test"} for r in _prompts(6) if r["id"] != "q05"]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = {}
    for executor in ("local", "ray"):
        spec = tmp_path / f"{executor}.yaml"
        spec.write_text(
            f"name: {executor}\noutput: {tmp_path / executor}\n"
            f"llms: {{m: {{model: gpt-4o, base_url: '{double.base_url}/v1', progress: false}}}}\n"
            f"steps:\n  - read: {src}\n  - synth.complete: {{llm: m, max_tokens: 50}}\n"
            "  - write: {path: sft.parquet, kind: sft}\n"
        )
        res = CliRunner().invoke(
            cli, ["run", str(spec), "--executor", executor, "--ray-workers", "2"]
        )
        assert res.exit_code == 0, res.output
        outs[executor] = pq.read_table(tmp_path / executor / "sft.parquet")
    assert outs["ray"].equals(outs["local"]) and outs["ray"].num_rows == 5


def test_the_tulu3_pipeline_writes_the_same_files_on_ray(
    ray_local, double, llm_env, if_ids, tmp_path, monkeypatch
):
    """generate -> dedup -> solve -> decontam -> relax; answer -> judge -> binarize."""
    from click.testing import CliRunner

    from caravan.cli import cli

    evals = tmp_path / "ifeval_small.jsonl"
    evals.write_text("".join(json.dumps({"prompt": f"Compose a limerick about {i}."}) + "\n"
                             for i in range(10)))  # fmt: skip
    pipeline = Path(__file__).resolve().parents[2] / "pipelines" / "tulu3_persona_if.yaml"
    files = ("sft.parquet", "persona_if_pairs.parquet", "preferences.parquet",
             "preferences.rejected.jsonl")  # fmt: skip
    got = {}
    for executor in ("local", "ray"):
        (tmp_path / executor).mkdir()
        monkeypatch.chdir(tmp_path / executor)
        monkeypatch.setenv("CARAVAN_LLM_CACHE", str(tmp_path / executor / "cache.sqlite"))
        res = CliRunner().invoke(cli, [
            "run", str(pipeline), "--executor", executor, "--ray-workers", "2",
            "--var", f"base_url={double.base_url}/v1", "--var", "n=6",
            "--var", "constraint_ids=[" + ", ".join(if_ids) + "]",
            "--var", f"evals=[ifeval={evals}:prompt]", "--no-llm-progress"])  # fmt: skip
        assert res.exit_code == 0, res.output
        out = tmp_path / executor / "data" / "tulu3-persona-if"
        got[executor] = {
            f: pq.read_table(out / f).to_pylist() if f.endswith("parquet")
            else (out / f).read_text() for f in files
        }  # fmt: skip
    assert got["ray"] == got["local"]
    assert len(got["ray"]["preferences.parquet"]) >= 1
