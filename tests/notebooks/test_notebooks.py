"""Every notebook under notebooks/ runs top to bottom on real data where it applies (the
shared eval/train sets, personas, the T0 corpus) and on datasets built here with the API
double where a model is needed. Each must draw its figure; an erroring cell fails."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.fixtures.llm_env import use_fake_llm_env
from tests.fixtures.shared_data import SHARED_DATA

from .conftest import NOTEBOOKS, execute, outputs

pytest.importorskip("matplotlib")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

PNG = b"\x89PNG\r\n\x1a\n"


def shared(rel: str) -> Path:
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"shared data {rel} not present")
    return path


def head_jsonl(src: Path, dst: Path, n: int, start: int = 0) -> Path:
    with src.open(encoding="utf-8") as fh:
        lines = [line for _, line in zip(range(start + n), fh, strict=False)][start:]
    dst.write_text("".join(lines), encoding="utf-8")
    return dst


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def check_figure(run: dict, name: str) -> None:
    png = run["figures"] / f"{name}.png"
    assert png.read_bytes().startswith(PNG), f"{name}: no figure saved"
    assert outputs(run["notebook"], "image/png"), f"{name}: no figure shown inline"


def test_every_notebook_is_committed_without_outputs_and_tested():
    import nbformat

    books = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert len(books) >= 5
    source = Path(__file__).read_text()
    for name in books:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert "parameters" in book.cells[1].metadata.get("tags", []), name
        for cell in book.cells:
            assert not cell.get("outputs") and not cell.get("execution_count"), name
        assert f'execute(\n        "{name}"' in source or f'execute("{name}"' in source, name


# ---- persona synthesis -------------------------------------------------------------------


def test_synth_prompts_notebook(tmp_path, monkeypatch):
    from caravan.synth.cli import cli
    from tests.synth.conftest import IF_IDS, SynthDouble

    use_fake_llm_env(monkeypatch, tmp_path)
    real = SHARED_DATA / "personas" / "personahub_sample.jsonl"
    if real.exists():
        personas = head_jsonl(real, tmp_path / "personas.jsonl", 16)
    else:
        personas = write_jsonl(
            tmp_path / "personas.jsonl",
            [{"persona": f"A {job} who loves rivers."} for job in ("baker", "pilot", "welder")],
        )
    with personas.open("a") as fh:  # the double answers a beekeeper with an unusable prompt
        fh.write(json.dumps({"persona": "A beekeeper who sells honey at markets."}) + "\n")
    from caravan.synth.personas import load_personas, sample_personas

    pool = load_personas(str(personas)).personas
    seed = next(  # a seed whose 12 draws include the beekeeper, so a rejection shows
        s for s in range(200) if any("beekeeper" in p.text for p in sample_personas(pool, 12, s))
    )
    out = tmp_path / "prompts.parquet"
    server = SynthDouble().start()
    try:
        res = CliRunner().invoke(
            cli,
            ["generate", "--persona", str(personas), "--task", "if", "-n", "12",
             "--output", str(out), "--constraint-ids", IF_IDS, "--min-constraints", "1",
             "--max-constraints", "3", "--max-attempts", "1", "--seed", str(seed),
             "--base-url", server.base_url + "/v1", "--model", "gpt-4o", "--no-progress"],
        )  # fmt: skip
    finally:
        server.stop()
    assert res.exit_code == 0, res.output
    run = execute(
        "synth_prompts", {"prompts": out, "personas": personas, "max_rows": 500},
        tmp_path, monkeypatch,
    )  # fmt: skip
    check_figure(run, "synth_prompts")
    text = "".join(outputs(run["notebook"]))
    assert "prompts kept, 1 rejected" in text and "'personas'" in text
    html = "".join(outputs(run["notebook"], "text/html"))
    assert "constraint_id" in html and "persona" in html


# ---- preferences ---------------------------------------------------------------------------


def test_preferences_notebook(tmp_path, monkeypatch):
    from caravan.prefs.cli import cli
    from tests.prefs.conftest import JudgeDouble, write_pool, write_prompts
    from tests.prefs.test_build import PROMPTS

    use_fake_llm_env(monkeypatch, tmp_path)
    texts = list(PROMPTS)
    gsm = SHARED_DATA / "eval" / "gsm8k_test.jsonl"
    if gsm.exists():  # a few real questions beside the scripted ones
        with gsm.open() as fh:
            texts += [json.loads(next(fh))["question"] for _ in range(4)]
    out = tmp_path / "prefs.parquet"
    server = JudgeDouble().start()
    try:
        pool = write_pool(tmp_path / "pool.yaml", server.base_url)
        prompts = write_prompts(tmp_path / "prompts.jsonl", texts)
        res = CliRunner().invoke(
            cli,
            ["build", "--prompts", str(prompts), "--pool", str(pool), "--k", "3",
             "--judge", "judge-model", "--judge-base-url", f"{server.base_url}/v1",
             "--output", str(out), "--cache", str(tmp_path / "c.sqlite"), "--no-progress"],
        )  # fmt: skip
    finally:
        server.stop()
    assert res.exit_code == 0, res.output
    run = execute("preferences", {"pairs": out}, tmp_path, monkeypatch)
    check_figure(run, "preferences")
    text = "".join(outputs(run["notebook"]))
    assert "margin_length_r" in text and "pairs; side table:" in text
    html = "".join(outputs(run["notebook"], "text/html"))
    assert "win_rate" in html and "[alpha]" in html


# ---- decontamination -----------------------------------------------------------------------


def test_decontamination_notebook(tmp_path, monkeypatch):
    from caravan.decontam.cli import cli

    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(tmp_path / "cache"))
    gsm_test = head_jsonl(shared("eval/gsm8k_test.jsonl"), tmp_path / "gsm8k_test.jsonl", 200)
    math = head_jsonl(shared("eval/math500_test.jsonl"), tmp_path / "math500.jsonl", 100)
    train_rows = head_jsonl(shared("train/gsm8k_train.jsonl"), tmp_path / "g.jsonl", 300)
    gsm_train = write_jsonl(  # --field is shared by every --train: name the column `prompt`
        tmp_path / "gsm8k_train.jsonl",
        [{"prompt": json.loads(x)["question"]} for x in train_rows.read_text().splitlines()],
    )
    t0 = pq.read_table(shared("corpus/t0_prompts.parquet")).slice(0, 400)
    pq.write_table(t0, tmp_path / "t0.parquet")
    questions = [json.loads(line)["question"] for line in gsm_test.read_text().splitlines()]
    leaky = write_jsonl(  # a training set that copied 10 test questions into longer prompts
        tmp_path / "leaky.jsonl",
        [{"prompt": f"Solve this and show your work. {q} Think step by step."}
         for q in questions[:10]]
        + [{"prompt": "Tell me a story about a lighthouse keeper."}] * 5,
    )  # fmt: skip
    report = tmp_path / "report.json"
    res = CliRunner().invoke(
        cli,
        ["check", "--train", str(gsm_train), "--train", str(tmp_path / "t0.parquet"),
         "--train", str(leaky), "--field", "prompt",
         "--eval", f"gsm8k={gsm_test}:question", "--eval", f"math={math}:problem",
         "--report", str(report), "--workers", "1", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    run = execute("decontamination", {"report": report}, tmp_path, monkeypatch)
    check_figure(run, "decontamination")
    html = "".join(outputs(run["notebook"], "text/html"))
    assert "<mark>" in html and "leaky.jsonl row" in html
    assert "matched (train row, eval item) pairs" in "".join(outputs(run["notebook"]))


# ---- RLVR rewards --------------------------------------------------------------------------


class AnswerDouble:
    """An API double answering RLVR prompts: right for two in three GSM8K/MATH prompts,
    wrong for the rest; IF prompts get the synth double's careful-but-partial answer."""

    def __new__(cls, gold: dict[str, tuple[str, str]]):
        from tests.llm import api_double
        from tests.synth.conftest import if_answer

        class _Double(api_double.ApiDouble):
            def reply_text(self, body):
                text = api_double.last_user_text(body.get("messages", []))
                task, answer = gold.get(text, ("ifeval", ""))
                right = sum(map(ord, text)) % 3 != 0
                if task == "gsm8k":
                    return f"Working it out.\n#### {answer if right else '-1'}"
                if task == "math":
                    return f"So the answer is \\boxed{{{answer if right else 'q'}}}."
                return if_answer(text)

        return _Double()


