"""Semantic decontamination: rephrased eval items planted in real T0 prompts.

Uses the real all-MiniLM-L6-v2 weights (skipped when ../shared/models is absent). The eval
side is a sample of the shared GSM8K, MATH-500 and HumanEval files; the training side is
real T0 prompts with rephrasings (hand-written and rule-based, tests/fixtures/rephrase.py)
planted at known rows.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from caravan.decontam.check import CheckConfig, run_check
from caravan.decontam.cli import cli
from caravan.decontam.evalsets import load_eval_sets
from caravan.decontam.remove import run_remove
from caravan.decontam.semantic import SemanticConfig, top_k_pairs
from caravan.decontam.semantic_judge import DIFFERENT, ERROR, SAME, JudgeSettings, judge_messages
from click.testing import CliRunner

from caravan.errors import CaravanError
from tests.decontam.conftest import write_jsonl, write_parquet
from tests.fixtures.rephrase import EVAL_FIELDS, load_items, rephrase
from tests.fixtures.shared_data import SHARED_DATA
from tests.llm import api_double

MODEL = SHARED_DATA.parent / "models" / "all-MiniLM-L6-v2"
needs_model = pytest.mark.skipif(
    not (MODEL / "model.safetensors").is_file() or not SHARED_DATA.is_dir(),
    reason=f"embedding model or shared data absent: {MODEL}",
)

# ---- no model needed ---------------------------------------------------------------------


def test_top_k_pairs_keeps_the_k_nearest_above_the_threshold():
    rng = np.random.default_rng(0)
    evals = rng.normal(size=(50, 16)).astype(np.float32)
    evals /= np.linalg.norm(evals, axis=1, keepdims=True)
    train = rng.normal(size=(2500, 16)).astype(np.float32)  # crosses the 1024-row blocks
    train[1500] = evals[7]  # a copy: similarity 1 with item 7
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    rows, items, sims = top_k_pairs(train, evals, k=2, threshold=0.3)
    full = train @ evals.T
    for r in (0, 1023, 1024, 1500, 2499):
        best = set(np.argsort(-full[r])[:2].tolist())
        want = {i for i in best if full[r, i] >= 0.3}
        assert set(items[rows == r].tolist()) == want
    assert (sims >= 0.3).all()
    hit = np.flatnonzero((rows == 1500) & (items == 7))
    assert hit.size == 1 and sims[hit[0]] == pytest.approx(1.0, abs=1e-5)
    r, i, _ = top_k_pairs(train, evals, k=100, threshold=0.99)  # k above the eval count
    assert (r == 1500).any() and set(i[r == 1500].tolist()) == {7}


def test_top_k_pairs_of_nothing_is_empty():
    v = np.eye(4, dtype=np.float32)
    for train, evals in ((v[:0], v), (v, v[:0])):
        rows, items, sims = top_k_pairs(train, evals, k=3, threshold=0.0)
        assert rows.size == items.size == sims.size == 0


def test_progress_prints_plain_lines_off_a_terminal(capsys):
    from caravan.decontam.embed import RowProgress

    p = RowProgress("lines", 10, "embed t.jsonl", every_s=0.0)
    p(4)
    p(6)
    p.close()
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("embed t.jsonl: 4/10 rows (")
    assert err[-1].startswith("embed t.jsonl: 10/10 rows") and err[-1].endswith("done")
    quiet = RowProgress("off", 10, "x", every_s=0.0)
    quiet(10)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_missing_extra_is_a_one_line_error(tmp_path, monkeypatch):
    from caravan.decontam.embed import require_backend

    monkeypatch.setitem(sys.modules, "transformers", None)  # import now fails
    with pytest.raises(CaravanError, match=r"pip install 'caravan-posttrain\[semantic\]'"):
        require_backend()
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "hello there world"}])
    ev = write_jsonl(tmp_path / "e.jsonl", [{"question": "hello there world"}])
    res = CliRunner().invoke(
        cli,
        ["check", "--train", str(train), "--eval", f"toy={ev}", "--report",
         str(tmp_path / "r.json"), "--semantic"],
    )  # fmt: skip
    assert res.exit_code != 0
    assert "caravan-posttrain[semantic]" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r.json").exists()


def test_semantic_options_without_the_flag_are_refused(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "hello there world"}])
    res = CliRunner().invoke(
        cli,
        ["check", "--train", str(train), "--eval", "toy=x.jsonl", "--report", "r.json",
         "--semantic-threshold", "0.5"],
    )  # fmt: skip
    assert res.exit_code == 2 and "only apply with --semantic" in res.output


def test_a_missing_model_folder_fails_before_writing_and_keeps_the_exact_progress(tmp_path):
    rows = [{"prompt": f"row {i} about something"} for i in range(3)]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    ev = load_eval_sets([f"toy={write_jsonl(tmp_path / 'e.jsonl', [{'question': 'x y z'}])}"])
    cfg = CheckConfig(workers=1, progress=False, cache_dir=None)
    sem = SemanticConfig(model=str(tmp_path / "no-such-model"))
    with pytest.raises(CaravanError, match="no-such-model.*not a folder with a model"):
        run_check([train], ev, cfg, tmp_path / "r.json", semantic=sem)
    assert not (tmp_path / "r.json").exists()
    assert list((tmp_path / ".r.json.journal").glob("*.json"))  # a rerun replays the scan


def test_remove_semantic_needs_a_semantic_report(tmp_path):
    rows = [{"prompt": f"row {i} about something"} for i in range(3)]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    ev = load_eval_sets([f"toy={write_jsonl(tmp_path / 'e.jsonl', [{'question': 'x y z'}])}"])
    cfg = CheckConfig(workers=1, progress=False, cache_dir=None)
    run_check([train], ev, cfg, tmp_path / "r.json")
    with pytest.raises(CaravanError, match="no semantic results"):
        run_remove(train, tmp_path / "r.json", tmp_path / "out.jsonl", semantic=True)


# ---- the real model ----------------------------------------------------------------------

SAMPLE = {"gsm8k": 30, "math": 25, "humaneval": 20}  # eval items per set
PLANT = 6  # rule-based rephrasings per set, besides the hand-written ones
UNPLANTED = 150


def _planted_setup(root: Path):
    """Eval files (samples), a T0 training file with planted rephrasings, and the truth."""
    from tests.fixtures.rephrase import HAND_WRITTEN

    rng = random.Random(3)
    eval_specs, truth_items = [], []
    for name, n in SAMPLE.items():
        items = load_items(SHARED_DATA / "eval", name)
        hand = [r for s, r, _ in HAND_WRITTEN if s == name]
        rows = hand + rng.sample([r for r in range(len(items)) if r not in hand], n - len(hand))
        path = write_jsonl(root / f"{name}.jsonl", [{EVAL_FIELDS[name]: items[r]} for r in rows])
        eval_specs.append(f"{name}={path}")
        for k, r in enumerate(rows):
            truth_items.append((name, k, r, items[r]))
    planted = [
        (s, next(k for n, k, r, _ in truth_items if n == s and r == row), text)
        for s, row, text in HAND_WRITTEN
    ]
    for name in SAMPLE:
        mine = [
            t for t in truth_items if t[0] == name and t[2] not in {r for s, r, _ in HAND_WRITTEN}
        ]
        for _, k, _, text in rng.sample(mine, PLANT):
            planted.append((name, k, rephrase(name, text, rng)))
    corpus = pq.read_table(SHARED_DATA / "corpus" / "t0_prompts.parquet", columns=["prompt"])
    t0 = rng.sample(corpus.column("prompt").to_pylist(), UNPLANTED)
    texts = list(t0)
    truth: dict[int, tuple[str, int]] = {}
    for name, k, text in planted:
        pos = rng.randrange(len(texts) + 1)
        texts.insert(pos, text)
        truth = {(r + 1 if r >= pos else r): v for r, v in truth.items()}
        truth[pos] = (name, k)
    train = write_parquet(
        root / "train.parquet", [{"id": i, "prompt": t} for i, t in enumerate(texts)]
    )
    # The report names rows from 1: training row and eval row.
    truth_1 = {r + 1: (s, k + 1) for r, (s, k) in truth.items()}
    return load_eval_sets(eval_specs), train, truth_1


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    if not (MODEL / "model.safetensors").is_file() or not SHARED_DATA.is_dir():
        pytest.skip(f"embedding model or shared data absent: {MODEL}")
    root = tmp_path_factory.mktemp("semantic")
    evals, train, truth = _planted_setup(root)
    cfg = CheckConfig(workers=1, progress=False, cache_dir=root / "cache")
    sem = SemanticConfig(model=str(MODEL))
    report = run_check([train], evals, cfg, root / "report.json", semantic=sem)
    return root, evals, train, truth, cfg, report


def _flagged(report: dict) -> set[tuple[int, str, int]]:
    return {
        (m["train_row"], r["eval"], m["eval_row"])
        for r in report["semantic"]["results"]
        for m in r["matches"]
        if m["flagged"]
    }


@needs_model
def test_rephrasings_found_by_semantic_and_missed_by_exact(planted):
    _, _, _, truth, _, report = planted
    exact = {
        (m["train_row"], r["eval"], m["eval_row"]) for r in report["results"] for m in r["matches"]
    }
    planted_pairs = {(row, s, k) for row, (s, k) in truth.items()}
    assert len(exact & planted_pairs) <= len(planted_pairs) // 10  # 8-grams miss rephrasings
    found = _flagged(report) & planted_pairs
    assert len(found) >= 0.85 * len(planted_pairs), sorted(planted_pairs - found)
    assert report["semantic"]["params"]["threshold"] == 0.7
    assert report["semantic"]["params"]["model_fingerprint"]


@needs_model
def test_unplanted_t0_rows_are_mostly_not_flagged(planted):
    _, _, _, truth, _, report = planted
    false = {row for row, _, _ in _flagged(report) if row not in truth}
    assert len(false) <= 0.02 * UNPLANTED, false


@needs_model
def test_semantic_pairs_are_in_the_matches_file_beside_exact_ones(planted):
    root, _, _, truth, _, report = planted
    table = pq.read_table(report["matches_file"]).to_pylist()
    sem = [r for r in table if r["method"] == "semantic"]
    assert len(sem) == report["semantic"]["match_count"] > 0
    row = next(r for r in sem if r["train_row"] in truth)
    assert truth[row["train_row"]] == (row["eval"], row["eval_row"])
    assert row["train_id"] == str(row["train_row"] - 1)  # the row's `id` names it
    assert 0.7 <= row["similarity"] <= 1.0 and row["coverage"] is None
    assert row["train_text"] and row["eval_text"]
    assert all(r["similarity"] is None for r in table if r["method"] == "exact")


@needs_model
def test_eval_embeddings_are_cached_by_content_and_model(planted):
    root, evals, _, _, cfg, report = planted
    assert report["semantic"]["eval_embedding_cache_hits"] == 0
    tiny = write_jsonl(
        root / "tiny.jsonl", [{"prompt": "Count the positive integer factors of 196."}]
    )
    again = run_check(
        [tiny], evals, cfg, root / "again.json", semantic=SemanticConfig(model=str(MODEL))
    )
    assert again["semantic"]["eval_embedding_cache_hits"] == len(evals)
    shorter = SemanticConfig(model=str(MODEL), max_length=32)  # another fingerprint: a miss
    third = run_check([tiny], evals[:1], cfg, root / "third.json", semantic=shorter)
    assert third["semantic"]["eval_embedding_cache_hits"] == 0
    fp = report["semantic"]["params"]["model_fingerprint"]
    assert third["semantic"]["params"]["model_fingerprint"] != fp


@needs_model
def test_remove_semantic_drops_the_flagged_rows_with_an_audit_trail(planted):
    root, _, train, truth, _, report = planted
    plain = run_remove(train, root / "report.json", root / "exact_only.parquet")
    res = run_remove(train, root / "report.json", root / "clean.parquet", semantic=True)
    flagged_rows = {row for row, _, _ in _flagged(report)}
    exact_rows = {m["train_row"] for r in report["results"] for m in r["matches"]}
    assert res.removed == len(flagged_rows | exact_rows)
    assert res.removed > plain.removed
    kept_ids = set(pq.read_table(res.output).column("id").to_pylist())
    gone = pq.read_table(res.removed_path).to_pylist()
    assert res.kept + res.removed == UNPLANTED + len(truth)
    caught = [row for row in truth if row in flagged_rows]
    assert not kept_ids & {row - 1 for row in caught}  # ids are 0-based positions
    r = next(g for g in gone if g["decontam_row"] == caught[0])
    assert r["decontam_method"] == "semantic" and r["decontam_similarity"] >= 0.7
    assert (r["decontam_eval"], r["decontam_eval_row"]) == truth[caught[0]]
    assert r["decontam_eval_text"]  # from the matches file
    assert r["decontam_matches"][0]["method"] == "semantic"


@needs_model
def test_find_semantic_in_memory():
    from caravan.decontam.semantic import find_semantic

    evals = ["How many positive whole-number divisors does 196 have?", "Name a prime."]
    train = ["Tell me a joke.", "Count the positive integer factors of 196."]
    found = find_semantic(train, evals, model=str(MODEL))
    assert [(t, e) for t, e, _ in found] == [(1, 0)] and found[0][2] >= 0.7


# ---- the judge, through the loopback API double -------------------------------------------


class VerdictDouble(api_double.ApiDouble):
    """Says "different" when the training item contains a marker, else "same"."""

    markers: tuple[str, ...] = ()

    def reply_text(self, body):
        user = api_double.last_user_text(body.get("messages", []))
        train = user.split("<training_item>")[1]
        verdict = DIFFERENT if any(m in train for m in self.markers) else SAME
        return json.dumps({"verdict": verdict, "reason": "scripted"})


@needs_model
def test_judge_verdicts_are_reported_cached_and_costed(tmp_path, monkeypatch):
    from tests.fixtures.llm_env import use_fake_llm_env
    from tests.fixtures.rephrase import HAND_WRITTEN

    use_fake_llm_env(monkeypatch, tmp_path)
    items = load_items(SHARED_DATA / "eval", "gsm8k")
    ev = write_jsonl(tmp_path / "g.jsonl", [{"question": items[r]} for r in (0, 2, 3)])
    evals = load_eval_sets([f"gsm8k={ev}"])
    hand = {r: t for s, r, t in HAND_WRITTEN if s == "gsm8k"}
    decoy = (  # same story, other numbers: a different problem
        "Five times each week, James does four sprints, and every sprint is 80 meters "
        "long. In one week, how far does he run in total, in meters?"
    )
    rows = ["What is the capital of France?", hand[0], hand[3], decoy, hand[2]]
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": t} for t in rows])
    double = VerdictDouble()
    double.markers = ("80 meters",)
    double.start()
    try:
        bad = judge_messages(items[2], hand[2])[-1]["content"]
        double.fail_prompt(bad, "bad_json")  # this pair's judge reply never parses
        judge = JudgeSettings(
            "gpt-4o-mini", provider="openai", base_url=f"{double.base_url}/v1", max_retries=1
        )
        sem = SemanticConfig(model=str(MODEL), threshold=0.6, judge=judge)
        cfg = CheckConfig(workers=1, progress=False)
        report = run_check([train], evals, cfg, tmp_path / "r.json", semantic=sem)
        matches = {m["train_row"]: m for m in report["semantic"]["results"][0]["matches"]}
        assert matches[2]["judge"] == SAME and matches[2]["flagged"]
        assert matches[3]["judge"] == SAME and matches[3]["eval_row"] == 3
        assert matches[4]["judge"] == DIFFERENT and not matches[4]["flagged"]
        assert matches[4]["eval_row"] == 3  # the decoy is close to the sprint item...
        assert matches[5]["judge"] == ERROR and matches[5]["flagged"]  # kept when unsure
        assert 1 not in matches
        j = report["semantic"]["judge"]
        assert j["requests"] == len(matches) and j["errors"] == 1 and j["cost_usd"] > 0
        assert report["semantic"]["results"][0]["overlapped"] == 3
        sent = len(double.generation_requests())
        table = pq.read_table(report["matches_file"]).to_pylist()
        assert {r["train_row"]: r["judge"] for r in table if r["method"] == "semantic"}[
            4
        ] == DIFFERENT

        again = run_check([train], evals, cfg, tmp_path / "r2.json", semantic=sem)
        j2 = again["semantic"]["judge"]
        assert j2["cached"] == j["requests"] - 1  # only the failed pair is asked again
        assert len(double.generation_requests()) - sent == 1 + 2  # its attempts, nothing else
        res = run_remove(train, tmp_path / "r2.json", tmp_path / "clean.jsonl", semantic=True)
        gone = {r["decontam_row"] for r in pq.read_table(res.removed_path).to_pylist()}
        assert gone == {2, 3, 5}  # the decoy stays: the judge said different
        audit = pq.read_table(res.removed_path).to_pylist()[0]["decontam_matches"][0]
        assert audit["judge"] == SAME and audit["method"] == "semantic"
    finally:
        double.stop()


@needs_model
def test_cli_check_and_remove_semantic(tmp_path):
    from tests.fixtures.rephrase import HAND_WRITTEN

    items = load_items(SHARED_DATA / "eval", "math")
    ev = write_jsonl(tmp_path / "m.jsonl", [{"problem": items[r]} for r in range(10)])
    reph = next(t for s, r, t in HAND_WRITTEN if s == "math" and r == 3)
    rows = [{"prompt": "Tell me a joke about cats."}, {"prompt": reph}]
    train = write_jsonl(tmp_path / "t.jsonl", rows)
    report = tmp_path / "r.json"
    run = CliRunner().invoke
    res = run(
        cli,
        ["check", "--train", str(train), "--eval", f"math={ev}", "--report", str(report),
         "--semantic", "--embed-model", str(MODEL), "--quiet", "--workers", "1",
         "--fail-on-contamination"],
    )  # fmt: skip
    assert res.exit_code == 2, res.output  # contaminated by the rephrasing alone
    assert "semantic matches" in res.output and "t.jsonl x math (semantic)" in res.output
    assert "Loading weights" not in res.output  # --quiet silences the model loading bar too
    data = json.loads(report.read_text())
    assert data["results"][0]["overlapped"] == 0 and not data["contaminated"]  # 8-grams: none
    flagged = {m["train_row"] for m in data["semantic"]["results"][0]["matches"] if m["flagged"]}
    assert flagged == {2}
    from caravan.runner import row_id

    named = {m["train_id"] for m in data["semantic"]["results"][0]["matches"] if m["flagged"]}
    assert named == {row_id(rows[1])}  # named by content id, as the exact matches are
    out = tmp_path / "clean.jsonl"
    args = ["remove", "--train", str(train), "--report", str(report), "--output", str(out)]
    assert run(cli, args).exit_code == 0
    assert len(out.read_text().splitlines()) == 2  # without --semantic nothing goes
    res = run(cli, [*args, "--semantic"])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["prompt"] for x in out.read_text().splitlines()] == [rows[0]["prompt"]]
