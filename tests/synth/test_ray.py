"""`synth generate` and `synth solve` with `--executor ray` write what the local executor
writes. One local Ray (2 CPUs) serves the module: each start costs about 20 s."""

from __future__ import annotations

import os

import pytest
from caravan.records import read_records
from caravan.synth.stages import Generate, Solve

from tests.fixtures.llm_env import FAKE_ANTHROPIC_KEY, FAKE_OPENAI_KEY


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from caravan import ray_executor

    # local workers inherit the driver's environment when Ray starts: the fake keys only
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    os.environ.update(OPENAI_API_KEY=FAKE_OPENAI_KEY, ANTHROPIC_API_KEY=FAKE_ANTHROPIC_KEY)
    ray_executor.init(num_cpus=2)
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _same_files(a, b):
    assert read_records(a).to_pylist() == read_records(b).to_pylist()
    side = a.with_name(a.stem + ".rejected.jsonl")
    assert side.read_text() == b.with_name(b.stem + ".rejected.jsonl").read_text()


def test_generate_and_solve_on_ray_write_what_local_writes(
    ray_local, synth, api, double, if_ids, tmp_path, monkeypatch
):
    # small batches, so both Ray workers get some (the driver cuts them, as locally)
    monkeypatch.setattr(Generate, "batch_size", 4)
    monkeypatch.setattr(Solve, "batch_size", 3)
    ray = ["--executor", "ray", "--ray-workers", "2"]

    def run(name, *args):
        res = synth(*args, "--output", tmp_path / f"{name}.parquet",
                    "--cache", tmp_path / f"{name}.sqlite", *api)  # fmt: skip
        assert res.exit_code == 0, res.output + res.stderr
        return tmp_path / f"{name}.parquet", res

    gen = ["generate", "--persona", "example", "--task", "if", "-n", "12",
           "--constraint-ids", if_ids, "--min-constraints", "2"]  # fmt: skip
    local, _ = run("p-local", *gen)
    sent = len(double.generation_requests())
    on_ray, res = run("p-ray", *gen, *ray)
    _same_files(local, on_ray)
    assert len(double.generation_requests()) == 2 * sent  # its own cache: every call made
    assert "wrote 11 if prompts" in res.output  # the beekeeper's prompt is rejected
    sent = len(double.generation_requests())
    solve = ["solve", "--input", local, "--verify"]
    local_sft, _ = run("s-local", *solve)
    solved = len(double.generation_requests()) - sent
    on_ray_sft, res = run("s-ray", *solve, *ray)
    _same_files(local_sft, on_ray_sft)
    assert len(double.generation_requests()) == sent + 2 * solved
    assert "wrote 11 SFT rows (11 verified)" in res.output
