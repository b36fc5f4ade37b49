import json

from caravan.prefs.stats import side_figures, summary

from .test_build import build_args, run


def test_stats_on_a_built_file(tmp_path, double, capsys):
    run(build_args(tmp_path, double))
    capsys.readouterr()
    run(["stats", str(tmp_path / "out" / "prefs.parquet"), "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["pairs"] == 4 and figures["by_origin"] == {"judged": 4}
    assert figures["prompts"] == 6 and figures["responses"] == 18
    assert figures["prompt_status"] == {"paired": 4, "judge_failed": 1, "tie": 1}
    models = figures["models"]
    # the scripted judge always prefers alpha, then beta; gamma and delta never win
    for name in ("alpha", "beta", "gamma", "delta"):
        m = models[name]
        assert m["chosen"] + m["rejected"] <= m["appeared_in_pairs"]
    assert models["alpha"]["win_rate"] == 1.0
    assert models["gamma"]["chosen"] == models["delta"]["chosen"] == 0
    assert sum(m["chosen"] for m in models.values()) == 4
    assert sum(m["rejected"] for m in models.values()) == 4
    margin = figures["margin"]
    assert margin["n"] == 4 and margin["min"] > 0
    bias = figures["position_bias"]
    assert set(bias) == {"helpfulness", "instruction_following", "honesty", "truthfulness"}
    # honesty: the poem prompt's N/A ratings are counted apart, never averaged in
    assert sum(bias["honesty"]["na_by_position"].values()) == 3
    # the human-readable form renders too
    run(["stats", str(tmp_path / "out" / "prefs.parquet")])
    text = capsys.readouterr().out
    assert "win rate" in text and "position bias" in text


def _row(prompt, pos, rating, model="m", status="paired", role=None):
    row = {
        "prompt_key": prompt, "model": model, "judged": True, "score": rating,
        "prompt_status": status, "role": role,
    }  # fmt: skip
    for aspect in ("helpfulness", "instruction_following", "honesty", "truthfulness"):
        row[f"{aspect}_position"] = pos if aspect == "helpfulness" else None
        row[f"{aspect}_rating"] = rating if aspect == "helpfulness" else None
        row[f"{aspect}_label"] = None
    return row


def test_position_bias_shows_a_judge_that_favours_the_first_slot():
    rows = []
    for p in range(10):
        rows += [_row(f"p{p}", 1, 5.0), _row(f"p{p}", 2, 3.0), _row(f"p{p}", 3, 2.0 + p % 2)]
    bias = side_figures(rows)["position_bias"]
    assert list(bias) == ["helpfulness"]
    assert bias["helpfulness"]["mean_by_position"] == {"1": 5.0, "2": 3.0, "3": 2.5}
    assert bias["helpfulness"]["spread"] == 2.5


def test_summary_quartiles():
    s = summary([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s["n"], s["mean"], s["median"], s["p25"], s["p75"]) == (5, 3.0, 3.0, 2.0, 4.0)
    assert summary([]) == {"n": 0}


def test_stats_refuses_a_file_that_is_not_preferences(tmp_path, capsys):
    from caravan.records import write_records

    from .test_build import run as run_cli

    write_records([{"id": "a", "text": "x"}], tmp_path / "x.parquet")
    run_cli(["stats", str(tmp_path / "x.parquet")], 1)
    assert "x.parquet: not a preference file" in capsys.readouterr().err
