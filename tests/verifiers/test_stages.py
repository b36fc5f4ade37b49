"""verify's stages: Score adds rewards per row; BuildRLVR keeps the source rows' ids."""

from __future__ import annotations

from caravan.verifiers.rlvr import gsm8k_rows
from caravan.verifiers.stages import BuildRLVR, Score


def test_score_adds_rewards_and_filters_below_min_score(rlvr_rows):
    rows = [{**rlvr_rows[0], "response": "3 + 4 = 7. #### 7"},
            {**rlvr_rows[0], "id": "r-wrong", "response": "It is 8. #### 8"}]  # fmt: skip
    got = Score()(rows, progress=False)
    scores = {r["id"]: r["score"] for r in got.to_list()}
    assert scores["r-0"] > 0 and scores["r-wrong"] == 0
    assert got.stats["verify.score.gsm8k:full_score"] == 1
    kept = Score(min_score=1.0)(rows, progress=False)
    assert kept.table.column("id").to_pylist() == ["r-0"]
    assert kept.rejected.to_pylist()[0]["reason"] == "below_min_score"


def test_build_rlvr_matches_the_builders_with_stable_ids():
    src = [{"id": f"g{i}", "question": f"What is {i} plus 1?", "answer": f"ok #### {i + 1}"}
           for i in range(6)]  # fmt: skip
    src.append({"id": "broken", "question": "No number here?", "answer": "#### lots"})
    got = BuildRLVR("gsm8k", few_shot=2, seed=1)(src, progress=False)
    ref = [r for r in gsm8k_rows(src, "x", shots=2, seed=1) if isinstance(r, dict)]
    assert [r["messages"] for r in got.to_list()] == [r["messages"] for r in ref]
    assert all(r["id"].startswith("gsm8k-g") for r in got.to_list())
    assert got.stats["verify.build_rlvr.few_shot_examples"] == 2
    (rej,) = got.rejected.to_pylist()
    assert rej["id"] == "broken" and rej["reason"] == "not_convertible"
