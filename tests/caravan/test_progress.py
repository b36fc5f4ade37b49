"""One progress behaviour for every long step: a bar on a terminal, plain lines off it."""

import io

from caravan.progress import PlainTicker, StepProgress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_ticker_prints_one_line_per_interval_and_one_at_the_end():
    out, clock = io.StringIO(), _Clock()
    ticker = PlainTicker("scan", 1000, unit="rows", every_s=30, stream=out, clock=clock)
    for done in range(100, 1001, 100):
        clock.now += 10
        ticker.update(done)
    ticker.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "scan: 300/1,000 rows (30%) 10.0/s eta 1m10s"
    assert len(lines) == 4 and lines[-1].startswith("scan: 1,000/1,000 rows (100%)")
    assert lines[-1].endswith("done in 1m40s")


def test_step_progress_off_a_terminal_writes_plain_lines(monkeypatch):
    monkeypatch.setenv("CARAVAN_PROGRESS_EVERY", "0")
    out = io.StringIO()
    with StepProgress("dedup", 3, unit="rows", stream=out) as bar:
        for _ in range(3):
            bar.advance()
    text = out.getvalue()
    assert "\x1b" not in text  # no control codes in a log file
    assert text.splitlines()[0] == "dedup: 1/3 rows (33%)" + text.splitlines()[0][21:]
    assert "dedup: 3/3 rows (100%)" in text and "done in" in text


def test_step_progress_disabled_is_silent():
    out = io.StringIO()
    with StepProgress("dedup", 3, enabled=False, stream=out) as bar:
        bar.advance(3)
    assert out.getvalue() == ""


def test_step_progress_on_a_terminal_draws_a_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    with StepProgress("dedup", 3, stream=out) as bar:
        bar.advance(3)
    assert "dedup" in out.getvalue() and "3/3" in out.getvalue()
