"""`prefs build --executor ray`: a run stopped by a dead judge resumes on rerun without
re-sending an answered request, and writes the files the local executor writes."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.caravan.test_ray_executor import ray_local  # noqa: F401 - one local Ray for the module

from .conftest import write_pool, write_prompts
from .test_build import run

pytestmark = pytest.mark.usefixtures("ray_local")
CLEAN = [f"Question number {i}: describe item {i}." for i in range(6)]


def _args(folder, double, prompts, *extra):
    pool = write_pool(folder / "pool.yaml", double.base_url)
    return [
        "build", "--prompts", str(prompts), "--pool", str(pool), "--k", "3",
        "--judge", "judge-model", "--judge-base-url", f"{double.base_url}/v1",
        "--output", str(folder / "out" / "prefs.parquet"), "--cache", str(folder / "c.sqlite"),
        "--no-progress", "--max-retries", "0", *extra,
    ]  # fmt: skip


def _files(folder):
    out = folder / "out"
    return (pq.read_table(out / "prefs.parquet").to_pylist(),
            pq.read_table(out / "prefs.responses.parquet").to_pylist(),
            (out / "prefs.rejected.jsonl").read_text())  # fmt: skip


def test_ray_build_resumes_after_a_dead_judge_and_writes_what_local_writes(
    double, tmp_path, capsys
):
    prompts = write_prompts(tmp_path / "prompts.jsonl", CLEAN)
    (tmp_path / "ray").mkdir()
    (tmp_path / "local").mkdir()
    real_fault = double._pick_fault

    def judge_down(key, text):  # every judge call: 401, the pool models still answer
        return ("401", None) if '<response id="1">' in text else real_fault(key, text)

    double._pick_fault = judge_down
    ray_args = _args(tmp_path / "ray", double, prompts, "--executor", "ray", "--ray-workers", "2")
    run(ray_args, 1)
    assert "stopped early on the Ray workers" in capsys.readouterr().err
    generations = {e.key for e in double.generation_requests() if e.status == 200}
    assert len(generations) == 6 * 3 and not double.served.keys() - generations

    double._pick_fault = real_fault
    before = len(double.generation_requests())
    run(ray_args)
    resent = double.generation_requests()[before:]
    # the rerun sends the 24 judge calls and none of the 18 answered generations
    assert len(resent) == 6 * 4 and not {e.key for e in resent} & generations
    assert all(n == 1 for n in double.served.values())

    run(_args(tmp_path / "local", double, prompts, "--executor", "local"))
    pairs, side, rejected = _files(tmp_path / "ray")
    assert len(pairs) == 6
    assert (pairs, side, rejected) == _files(tmp_path / "local")
