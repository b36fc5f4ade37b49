"""synth commands stop honestly: a dead endpoint is named, and --max-cost holds and resumes."""

from __future__ import annotations

import socket

IF_IDS = "keywords:existence,punctuation:no_comma"


def _args(out, *extra):
    return ["generate", "--persona", "example", "--task", "if", "--output", out,
            "--constraint-ids", IF_IDS, "--min-constraints", "1", "--max-constraints", "2",
            "--model", "gpt-4o", "--no-progress", *extra]  # fmt: skip


def test_nothing_listening_names_the_url_not_no_prompt_survived(synth, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    res = synth(*_args(tmp_path / "o.parquet", "--base-url", url))
    assert res.exit_code == 1
    assert f"error: cannot connect to {url}" in res.stderr


def test_max_cost_stops_generate_then_the_next_run_resumes(synth, double, tmp_path):
    url = double.base_url + "/v1"
    # gpt-4o at --max-tokens 1024 costs at most about $0.0105 a call: room for two.
    capped = synth(*_args(tmp_path / "o.parquet", "--base-url", url, "--max-cost", "0.025"))
    assert capped.exit_code == 1
    assert "--max-cost $0.025 reached" in capped.stderr
    paid = len(double.generation_requests())
    assert 1 <= paid <= 2
    full = synth(*_args(tmp_path / "o.parquet", "--base-url", url))
    assert full.exit_code == 0, full.stderr
    again = len(double.generation_requests())
    fresh = synth(*_args(tmp_path / "fresh.parquet", "--base-url", url, "--cache",
                         tmp_path / "other.sqlite"))  # fmt: skip
    assert fresh.exit_code == 0
    # The resumed run sent exactly what a run from scratch sends, minus what was paid for.
    assert again - paid == len(double.generation_requests()) - again - paid
