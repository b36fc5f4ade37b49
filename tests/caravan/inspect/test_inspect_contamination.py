"""`decontam check --html`: a self-contained report with highlighted, escaped matches."""

from __future__ import annotations

import base64
import json
import re

import pytest
from caravan.decontam.cli import cli
from click.testing import CliRunner

from caravan.inspect.contamination import highlight, shared_spans

EVAL = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
    "babysitting. How much did she earn?",
    "A completely unrelated question about the colour of the sea at dawn near the pier?",
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CARAVAN_CACHE_DIR", str(tmp_path / "cache"))


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_check_html_report(tmp_path):
    ev = _write(tmp_path / "ev.jsonl", [{"question": q} for q in EVAL])
    train = _write(
        tmp_path / "train.jsonl",
        [
            {"prompt": "<script>alert(1)</script> Solve: " + EVAL[0]},
            {"prompt": "nothing to see here"},
            {"prompt": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 "
                       "minutes of babysitting & more"},
        ],
    )  # fmt: skip
    out = tmp_path / "report.html"
    res = CliRunner().invoke(
        cli,
        ["check", "--train", str(train), "--eval", f"toy={ev}:question", "--report",
         str(tmp_path / "r.json"), "--workers", "1", "--html", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"html: {out}" in res.output
    page = out.read_text()
    # self-contained: the heatmap is an inline PNG, nothing is loaded from elsewhere
    src = re.search(r"src='data:image/png;base64,([^']+)'", page).group(1)
    assert base64.b64decode(src).startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page
    # training text is escaped, never executed
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp; more" in page
    # both matches are listed, the matching words are marked, the verdict table is there
    assert page.count("toy #") == 2
    assert "<mark>Natalia sold clips" in page
    assert "2 / 3" in page and "YES" in page


def test_html_fails_fast_without_matplotlib(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    ev = _write(tmp_path / "ev.jsonl", [{"question": q} for q in EVAL])
    res = CliRunner().invoke(
        cli,
        ["check", "--train", str(ev), "--eval", f"toy={ev}:question", "--report",
         str(tmp_path / "r.json"), "--workers", "1", "--html", str(tmp_path / "x.html")],
    )  # fmt: skip
    assert res.exit_code != 0
    assert "pip install 'caravan-posttrain[inspect]'" in res.output
    assert not (tmp_path / "r.json").exists()  # failed before scanning


def test_highlight_marks_only_shared_ngrams():
    train = "intro words here. one two three four five six seven eight! tail"
    ev = "One, two three four five six seven EIGHT and more"
    spans = shared_spans(ev, train, 8)
    assert [ev[a:b] for a, b in spans] == ["One, two three four five six seven EIGHT"]
    assert highlight(train, ev, 8) == (
        "intro words here. <mark>one two three four five six seven eight</mark>! tail"
    )
    assert "<mark>" not in highlight(train, ev, 9)  # only 8 shared tokens in a row
    assert highlight("a <b> c", "zzz", 1) == "a &lt;b&gt; c"
