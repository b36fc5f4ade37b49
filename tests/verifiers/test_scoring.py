import json

import pytest
from caravan.verifiers.scoring import Checkpoint, score_rows


def _rows(n):
    return [
        {"response": f"It is {i}", "ground_truth": str(i if i % 2 else i + 1), "dataset": "gsm8k"}
        for i in range(n)
    ]


def test_an_interrupted_run_resumes_without_rescoring(tmp_path):
    path = tmp_path / ".out.partial.jsonl"
    key = {"input": "fp-1", "config": "default"}
    seen = []

    def stop_after_first_chunk(n):
        seen.append(n)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_rows(
            _rows(6), chunk=2, checkpoint=Checkpoint(path, key), progress=stop_after_first_chunk
        )
    assert len(path.read_text().splitlines()) == 1 + 2  # header + the finished chunk

    progress = []
    resumed = Checkpoint(path, key)
    assert sorted(resumed.done) == [0, 1]
    out, summary = score_rows(_rows(6), chunk=2, checkpoint=resumed, progress=progress.append)
    assert progress == [2, 2, 2]  # 2 resumed, then 2 chunks actually scored
    assert summary.resumed == 2 and summary.rows == 6
    assert [r["score"] for r in out] == [0.0, 10.0, 0.0, 10.0, 0.0, 10.0]
    assert summary.by_verifier["gsm8k"].full == 3


def test_a_checkpoint_for_other_input_or_settings_is_ignored(tmp_path):
    path = tmp_path / ".out.partial.jsonl"
    first = Checkpoint(path, {"input": "fp-1"})
    first.save([(0, {"score": 99.0, "checks": json.dumps([]), "errors": None})])
    assert Checkpoint(path, {"input": "fp-1"}).done[0]["score"] == 99.0
    assert Checkpoint(path, {"input": "fp-2"}).done == {}
    out, _ = score_rows(_rows(1), checkpoint=Checkpoint(path, {"input": "fp-2"}))
    assert out[0]["score"] == 0.0


def test_a_torn_last_line_is_redone(tmp_path):
    path = tmp_path / ".p.jsonl"
    cp = Checkpoint(path, {"k": 1})
    cp.save([(0, {"score": 10.0, "checks": "[]", "errors": None})])
    with open(path, "a") as fh:
        fh.write('{"i": 1, "sco')
    again = Checkpoint(path, {"k": 1})
    assert sorted(again.done) == [0]
    again.save([(1, {"score": 0.0, "checks": "[]", "errors": None})])
    assert sorted(Checkpoint(path, {"k": 1}).done) == [0, 1]
