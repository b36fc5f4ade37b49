"""`prefs stats --plot` on a file built against the API double, and the figures behind it."""

from __future__ import annotations

import pytest

from caravan.inspect import preferences as P
from tests.prefs.conftest import JudgeDouble, write_pool, write_prompts
from tests.prefs.test_build import PROMPTS, run

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def built(tmp_path, monkeypatch):
    from tests.fixtures.llm_env import use_fake_llm_env

    use_fake_llm_env(monkeypatch, tmp_path)
    server = JudgeDouble().start()
    try:
        pool = write_pool(tmp_path / "pool.yaml", server.base_url)
        prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
        out = tmp_path / "out" / "prefs.parquet"
        run(
            ["build", "--prompts", str(prompts), "--pool", str(pool), "--k", "3",
             "--judge", "judge-model", "--judge-base-url", f"{server.base_url}/v1",
             "--output", str(out), "--cache", str(tmp_path / "c.sqlite"), "--no-progress"]
        )  # fmt: skip
    finally:
        server.stop()
    return out


def test_stats_plot_writes_a_png_of_every_panel(built, tmp_path, capsys):
    capsys.readouterr()
    png = tmp_path / "plots" / "stats.png"
    run(["stats", str(built), "--plot", str(png)])
    captured = capsys.readouterr()
    assert f"plot: {png}" in captured.err and "win rate" in captured.out
    data = png.read_bytes()
    assert data.startswith(PNG) and 5_000 < len(data) < 400_000
    # with the side table the figure has 7 panels; without it, the 3 pair panels
    from caravan.inspect.data import read_rows

    pairs = read_rows(built)
    side = read_rows(built.with_name("prefs.responses.parquet"))
    assert sum(ax.get_visible() for ax in P.stats_figure(pairs, side).axes) >= 7
    assert sum(ax.get_visible() for ax in P.stats_figure(pairs, None).axes) == 3


def test_figures_of_a_built_file_follow_the_scripted_judge(built):
    from caravan.inspect.data import read_rows

    pairs = read_rows(built)
    side = read_rows(built.with_name("prefs.responses.parquet"))
    wins = {w["model"]: w["win_rate"] for w in P.win_rates(side)}
    assert wins["alpha"] == 1.0 and wins.get("gamma", 0) == 0
    fails = {f["aspect"]: f for f in P.parse_failures(side)}
    # one of six prompts (MALFORMED-honesty) never parses for honesty; others always do
    assert fails["honesty"]["failed"] == 1 and fails["honesty"]["prompts"] == 6
    assert fails["helpfulness"]["failed"] == 0
    dist = {(d["aspect"], d["rating"]): d["count"] for d in P.rating_distribution(side)}
    assert dist[("honesty", "N/A")] == 3  # the poem prompt
    bias = P.position_bias(side)
    assert {b["position"] for b in bias} == {1, 2, 3}
    for b in bias:
        if b["n"] > 1:
            assert b["lo"] <= b["mean"] <= b["hi"]
    html = P.pairs_html(pairs, 2)
    assert html.count("<tr>") == 3 and "[alpha]" in html


def test_position_bias_interval_separates_a_first_slot_judge():
    side = []
    for p in range(30):
        for pos, rating in ((1, 5.0), (2, 3.0 + p % 2), (3, 3.0 - p % 2)):
            side.append(
                {"prompt_key": f"p{p}", "helpfulness_position": pos, "helpfulness_rating": rating}
            )
    rows = {r["position"]: r for r in P.position_bias(side)}
    assert rows[1]["mean"] == 5.0 and rows[1]["lo"] == rows[1]["hi"] == 5.0
    assert rows[2]["hi"] < rows[1]["lo"] and rows[3]["hi"] < rows[1]["lo"]
    assert rows[2]["lo"] < 3.5 < rows[2]["hi"]


def test_length_bias_correlation():
    def pair(c, r, sc, sr):
        return {"chosen": [{"role": "assistant", "content": "x" * c}],
                "rejected": [{"role": "assistant", "content": "x" * r}],
                "score_chosen": sc, "score_rejected": sr}  # fmt: skip

    longer_wins_more = [pair(100, 10, 5, 1), pair(60, 40, 4, 3), pair(20, 30, 3, 2.5)]
    lb = P.length_bias(longer_wins_more)
    assert lb["chosen_longer"] == 2 and lb["margin_length_r"] > 0.9
    assert P.pearson([1, 1], [2, 3]) is None  # no variance: undefined, not 0


def test_stats_plot_without_matplotlib_names_the_extra(built, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    capsys.readouterr()
    run(["stats", str(built), "--plot", str(tmp_path / "s.png")], 1)
    err = capsys.readouterr().err
    assert "pip install 'caravan-posttrain[inspect]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.png").exists()
