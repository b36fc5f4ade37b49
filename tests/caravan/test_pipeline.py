"""`caravan run`: the two shipped pipelines against the API double, resume, dry run, gate."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from caravan.records.provenance import Provenance
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
TULU = ROOT / "pipelines" / "tulu3_persona_if.yaml"
RLVR = ROOT / "pipelines" / "rlvr.yaml"


def _caravan(*args):
    from caravan.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def eval_file(tmp_path) -> Path:
    """A tiny IF eval set that shares nothing with what the double writes."""
    rows = [{"prompt": f"Compose a limerick about the number {i} without vowels in uppercase."}
            for i in range(10)]  # fmt: skip
    return _write_jsonl(tmp_path / "ifeval_small.jsonl", rows)


def _tulu_vars(double, if_ids, eval_file, n=6):
    return ["--var", f"base_url={double.base_url}/v1", "--var", f"n={n}",
            "--var", "constraint_ids=[" + ", ".join(if_ids) + "]",
            "--var", f"evals=[ifeval={eval_file}:prompt]", "--no-llm-progress"]  # fmt: skip


def test_tulu3_persona_if_pipeline_runs_and_resumes(double, llm_env, if_ids, eval_file):
    args = ["run", TULU, *_tulu_vars(double, if_ids, eval_file)]
    result = _caravan(*args)
    assert result.exit_code == 0, result.output
    out = llm_env / "data" / "tulu3-persona-if"
    sft = pq.read_table(out / "sft.parquet")
    prefs = pq.read_table(out / "preferences.parquet")
    assert sft.num_rows >= 1 and prefs.num_rows >= 1
    assert set(sft.column("id").to_pylist()) >= set(prefs.column("id").to_pylist())
    for row in prefs.to_pylist():
        assert row["score_chosen"] > row["score_rejected"]
    assert (out / "persona_if_pairs.parquet").exists()
    assert (out / "preferences.rejected.jsonl").exists()
    # one provenance record: the file's hash and the whole chain, in every output and run.json
    prov = Provenance.from_metadata(prefs.schema.metadata)
    record = json.loads((out / "run.json").read_text())
    assert prov.config["pipeline"]["sha256"] == record["pipeline"]["sha256"]
    chain = [s["stage"] for s in prov.config["steps"]]
    assert chain[0].endswith("synth.generate") and chain[-1].endswith("prefs.binarize")
    assert "decontam.gate" in " ".join(chain)
    assert "sk-test" not in (out / "run.json").read_text()
    # rerun: every batch comes from the journal, nothing is sent again
    sent = len(double.generation_requests())
    again = _caravan(*args)
    assert again.exit_code == 0, again.output
    assert len(double.generation_requests()) == sent
    resumed = json.loads((out / "run.json").read_text())["steps"]
    assert all(s["counters"].get("batches_resumed", 0) >= 1 for s in resumed)
    assert pq.read_table(out / "preferences.parquet").equals(prefs)


def test_dry_run_estimates_every_model_step_and_sends_nothing(double, llm_env, if_ids, eval_file):
    result = _caravan(
        "run", TULU, *_tulu_vars(double, if_ids, eval_file), "--dry-run", "--max-cost", "0.0001"
    )
    assert result.exit_code == 0, result.output
    assert double.generation_requests() == []
    for step in ("synth.generate", "synth.solve", "synth.relax", "prefs.answer", "prefs.judge"):
        assert step in result.output
    assert "estimated cost of the model steps, at most: $" in result.output
    assert "more than --max-cost $0.0001" in result.output
    assert not (llm_env / "data" / "tulu3-persona-if" / "sft.parquet").exists()


def _rlvr_fixture(tmp_path: Path) -> dict[str, Path]:
    gsm = [{"question": f"Sam has {i} apples and buys {i + 3} more. How many now?",
            "answer": f"He has {i} + {i + 3}.\n#### {2 * i + 3}"} for i in range(12)]  # fmt: skip
    math = [{"problem": f"Compute ${i}^2 + {i}$ for the integer {i}.", "answer": str(i * i + i)}
            for i in range(12)]  # fmt: skip
    return {
        "gsm8k_train": _write_jsonl(tmp_path / "gsm_train.jsonl", gsm),
        "math_train": _write_jsonl(tmp_path / "math_train.jsonl", math),
        "gsm8k_test": _write_jsonl(
            tmp_path / "gsm_test.jsonl",
            [
                {"question": f"A train leaves at {i} pm travelling west; when does it stop?"}
                for i in range(8)
            ],
        ),  # fmt: skip
        "math_test": _write_jsonl(
            tmp_path / "math_test.jsonl",
            [
                {"problem": f"Find the derivative of x^{i} at the point x equals two."}
                for i in range(8)
            ],
        ),  # fmt: skip
    }


def _rlvr_vars(train_gsm, train_math, test_gsm, test_math, test_if) -> list[str]:
    evals = f"[gsm8k={test_gsm}:question, math={test_math}:problem, ifeval={test_if}:prompt]"
    return ["--var", f"gsm8k_train={train_gsm}", "--var", f"math_train={train_math}",
            "--var", f"evals={evals}"]  # fmt: skip


def _rlvr_args(double, if_ids, paths, eval_file, n=4):
    args = ["run", RLVR, "--var", f"base_url={double.base_url}/v1", "--var", f"n={n}",
            "--var", "constraint_ids=[" + ", ".join(if_ids) + "]", "--no-llm-progress"]  # fmt: skip
    return args + _rlvr_vars(paths["gsm8k_train"], paths["math_train"], paths["gsm8k_test"],
                             paths["math_test"], eval_file)  # fmt: skip


def test_rlvr_pipeline_runs_on_small_fixtures(double, llm_env, if_ids, eval_file, tmp_path):
    paths = _rlvr_fixture(tmp_path)
    result = _caravan(*_rlvr_args(double, if_ids, paths, eval_file))
    assert result.exit_code == 0, result.output
    table = pq.read_table(llm_env / "data" / "rlvr" / "rlvr.parquet")
    datasets = table.column("dataset").to_pylist()
    assert datasets.count("gsm8k") == 12 and datasets.count("MATH") == 12
    assert datasets.count("ifeval") == 4
    assert "contamination" not in table.column_names


def test_gate_fails_the_pipeline_and_writes_nothing(double, llm_env, if_ids, eval_file, tmp_path):
    paths = _rlvr_fixture(tmp_path)
    paths["gsm8k_test"] = paths["gsm8k_train"]  # the eval set *is* the training set
    result = _caravan(*_rlvr_args(double, if_ids, paths, eval_file))
    assert result.exit_code != 0
    assert "decontamination gate failed" in result.output and "gsm8k" in result.output
    assert not (llm_env / "data" / "rlvr" / "rlvr.parquet").exists()


def test_rlvr_pipeline_on_the_shared_data(double, llm_env, if_ids, shared_data):
    args = ["run", RLVR, "--var", f"base_url={double.base_url}/v1", "--var", "n=3",
            "--var", "constraint_ids=[" + ", ".join(if_ids) + "]", "--var", "limit=40",
            "--no-llm-progress"]  # fmt: skip
    d = shared_data
    args += _rlvr_vars(d / "train/gsm8k_train.jsonl", d / "train/math_train.jsonl",
                       d / "eval/gsm8k_test.jsonl", d / "eval/math500_test.jsonl",
                       d / "eval/ifeval_input_data.jsonl")  # fmt: skip
    result = _caravan(*args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(llm_env / "data" / "rlvr" / "rlvr.parquet")
    assert 70 <= table.num_rows <= 83  # 40 + 40 + 3, less any contaminated rows removed


def test_a_bad_step_is_named(llm_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - read: example\n  - synth.generat: {task: if}\n")
    result = _caravan("run", bad)
    assert result.exit_code != 0
    assert "step 2" in result.output and "synth.generat" in result.output


def test_variables_keep_their_type_and_urls_lose_credentials(llm_env):
    from caravan.pipeline import parse_pipeline

    data = {
        "vars": {"n": 5, "url": "http://bob:sk-secret-123@10.0.0.1:8000/v1?key=k"},
        "llms": {"m": {"model": "gpt-4o", "base_url": "{url}"}},
        "steps": [{"read": "example"}, {"synth.generate": {"task": "if", "llm": "m", "n": "{n}"}}],
    }
    pipe = parse_pipeline(data, "p.yaml", overrides={"n": 3})
    assert pipe.steps[1].args["n"] == 3
    record = str(pipe.record())
    assert "sk-secret" not in record and "key=k" not in record and "10.0.0.1:8000" in record


# ---- the optional `train:` step ---------------------------------------------------------

HUB_SECRET = "hf_abcdefghijklmnopqrstuvwx"


def _train_pipeline(tmp_path, tiny_model_dir, evals, *, train_extra="", overrides=None):
    """read SFT rows -> decontam check + gate -> write -> train (a 2-step CPU SFT)."""
    rows = [{"id": f"s{i}", "source": "unit", "messages": [
        {"role": "user", "content": f"Please explain why the number {i} is worth writing a story about."},
        {"role": "assistant", "content": f"Because {i} is a fine number."}]} for i in range(8)]  # fmt: skip
    src = _write_jsonl(tmp_path / "sft_in.jsonl", rows)
    ev = _write_jsonl(tmp_path / "ev.jsonl", [{"prompt": p} for p in evals])
    trl = {"per_device_train_batch_size": 2, "max_steps": 2, "logging_steps": 1,
           "save_steps": 1, "report_to": "none", "max_length": 128, "packing": False}  # fmt: skip
    spec = {
        "method": "sft", "recipe": "tulu3-8b-sft", "output_dir": "sft-model",
        "overrides": {"model": str(tiny_model_dir), "launch.num_processes": 1,
                      "effective_batch_size": 4, "trl": trl, **(overrides or {})},
    }  # fmt: skip
    pipe = {
        "name": "train-sft", "output": str(tmp_path / "out"),
        "steps": [{"read": str(src)},
                  {"decontam.check": {"evals": [f"ev={ev}:prompt"], "cache_dir": str(tmp_path / "ix")}},
                  {"decontam.gate": {"threshold": 0.02}},
                  {"write": {"path": "sft.parquet", "kind": "sft"}},
                  {"train": {**spec, **json.loads(train_extra or "{}")}}],
    }  # fmt: skip
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps(pipe))  # JSON is YAML
    return path, tmp_path / "out"


CLEAN_EVALS = ["Compose a limerick about rivers and mountains for the city council meeting."]


def test_train_step_runs_a_real_sft_after_the_gate_and_records_it(
    llm_env, tiny_model_dir, tmp_path
):
    path, out = _train_pipeline(tmp_path, tiny_model_dir, CLEAN_EVALS)
    result = _caravan("run", path)
    assert result.exit_code == 0, result.output
    assert "5:train: trained model saved to" in result.output
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = out / "sft-model" / "final"
    AutoModelForCausalLM.from_pretrained(final)
    assert AutoTokenizer.from_pretrained(final).chat_template
    state = json.loads((out / "sft-model" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    record = json.loads((out / "run.json").read_text())
    (train,) = [s for s in record["steps"] if s["stage"] == "5:train"]
    assert train["settings"]["method"] == "sft" and train["settings"]["recipe"] == "tulu3-8b-sft"
    assert train["settings"]["data"] == [str(out / "sft.parquet")]
    config = train["settings"]["config"]  # the resolved recipe and TRL config
    assert config["trl"]["max_steps"] == 2 and config["recipe"]["model"] == str(tiny_model_dir)
    assert train["final"] == str(final)
    assert {"path": str(final), "kind": "model", "method": "sft"} in record["outputs"]


def test_a_failed_gate_starts_no_training(llm_env, tiny_model_dir, tmp_path, monkeypatch):
    from caravan.train_adapters import entry

    launched = []
    monkeypatch.setattr(entry, "launch", lambda *a, **k: launched.append(a))
    leaked = [
        f"Please explain why the number {i} is worth writing a story about." for i in range(8)
    ]
    path, out = _train_pipeline(tmp_path, tiny_model_dir, leaked)
    result = _caravan("run", path)
    assert result.exit_code != 0
    assert "decontamination gate failed" in result.output
    assert launched == [] and "5:train" not in result.output
    assert not (out / "sft-model").exists() and not (out / "sft.parquet").exists()


def test_dry_run_checks_the_train_step_and_trains_nothing(llm_env, tiny_model_dir, tmp_path):
    path, out = _train_pipeline(tmp_path, tiny_model_dir, CLEAN_EVALS,
                                overrides={"trl.hub_token": HUB_SECRET})  # fmt: skip
    result = _caravan("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "5:train: would train (sft, recipe tulu3-8b-sft)" in result.output
    assert "max_steps: 2" in result.output and "(not read: not written yet)" in result.output
    assert HUB_SECRET not in result.output
    assert not (out / "sft-model").exists() and not (out / "run.json").exists()
    # `dry_run: true` in a real run: data written and read, the config recorded, no training
    path, out = _train_pipeline(tmp_path, tiny_model_dir, CLEAN_EVALS,
                                train_extra='{"dry_run": true}',
                                overrides={"trl.hub_token": HUB_SECRET})  # fmt: skip
    result = _caravan("run", path)
    assert result.exit_code == 0, result.output
    assert "sft.parquet: 8 of 8 rows" in result.output
    assert not (out / "sft-model" / "final").exists()
    text = (out / "run.json").read_text()
    assert HUB_SECRET not in text and json.loads(text)["steps"][-1]["settings"]["dry_run"]


def test_a_bad_train_step_fails_before_any_step_runs(llm_env, tiny_model_dir, tmp_path):
    path, out = _train_pipeline(tmp_path, tiny_model_dir, CLEAN_EVALS,
                                overrides={"trl.max_steps": "many"})  # fmt: skip
    result = _caravan("run", path)
    assert result.exit_code != 0 and "step 5 (train)" in result.output
    assert "max_steps" in result.output and not (out / "sft.parquet").exists()
    for extra, needle in [('{"data": "other.parquet"}', "no file written before it"),
                          ('{"method": "dpo"}', "dpo trains on preference records"),
                          ('{"epochs": 3}', "unknown key(s) epochs")]:  # fmt: skip
        path, out = _train_pipeline(tmp_path, tiny_model_dir, CLEAN_EVALS, train_extra=extra)
        result = _caravan("run", path, "--dry-run")
        assert result.exit_code != 0 and needle in result.output, result.output


def test_the_shipped_train_step_is_off_unless_asked(llm_env):
    from caravan.pipeline import load_pipeline
    from caravan.pipeline_train import train_spec

    for on in (False, True):
        pipe = load_pipeline(TULU, {"train": on})  # on: the DPO recipe resolves at load
        (step,) = [s for s in pipe.steps if s.op == "train"]
        spec = train_spec(pipe.source, pipe.output, pipe.steps, step)
        assert spec.enabled is on and spec.method == "dpo"
        assert spec.data == [str(pipe.output / "preferences.parquet")]
