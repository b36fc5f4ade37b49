"""`synth complete` end to end against the double."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from caravan.records.provenance import Provenance
from caravan.synth.cli import cli
from click.testing import CliRunner


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _invoke(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False, standalone_mode=False)
    return result


@pytest.fixture
def prompts(tmp_path):
    return _write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"id": f"row-{i}", "messages": [{"role": "user", "content": f"Say {i}"}], "topic": "t"}
            for i in (3, 1, 2)
        ],
    )


def _run(args):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    return info.value.code


def test_messages_in_rows_out_in_order_with_usage_and_provenance(double, prompts, tmp_path, capsys):
    out = tmp_path / "out" / "answers.parquet"
    code = _run([
        "complete", "--input", str(prompts), "--output", str(out), "--model", "gpt-4o-mini",
        "--base-url", double.base_url + "/v1", "--cache", str(tmp_path / "c.sqlite"),
        "--temperature", "0.5", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    table = pq.read_table(out)
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["row-3", "row-1", "row-2"]
    assert [r["topic"] for r in rows] == ["t", "t", "t"]
    assert rows[0]["response"].endswith("Say 3") and rows[0]["error"] is None
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["cost_usd"] > 0
    assert double.generation_requests()[0].body["temperature"] == 0.5
    prov = Provenance.from_metadata(table.schema.metadata)
    assert prov.config["model"] == "gpt-4o-mini" and prov.rows == 3
    meta = table.schema.metadata[b"caravan"].decode()
    assert "sk-test-openai-key" not in meta
    assert "wrote 3 rows" in capsys.readouterr().out


def test_text_field_anthropic_and_error_column(double, tmp_path):
    src = _write_jsonl(tmp_path / "p.jsonl", [{"q": "fine"}, {"q": "broken"}])
    double.fail_prompt("broken", "500")
    out = tmp_path / "o.parquet"
    code = _run([
        "complete", "--input", str(src), "--text-field", "q", "--output", str(out),
        "--provider", "anthropic", "--model", "claude-haiku-4-5", "--base-url", double.base_url,
        "--cache", str(tmp_path / "c.sqlite"), "--max-retries", "1", "--no-progress",
        "--system", "Be brief.",
    ])  # fmt: skip
    assert code == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["0", "1"]  # row numbers where the input had no ids
    assert rows[0]["response"].endswith("fine")
    assert rows[1]["response"] is None and rows[1]["error_kind"] == "server"
    assert double.generation_requests()[0].body["system"] == "Be brief."


def test_schema_option_fills_response_json(double, tmp_path, prompts):
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        )
    )
    out = tmp_path / "o.parquet"
    assert _run([
        "complete", "--input", str(prompts), "--output", str(out), "--model", "m",
        "--base-url", double.base_url + "/v1", "--cache", str(tmp_path / "c.sqlite"),
        "--schema", str(schema), "--no-progress",
    ]) == 0  # fmt: skip
    rows = pq.read_table(out).to_pylist()
    assert all(isinstance(json.loads(r["response_json"])["ok"], bool) for r in rows)


def test_dry_run_estimates_and_sends_nothing(double, prompts, tmp_path, capsys):
    code = _run([
        "complete", "--input", str(prompts), "--output", str(tmp_path / "o.parquet"),
        "--model", "gpt-4o-mini", "--base-url", double.base_url + "/v1", "--dry-run",
        "--max-tokens", "100", "--cache", str(tmp_path / "c.sqlite"),
    ])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "requests: 3 (0 already in the cache, 3 to send)" in text
    assert "output tokens, at most: 300" in text
    assert "estimated cost, at most: $0.0002" in text
    assert double.log == [] and not (tmp_path / "o.parquet").exists()


def test_dry_run_unknown_price_is_not_zero(prompts, tmp_path, capsys):
    _run(["complete", "--input", str(prompts), "--output", str(tmp_path / "o.parquet"),
          "--model", "my-finetune", "--dry-run", "--cache", str(tmp_path / "c.sqlite")])  # fmt: skip
    assert "unknown (no price for my-finetune)" in capsys.readouterr().out


def test_missing_prompt_column_names_file_and_row(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "p.jsonl", [{"text": "a"}, {"other": 1}])
    code = _run(["complete", "--input", str(src), "--output", str(tmp_path / "o.parquet"),
                 "--model", "m", "--text-field", "text", "--dry-run"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "p.jsonl: line 2:" in err and "`text`" in err


def test_batch_flag_uses_the_batch_api(double, prompts, tmp_path):
    out = tmp_path / "o.parquet"
    code = _run([
        "complete", "--input", str(prompts), "--output", str(out), "--model", "gpt-4o-mini",
        "--base-url", double.base_url + "/v1", "--cache", str(tmp_path / "c.sqlite"),
        "--batch", "--poll-interval", "0.01", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == ["row-3", "row-1", "row-2"]
    assert all(r["response"] and r["error"] is None for r in rows)
    assert len(double.batches) == 1 and double.generation_requests() == []


def test_local_provider_options_reach_the_backend(prompts, tmp_path, monkeypatch):
    import sys
    import types

    seen = {}

    class Tiny:
        name = "local"

        def __init__(self, model, **kw):
            seen.update(kw, model=model)
            self.max_batch_size = kw.get("max_batch_size", 8)

        def complete_batch(self, requests):
            from caravan.llm.types import Response

            return [Response(r.id, text="tiny says hi") for r in requests]

    module = types.ModuleType("caravan.llm.backends.local")
    module.LocalBackend = Tiny
    monkeypatch.setitem(sys.modules, "caravan.llm.backends.local", module)
    out = tmp_path / "o.parquet"
    assert _run([
        "complete", "--input", str(prompts), "--output", str(out), "--model", "tiny-llama",
        "--provider", "local", "--max-batch-size", "2", "--device", "cpu",
        "--cache", str(tmp_path / "c.sqlite"), "--no-progress",
    ]) == 0  # fmt: skip
    assert seen == {"model": "tiny-llama", "max_batch_size": 2, "device": "cpu"}
    assert [r["response"] for r in pq.read_table(out).to_pylist()] == ["tiny says hi"] * 3


def test_credentials_in_base_url_stay_out_of_provenance():
    from caravan.secrets import public_url

    assert (
        public_url("https://user:pw@host.example:8443/v1?key=abc") == "https://host.example:8443/v1"
    )
    assert public_url(None) is None


def test_credentials_in_base_url_argument_are_dropped():
    from caravan.secrets import public_argv

    argv = ["/bin/synth", "complete", "--base-url", "http://u:p@h/v1", "--base-url=http://u:p@h/v2"]
    assert public_argv(argv) == [
        "synth",
        "complete",
        "--base-url",
        "http://h/v1",
        "--base-url=http://h/v2",
    ]


def test_dry_run_for_in_process_model_costs_nothing(prompts, tmp_path, capsys):
    _run(["complete", "--input", str(prompts), "--output", str(tmp_path / "o.parquet"),
          "--model", "tiny", "--provider", "local", "--dry-run",
          "--cache", str(tmp_path / "c.sqlite")])  # fmt: skip
    assert "estimated cost: $0 (runs on this machine)" in capsys.readouterr().out


def test_progress_off_a_terminal_is_periodic_plain_lines(double, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CARAVAN_PROGRESS_EVERY", "0")
    src = _write_jsonl(tmp_path / "p.jsonl", [{"q": f"Say {i}"} for i in range(300)])
    out = tmp_path / "answers.parquet"
    code = _run([
        "complete", "--input", str(src), "--text-field", "q", "--output", str(out),
        "--model", "gpt-4o-mini", "--base-url", double.base_url + "/v1",
        "--cache", str(tmp_path / "c.sqlite"),
    ])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    # one line per finished batch of 256 rows, then the last one
    assert "synth.complete: 256/300 rows (85%)" in err
    assert "synth.complete: 300/300 rows (100%)" in err
    assert "\x1b[" not in err


def test_id_field_names_the_ids_and_the_input_id_column_is_kept(double, tmp_path):
    src = _write_jsonl(tmp_path / "p.jsonl", [
        {"id": "same", "qid": f"q{i}", "messages": [{"role": "user", "content": f"Say {i}"}]}
        for i in (2, 0, 1)
    ])  # fmt: skip
    out = tmp_path / "o.parquet"
    assert _run([
        "complete", "--input", str(src), "--id-field", "qid", "--output", str(out),
        "--model", "gpt-4o-mini", "--base-url", double.base_url + "/v1",
        "--cache", str(tmp_path / "c.sqlite"), "--no-progress",
    ]) == 0  # fmt: skip
    rows = pq.read_table(out).to_pylist()
    assert [(r["qid"], r["id"]) for r in rows] == [("q2", "same"), ("q0", "same"), ("q1", "same")]
    assert [r["response"].split()[-1] for r in rows] == ["2", "0", "1"]


def test_a_message_without_a_role_names_the_file(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "p.jsonl", [{"messages": [{"content": "hi"}]}])
    code = _run(["complete", "--input", str(src), "--output", str(tmp_path / "o.parquet"),
                 "--model", "m", "--dry-run"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "p.jsonl" in err and "`role` and `content`" in err
