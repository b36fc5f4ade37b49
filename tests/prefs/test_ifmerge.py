"""IF modes: persona-IF pairs from `synth relax` merge in; --verify-if drops pairs whose
chosen answer fails its constraints."""

from __future__ import annotations

import json

from caravan.records import read_records, write_records

from .conftest import write_pool, write_prompts
from .test_build import run

LOWER = json.dumps([{"instruction_id": ["change_case:english_lowercase"], "kwargs": [{}]}])
NO_COMMA = json.dumps([{"instruction_id": ["punctuation:no_comma"], "kwargs": [None]}])


def _m(role, text):
    return [{"role": role, "content": text}]


def relax_file(path):
    rows = [
        {  # chosen follows the constraint
            "id": "if-0",
            "prompt": _m("user", "describe a cat in lowercase only."),
            "chosen": _m("assistant", "a small furry animal that purrs."),
            "rejected": _m("assistant", "A Small Furry Animal."),
            "ground_truth": LOWER,
            "persona": "a cat lover",
        },
        {  # chosen breaks it: must go with --verify-if
            "id": "if-1",
            "prompt": _m("user", "describe a dog in lowercase only."),
            "chosen": _m("assistant", "A Loyal Friend."),
            "rejected": _m("assistant", "DOG."),
            "ground_truth": LOWER,
            "persona": "a dog lover",
        },
        {  # no ground truth: kept, counted as unverified
            "id": "if-2",
            "prompt": _m("user", "say hi"),
            "chosen": _m("assistant", "hi"),
            "rejected": _m("assistant", "no"),
            "ground_truth": None,
            "persona": "someone",
        },
    ]
    return write_records(rows, path, "preference")


def _args(tmp_path, double, *extra):
    pool = write_pool(tmp_path / "pool.yaml", double.base_url)
    prompts = write_prompts(
        tmp_path / "prompts.jsonl",
        ["write about rivers and lakes", "write about rivers, lakes, and seas", "plain prompt"],
        ground_truth=[NO_COMMA, NO_COMMA, None],
    )
    return [
        "build", "--prompts", str(prompts), "--pool", str(pool), "--k", "3",
        "--judge", "judge-model", "--judge-base-url", f"{double.base_url}/v1",
        "--output", str(tmp_path / "out" / "prefs.parquet"),
        "--cache", str(tmp_path / "cache.sqlite"), "--no-progress",
        "--merge-if", str(relax_file(tmp_path / "relax" / "pairs.parquet")), *extra,
    ]  # fmt: skip


def test_merge_keeps_persona_if_pairs_in_output_shape(tmp_path, double):
    run(_args(tmp_path, double))
    rows = {r["id"]: r for r in read_records(tmp_path / "out" / "prefs.parquet").to_pylist()}
    assert set(rows) == {"q0", "q1", "q2", "if-0", "if-1", "if-2"}
    merged = rows["if-0"]
    assert merged["origin"] == "persona-if" and merged["source"] == "persona-if"
    assert merged["messages"] == merged["prompt"] + merged["chosen"]
    assert merged["ground_truth"] == LOWER and merged["score_chosen"] is None
    assert rows["q0"]["origin"] == "judged" and rows["q0"]["ground_truth"] == NO_COMMA


def test_verify_if_drops_pairs_whose_chosen_answer_fails(tmp_path, double, capsys):
    run(_args(tmp_path, double, "--verify-if"))
    out = capsys.readouterr().out
    rows = {r["id"]: r for r in read_records(tmp_path / "out" / "prefs.parquet").to_pylist()}
    # if-1's chosen answer has capitals; q1's chosen answer echoes a prompt with commas
    assert set(rows) == {"q0", "q2", "if-0", "if-2"}
    assert rows["if-0"]["if_verified"] is True and rows["q0"]["if_verified"] is True
    assert rows["if-2"]["if_verified"] is None and rows["q2"]["if_verified"] is None
    assert "dropped 2 pairs" in out and "2 pairs carry no IF ground truth" in out
    side = read_records(tmp_path / "out" / "prefs.responses.parquet").to_pylist()
    status = {r["prompt_key"]: r["prompt_status"] for r in side}
    assert status == {"q0": "paired", "q1": "dropped by --verify-if", "q2": "paired"}
    rejected = (tmp_path / "out" / "prefs.rejected.jsonl").read_text().splitlines()
    dropped = {(r["id"], r["stage"], r["reason"]) for r in map(json.loads, rejected)}
    assert dropped == {("q1", "prefs.verify_if", "if_constraints_failed"),
                       ("if-1", "prefs.verify_if", "if_constraints_failed")}  # fmt: skip


def test_dry_run_reads_merge_files_and_checks_labels(tmp_path, double, capsys):
    bad = [{"id": "z", "prompt": _m("user", "x"), "chosen": _m("assistant", "a"),
            "rejected": _m("assistant", "b"), "ground_truth": "{not a label"}]  # fmt: skip
    write_records(bad, tmp_path / "relax" / "bad.parquet", "preference")
    run([*_args(tmp_path, double, "--verify-if", "--dry-run"), "--merge-if",
         str(tmp_path / "relax" / "bad.parquet")], 1)  # fmt: skip
    assert "pair 'z': its IF ground truth" in capsys.readouterr().err
    assert not (tmp_path / "out" / "prefs.parquet").exists()


def test_merged_id_clash_and_bad_label_are_reported(tmp_path, double, capsys):
    args = _args(tmp_path, double)
    clash = [{"id": "q0", "prompt": _m("user", "x"), "chosen": _m("assistant", "a"),
              "rejected": _m("assistant", "b")}]  # fmt: skip
    write_records(clash, tmp_path / "relax" / "clash.parquet", "preference")
    run([*args, "--merge-if", str(tmp_path / "relax" / "clash.parquet")], 1)
    assert "pair id 'q0' occurs twice" in capsys.readouterr().err
    bad = [{"id": "z", "prompt": _m("user", "x"), "chosen": _m("assistant", "a"),
            "rejected": _m("assistant", "b"), "ground_truth": "{not a label"}]  # fmt: skip
    write_records(bad, tmp_path / "relax" / "bad.parquet", "preference")
    run([*_args(tmp_path, double, "--verify-if"), "--merge-if",
         str(tmp_path / "relax" / "bad.parquet")], 1)  # fmt: skip
    assert "pair 'z': its IF ground truth" in capsys.readouterr().err
