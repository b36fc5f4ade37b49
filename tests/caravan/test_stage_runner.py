"""The stage contract and the local runner: ids, batching, rejections, resume, cost limit."""

from __future__ import annotations

import asyncio
import json
import os
import time

import datasets
import pyarrow as pa
import pytest

from caravan.dataset import Dataset
from caravan.errors import CaravanError
from caravan.runner import CostLimitReached, read, run_stage
from caravan.stage import GlobalStage, Rejection, Stage, StageResult, reason_code


class Evens(Stage):
    """Keeps rows with an even `n`; counts the batches it really processed."""

    name = "test.evens"
    batch_size = 3

    def __init__(self) -> None:
        self.calls = 0
        self.setups = 0

    def setup(self) -> None:
        self.setups += 1

    async def process(self, batch: pa.Table) -> StageResult:
        self.calls += 1
        out = StageResult()
        for row in batch.to_pylist():
            if row["n"] % 2:
                out.rejected.append(Rejection(row["id"], "Odd number!", [f"n={row['n']}"], row))
            else:
                out.rows.append({**row, "half": row["n"] // 2})
        out.counters["seen"] += batch.num_rows
        return out


class Total(GlobalStage):
    name = "test.total"

    async def process(self, batch: pa.Table) -> StageResult:
        total = sum(batch.column("n").to_pylist())
        return StageResult(rows=[{"id": "total", "n": total, "rows": batch.num_rows}])


ROWS = [{"id": f"r{i}", "n": i} for i in range(10)]


def test_rows_pass_in_batches_with_one_rejection_format():
    stage = Evens()
    out = run_stage(stage, ROWS, progress=False)
    assert stage.calls == 4 and stage.setups == 1  # 10 rows, batches of 3, setup once
    assert out.table.column("id").to_pylist() == ["r0", "r2", "r4", "r6", "r8"]
    rej = out.rejected.to_pylist()
    assert [r["id"] for r in rej] == ["r1", "r3", "r5", "r7", "r9"]
    assert rej[0]["reason"] == "odd_number" and rej[0]["stage"] == "test.evens"
    assert rej[0]["details"] == ["n=1"] and json.loads(rej[0]["row"]) == {"id": "r1", "n": 1}
    assert out.stats["test.evens.seen"] == 10 and out.stats["test.evens.rejected"] == 5


class Pid(Stage):
    """Records which process ran each row, and what its shared state was."""

    name = "test.pid"
    batch_size = 5

    def __init__(self) -> None:
        self._state = None

    def shared_state(self):
        return {"built_by": os.getpid()}

    def use_shared_state(self, state) -> None:
        self._state = state

    async def process(self, batch: pa.Table) -> StageResult:
        if batch.column("n")[0].as_py() == 13:
            raise CaravanError("row 13: bad")
        time.sleep(0.05)  # long enough that every worker gets batches, even on a busy machine
        rows = [{**r, "pid": os.getpid(), "by": (self._state or {}).get("built_by")}
                for r in batch.to_pylist()]  # fmt: skip
        return StageResult(rows=rows, counters={"seen": batch.num_rows})


def test_worker_processes_run_a_cpu_bound_stage_in_input_order(tmp_path):
    rows = [{"id": f"r{i:02d}", "n": i} for i in range(40)]
    one = run_stage(Pid(), rows, progress=False)
    many = run_stage(Pid(), rows, progress=False, workers=2, journal=tmp_path / "j")
    assert many.table.column("id").to_pylist() == one.table.column("id").to_pylist()
    pids = set(many.table.column("pid").to_pylist())
    assert len(pids) == 2 and os.getpid() not in pids  # two workers, not this process
    assert set(many.table.column("by").to_pylist()) == {os.getpid()}  # state built once, here
    assert many.stats["test.pid.seen"] == 40
    again = run_stage(Pid(), rows, progress=False, workers=2, journal=tmp_path / "j")
    assert again.stats["test.pid.batches_resumed"] == 8
    with pytest.raises(CaravanError, match="row 13: bad"):  # a worker's error reaches here
        run_stage(Pid(), [{"id": "x", "n": 13}, *rows], progress=False, workers=2)


def test_a_started_pool_serves_several_runs_of_its_stage():
    from caravan.runner import BatchPool

    stage = Pid()
    pool = BatchPool(stage, 2)
    try:
        first = run_stage(stage, [{"id": f"a{i}", "n": i} for i in range(20)], progress=False,
                          workers=pool)  # fmt: skip
        second = run_stage(stage, [{"id": f"b{i}", "n": i} for i in range(20)], progress=False,
                           workers=pool)  # fmt: skip
        started = set(pool.executor._processes)  # the pool's two processes, started once
        used = set(first.table.column("pid").to_pylist() + second.table.column("pid").to_pylist())
        assert len(started) == 2 and used <= started and os.getpid() not in used
        with pytest.raises(CaravanError, match="started for another stage"):
            run_stage(Pid(), [{"id": "c", "n": 1}, {"id": "d", "n": 2}], workers=pool)
    finally:
        pool.close()


def test_worker_processes_refuse_a_stage_that_calls_models():
    from caravan.runner import BatchPool
    from caravan.session import LLM

    stage = Evens()
    stage.llm = LLM("gpt-4o-mini", "openai", cache=False)
    with pytest.raises(CaravanError, match="calls models"):
        BatchPool(stage, 2)


def test_a_global_stage_sees_the_whole_table_and_lineage_chains():
    out = Total()(run_stage(Evens(), ROWS, progress=False), progress=False)
    assert out.to_list() == [{"id": "total", "n": 20, "rows": 5}]
    assert [s["stage"] for s in out.steps] == ["test.evens", "test.total"]
    assert out.rejected.num_rows == 5  # rejections of the whole chain travel along


def test_every_input_form_reads_with_stable_ids(tmp_path):
    rows = [{"text": "a"}, {"text": "b"}]
    from_list = read(rows)
    assert from_list.table.column("id").to_pylist() == read(rows).table.column("id").to_pylist()
    assert read(pa.Table.from_pylist(rows)).table.equals(from_list.table)
    assert read(datasets.Dataset.from_list(rows)).table.equals(from_list.table)
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from_file = read(path)
    assert from_file.table.equals(from_list.table) and str(path) in from_file.inputs
    assert read("example").table.num_rows == 20


def test_repeated_ids_and_bad_rows_are_named(tmp_path):
    with pytest.raises(CaravanError, match="row 3: id 'x' repeats row 1"):
        read([{"id": "x"}, {"id": "y"}, {"id": "x"}])
    # identical rows without ids (the same answer sampled twice) stay apart, stably
    ids = read([{"t": "a"}, {"t": "b"}, {"t": "a"}, {"t": "a"}]).table.column("id").to_pylist()
    assert ids[2:] == [f"{ids[0]}-2", f"{ids[0]}-3"] and len(set(ids)) == 4
    assert read([{"t": "a"}, {"t": "a"}]).table.column("id").to_pylist() == ids[::2][:2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{not json\n')
    with pytest.raises(CaravanError, match="bad.jsonl"):
        read(bad)


def test_reason_codes():
    assert reason_code("constraints not stated in prompt") == "constraints_not_stated_in_prompt"


def test_journal_resumes_by_batch(tmp_path):
    first = Evens()
    a = run_stage(first, ROWS, journal=tmp_path / "j", progress=False)
    again = Evens()
    b = run_stage(again, ROWS, journal=tmp_path / "j", progress=False)
    assert again.calls == 0 and again.setups == 0  # nothing redone, nothing loaded
    assert b.table.equals(a.table) and b.rejected.equals(a.rejected)
    assert b.stats["test.evens.batches_resumed"] == 4
    more = Evens()
    run_stage(more, [*ROWS, {"id": "r10", "n": 10}], journal=tmp_path / "j", progress=False)
    assert more.calls == 1  # only the batch whose rows changed


class Pricey(Stage):
    name = "test.pricey"
    batch_size = 2

    def __init__(self, session) -> None:
        self.llm = session
        self.calls = 0

    async def process(self, batch: pa.Table) -> StageResult:
        self.calls += 1
        self.llm.spent_usd += 1.0  # what a session adds for fresh calls
        return StageResult(rows=batch.to_pylist())


def test_max_cost_stops_after_the_batch_that_passes_it_and_resume_continues(tmp_path):
    from caravan.session import LLM

    session = LLM("gpt-4o", provider="openai", cache=False)
    stage = Pricey(session)
    with pytest.raises(CostLimitReached, match="over the limit of \\$1.5000"):
        run_stage(stage, ROWS, journal=tmp_path / "j", max_cost=1.5, progress=False)
    # an API stage keeps two batches in flight: the second finished too (a real session's
    # replies are cached), but only the first was handed back before the stop and journaled
    assert stage.calls == 2 and len(list((tmp_path / "j").glob("*.json"))) == 1
    rest = Pricey(session)
    out = run_stage(rest, ROWS, journal=tmp_path / "j", progress=False)
    assert rest.calls == 4 and out.table.num_rows == 10


def test_a_stage_runs_inside_a_running_event_loop():
    async def main() -> Dataset:
        return Evens()(ROWS, progress=False)

    assert asyncio.run(main()).table.num_rows == 5


def test_output_rows_need_ids():
    class NoIds(Stage):
        async def process(self, batch):
            return StageResult(rows=[{"x": 1}])

    with pytest.raises(CaravanError, match="unique `id`"):
        NoIds()(ROWS, progress=False)


def test_write_carries_the_chain_and_the_side_file(tmp_path):
    from caravan.records.provenance import Provenance

    out = run_stage(Evens(), ROWS, progress=False)
    path = out.write(tmp_path / "even.parquet")
    import pyarrow.parquet as pq

    prov = Provenance.from_metadata(pq.read_table(path).schema.metadata)
    assert prov.config["steps"][0]["stage"] == "test.evens"
    side = [json.loads(x) for x in (tmp_path / "even.rejected.jsonl").read_text().splitlines()]
    assert [s["id"] for s in side] == ["r1", "r3", "r5", "r7", "r9"]
    assert side[0]["row"] == {"id": "r1", "n": 1} and side[0]["reason"] == "odd_number"


def test_progress_is_plain_lines_off_a_terminal(capsys):
    from caravan.progress import StageProgress

    with StageProgress("test.evens", 10, enabled=True, every_s=0.0) as bar:
        assert not bar.tty  # pytest captures stderr: no rich bar
        bar.advance(4, 1)
        bar.advance(6, 2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("test.evens: 4/10 rows (40%)") and lines[0].endswith("1 rejected")
    assert lines[-1].startswith("test.evens: 10/10 rows (100%)")
    assert "3 rejected" in lines[-1] and "done in" in lines[-1]


def test_cv_run_chains_stages_in_memory():
    import caravan as cv

    out = cv.run([Evens(), Total()], ROWS, progress=False)
    assert out.to_list() == [{"id": "total", "n": 20, "rows": 5}]


def test_a_batch_with_a_failed_request_is_redone_on_a_rerun(double, llm_env, tmp_path):
    """A request that failed for good (after its retries) leaves its batch unfinished: the
    journal does not keep it, so a rerun asks that request again, and only that one."""
    from caravan.synth.stages import Complete

    from caravan.session import LLM

    rows = [{"id": f"q{i}", "prompt": f"Question {i}?"} for i in range(6)]
    double.fail_prompt("Question 4?", "500")
    llm = LLM("m", base_url=f"{double.base_url}/v1", max_retries=0, progress=False)
    first = run_stage(Complete(llm=llm), rows, journal=tmp_path / "j", batch_size=3,
                      progress=False)  # fmt: skip
    assert first.table.num_rows + first.rejected.num_rows == 6
    assert len(list((tmp_path / "j").glob("*.json"))) == 1  # only the batch without a failure
    seen = len(double.generation_requests())
    double._fault_for_text.clear()  # the server recovers
    again = run_stage(Complete(llm=LLM("m", base_url=f"{double.base_url}/v1", progress=False)),
                      rows, journal=tmp_path / "j", batch_size=3, progress=False)  # fmt: skip
    assert len(double.generation_requests()) == seen + 1  # q4 alone; the rest from the cache
    assert again.table.num_rows == 6 and again.rejected.num_rows == 0


def test_api_batches_overlap_but_never_pass_the_sessions_concurrency(double, llm_env):
    """Two batches are in flight at once (no idle slots while a batch's slowest request
    finishes), and together they still send at most `concurrency` requests at a time."""
    from caravan.synth.stages import Complete

    from caravan.session import LLM

    active = {"now": 0, "most": 0}
    pick, reply = double._pick_fault, double.reply_text

    def arrived(*args):  # the double's loop: a request came in (then it waits `latency`)
        active["now"] += 1
        active["most"] = max(active["most"], active["now"])
        return pick(*args)

    def answered(body):
        active["now"] -= 1
        return reply(body)

    double._pick_fault, double.reply_text, double.latency = arrived, answered, 0.05
    rows = [{"id": f"q{i}", "prompt": f"Question {i}?"} for i in range(24)]
    llm = LLM("m", base_url=f"{double.base_url}/v1", concurrency=4, progress=False)
    out = run_stage(Complete(llm=llm), rows, batch_size=3, progress=False)
    assert out.table.column("id").to_pylist() == [r["id"] for r in rows]  # input order
    assert active["most"] == 4  # batches of 3 overlap to fill 4 slots, never more


def test_a_stage_run_keeps_one_api_client_for_all_its_batches(double, llm_env, monkeypatch):
    """Connections stay open across batches: one client per session and run, closed at the
    end (a client per batch reconnected every time, which cost a tenth of a run's time)."""
    import caravan.llm.backends as backends
    from caravan.synth.stages import Complete

    from caravan.session import LLM

    made, closed = [], []
    make = backends.make_backend

    def counting(*args, **kwargs):
        client = make(*args, **kwargs)
        made.append(client)
        close = client.aclose

        async def aclose():
            closed.append(client)
            await close()

        client.aclose = aclose
        return client

    monkeypatch.setattr(backends, "make_backend", counting)
    rows = [{"id": f"q{i}", "prompt": f"Question {i}?"} for i in range(12)]
    llm = LLM("m", base_url=f"{double.base_url}/v1", progress=False)
    out = run_stage(Complete(llm=llm), rows, batch_size=3, progress=False)
    assert out.table.num_rows == 12 and len(made) == 1 and closed == made
    llm.complete(["One more?"])  # a call outside a runner makes (and closes) its own
    assert len(made) == 2 and closed == made
