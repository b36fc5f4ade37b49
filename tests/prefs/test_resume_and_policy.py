"""A killed build resumes without paying twice; the tiny local model as on-policy model;
TRL's DPOTrainer trains on the output as written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from caravan.llm.cache import ResponseCache
from caravan.records import read_records

from .conftest import write_pool, write_prompts
from .test_build import run

ROOT = Path(__file__).resolve().parents[2]
CLEAN = [f"Question number {i}: describe item {i}." for i in range(6)]


def _args(tmp_path, double, cache, out, prompts, *extra):
    pool = write_pool(tmp_path / "pool.yaml", double.base_url)
    return [
        "build", "--prompts", str(prompts), "--pool", str(pool), "--k", "3",
        "--judge", "judge-model", "--judge-base-url", f"{double.base_url}/v1",
        "--output", str(out), "--cache", str(cache), "--no-progress", *extra,
    ]  # fmt: skip


def test_killed_build_resumes_and_reuses_every_paid_response(tmp_path, double):
    prompts = write_prompts(tmp_path / "prompts.jsonl", CLEAN)
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "out" / "prefs.parquet"
    args = _args(tmp_path, double, cache, out, prompts, "--concurrency", "1")
    double.latency = 0.05
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from caravan.prefs.cli import cli; cli.main(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while sum(double.served.values()) < 28 and proc.poll() is None:
        assert time.monotonic() < deadline, "build never got going"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the double logs a request after its latency: let in-flight ones land
    assert not out.exists()  # killed mid-judging: no output yet
    stored = ResponseCache(cache)
    kept = stored.count()
    stored.close()
    total = 6 * 3 + 6 * 4  # generations + one judge call per prompt and aspect
    # killed part-way (replies the double sent in the last instant may not be saved yet)
    assert 0 < kept < total

    double.latency = 0.0
    before = len(double.generation_requests())
    run(args)
    resent = len(double.generation_requests()) - before
    assert resent == total - kept  # only what was never saved is asked again

    # the resumed result equals an uninterrupted run from scratch
    fresh_out = tmp_path / "fresh" / "prefs.parquet"
    run(_args(tmp_path, double, tmp_path / "fresh.sqlite", fresh_out, prompts))
    a = read_records(out).to_pylist()
    b = read_records(fresh_out).to_pylist()
    assert [(r["id"], r["chosen"], r["rejected"]) for r in a] == [
        (r["id"], r["chosen"], r["rejected"]) for r in b
    ]
    assert len(a) == 6


def test_on_policy_tiny_model_and_dpo_trainer_accepts_the_output(tmp_path, double, tiny_model_dir):
    pytest.importorskip("trl")
    prompts = write_prompts(tmp_path / "prompts.jsonl", CLEAN[:4])
    out = tmp_path / "out" / "prefs.parquet"
    args = _args(
        tmp_path, double, tmp_path / "c.sqlite", out, prompts,
        "--k", "2", "--on-policy", str(tiny_model_dir), "--max-tokens", "12",
    )  # fmt: skip
    run(args)
    side = pq.read_table(out.with_name("prefs.responses.parquet")).to_pylist()
    policy = [s for s in side if s["origin"] == "on-policy"]
    assert len(policy) == 4 and len(side) == 4 * 3
    assert {s["model"] for s in policy} == {f"policy:{Path(tiny_model_dir).name}"}
    assert all(s["provider"] == "local" and s["response"] for s in policy)
    # a rerun (same seed) reuses the policy's cached, seeded generations
    run(args)
    side2 = pq.read_table(out.with_name("prefs.responses.parquet")).to_pylist()
    assert [s["response"] for s in side2] == [s["response"] for s in side]

    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer
    from trl.data_utils import is_conversational

    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert len(ds) == 4 and is_conversational(ds[0])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = DPOConfig(
        output_dir=str(tmp_path / "dpo"), max_steps=1, per_device_train_batch_size=2,
        bf16=False, report_to="none", max_length=128, logging_steps=1, save_strategy="no",
    )  # fmt: skip
    ref = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = DPOTrainer(
        model=model, ref_model=ref, args=config, train_dataset=ds, processing_class=tok
    )
    result = trainer.train()
    assert result.global_step == 1


def test_local_policy_loads_once_across_batches(tmp_path, double, tiny_model_dir, monkeypatch):
    from caravan.llm.backends.local import LocalBackend
    from caravan.prefs.stages import Answer

    from caravan.session import LLM

    made = []
    real_init = LocalBackend.__init__

    def counting(self, *a, **kw):
        made.append(a)
        real_init(self, *a, **kw)

    monkeypatch.setattr(LocalBackend, "__init__", counting)
    rows = [{"id": f"q{i}", "prompt": text} for i, text in enumerate(CLEAN[:5])]
    pool = [LLM(n, base_url=f"{double.base_url}/v1", cache=tmp_path / "c.sqlite")
            for n in ("alpha", "beta")]  # fmt: skip
    policy = LLM(str(tiny_model_dir), "local", cache=tmp_path / "c.sqlite", max_tokens=8)
    answered = Answer(pool, k=1, on_policy=policy)(rows, batch_size=2, progress=False)
    assert len(made) == 1  # three batches, one model load
    assert len(answered) == 5
    assert all(r["candidates"][-1]["ok"] and r["candidates"][-1]["provider"] == "local"
               for r in answered.to_list())  # fmt: skip
