"""decontam's stages: Check marks training rows by id, Gate applies the dataset rule."""

from __future__ import annotations

import pytest
from caravan.decontam.match import find_overlaps
from caravan.decontam.stages import Check, ContaminationError, Gate

from tests.decontam.conftest import write_jsonl

EVAL = [
    "Natalia sold clips to 48 of her friends in April and then half as many clips in May",
    "Weng earns twelve dollars an hour for babysitting and yesterday she did fifty minutes",
    "Betty is saving money for a new wallet which costs one hundred dollars in the shop",
    "James writes a three page letter to two different friends twice a week every week",
]


def _train():
    return [
        {"id": "t-clean", "messages": [{"role": "user", "content": "Tell me about the sea."}]},
        {"id": "t-leak", "messages": [{"role": "user", "content": "Q: " + EVAL[1] + "?"}]},
        {"id": "t-other", "messages": [{"role": "user", "content": "Name a prime number."}]},
    ]


@pytest.fixture
def evals(tmp_path):
    return [f"gsm={write_jsonl(tmp_path / 'e.jsonl', [{'question': t} for t in EVAL])}:question"]


def test_check_marks_rows_by_id_like_find_overlaps(evals):
    checked = Check(evals)(_train(), progress=False)
    marks = {r["id"]: r["contamination"] for r in checked.to_list()}
    assert marks["t-clean"] == [] and marks["t-other"] == []
    (m,) = marks["t-leak"]
    assert (m["eval"], m["eval_row"], m["eval_instances"]) == ("gsm", 1, 4)
    texts = [r["messages"][0]["content"] for r in _train()]
    (ref,) = find_overlaps(texts, EVAL)
    assert ref.train_index == 1 and ref.coverage == pytest.approx(m["coverage"])


def test_gate_fails_above_the_threshold_and_names_training_ids(evals):
    checked = Check(evals)(_train(), progress=False)
    with pytest.raises(ContaminationError, match="gsm: 1/4 eval instances .* t-leak") as err:
        Gate(threshold=0.2)(checked, progress=False)
    assert err.value.report[0]["train_ids"] == ["t-leak"]


def test_gate_passes_below_the_threshold_and_removes_matched_rows(evals):
    checked = Check(evals)(_train(), progress=False)
    passed = Gate(threshold=0.5)(checked, progress=False)
    assert passed.table.column("id").to_pylist() == ["t-clean", "t-other"]
    assert "contamination" not in passed.table.column_names
    (rej,) = passed.rejected.to_pylist()
    assert rej["id"] == "t-leak" and rej["reason"] == "contaminated"
    kept = Gate(threshold=0.5, remove=False)(checked, progress=False)
    assert kept.table.num_rows == 3


def test_gate_needs_check_first():
    from caravan.errors import CaravanError

    with pytest.raises(CaravanError, match="run decontam.check first"):
        Gate()(_train(), progress=False)


def test_a_check_travels_to_workers_without_its_index(evals):
    import pickle

    stage = Check(evals)
    catalog = stage.shared_state()  # what a distributed executor shares once
    assert catalog is not None and catalog.index.hashes.size > 0
    copy = pickle.loads(pickle.dumps(stage))
    assert copy._catalog is None and stage._catalog is catalog
    copy.use_shared_state(catalog)  # no setup(): the worker scans with the shared index
    import asyncio

    import pyarrow as pa

    out = asyncio.run(copy.process(pa.Table.from_pylist(_train())))
    assert [r["id"] for r in out.rows if r["contamination"]] == ["t-leak"]