def test_rewards_notebook(tmp_path, monkeypatch):
    from caravan.synth.cli import cli as synth_cli
    from caravan.verifiers.cli import cli as verify_cli

    use_fake_llm_env(monkeypatch, tmp_path)
    runner = CliRunner()
    rlvr = tmp_path / "rlvr.parquet"
    res = runner.invoke(
        verify_cli,
        ["build-rlvr", "--gsm8k", str(shared("train/gsm8k_train.jsonl")),
         "--math", str(shared("train/math_train.jsonl")),
         "--ifeval", str(shared("eval/ifeval_input_data.jsonl")),
         "--limit", "30", "--output", str(rlvr)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = pq.read_table(rlvr).to_pylist()
    gold = {
        r["messages"][-1]["content"]: (r["dataset"].lower(), r["ground_truth"])
        for r in rows
        if r["dataset"].lower() in ("gsm8k", "math")
    }
    answered = tmp_path / "answered.parquet"
    server = AnswerDouble(gold).start()
    try:
        res = runner.invoke(
            synth_cli,
            ["complete", "--input", str(rlvr), "--output", str(answered), "--model", "policy",
             "--base-url", server.base_url + "/v1", "--cache", str(tmp_path / "c.sqlite"),
             "--no-progress"],
        )  # fmt: skip
    finally:
        server.stop()
    assert res.exit_code == 0, res.output
    scored = tmp_path / "scored.parquet"
    res = runner.invoke(verify_cli, ["score", "--input", str(answered), "--output", str(scored)])
    assert res.exit_code == 0, res.output
    run = execute("rewards", {"scored": scored}, tmp_path, monkeypatch)
    check_figure(run, "rewards")
    html = "".join(outputs(run["notebook"], "text/html"))
    assert "pass_rate" in html and "constraint_id" in html
    assert "failed constraints:" in html and "extracted" in html  # reasons, per verifier
    assert "checks did not fully pass" in "".join(outputs(run["notebook"]))


# ---- record files ---------------------------------------------------------------------------


def test_inspect_records_notebook(tmp_path, monkeypatch):
    from caravan.verifiers.cli import cli as verify_cli

    rlvr = tmp_path / "rlvr.parquet"
    res = CliRunner().invoke(
        verify_cli,
        ["build-rlvr", "--gsm8k", str(shared("eval/gsm8k_test.jsonl")),
         "--math", str(shared("eval/math500_test.jsonl")), "--few-shot", "2",
         "--limit", "40", "--output", str(rlvr)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    run = execute("inspect_records", {"path": rlvr, "kind": "rlvr"}, tmp_path, monkeypatch)
    check_figure(run, "inspect_records")
    text = "".join(outputs(run["notebook"]))
    assert '"few_shot": 2' in text and '"limit": 40' in text  # provenance
    assert "80 rows" in text and "'rlvr'" in text
    assert "{1: 80}" in text  # one user turn per prompt (the examples are inline)
    assert "'gsm8k': 40, 'MATH': 40" in text


def test_inspect_records_notebook_on_the_t0_corpus(tmp_path, monkeypatch):
    t0 = pq.read_table(shared("corpus/t0_prompts.parquet")).slice(0, 300)
    rows = [
        {"id": f"t0-{i}", "source": r["template"],
         "messages": [{"role": "user", "content": r["prompt"]},
                      {"role": "assistant", "content": r["completion"]}]}
        for i, r in enumerate(t0.to_pylist())
    ]  # fmt: skip
    path = tmp_path / "t0_sft.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    run = execute("inspect_records", {"path": path, "kind": "sft"}, tmp_path, monkeypatch)
    check_figure(run, "inspect_records")
    text = "".join(outputs(run["notebook"]))
    assert "no Caravan provenance" in text and "300 rows" in text and "'sft'" in text
